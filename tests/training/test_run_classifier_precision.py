"""run_classifier.py with --dtype=bfloat16 and --dtype=float16 (Keras mixed precision; float16
with dynamic loss scaling), end to end on the CPU, against the same run in float32.

Seen on the tiny model (16 steps, no dropout): per-step losses within 3e-3 of float32 in
bfloat16 and 5e-4 in float16; float32 runs repeat to ~1e-8.
"""

import math

import pytest
from training.conftest import README_STEPS as STEPS
from training.conftest import comparable_args, run_ok, scalar_series

from bert_tf.training.runtime import cpu_has_bfloat16

TOLERANCE = {"bfloat16": 1e-2, "float16": 2e-3}
WARNING = "warning: --dtype=bfloat16: this CPU has no bfloat16 instructions"


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_mixed_precision_trains_like_float32(dtype, one_device_run, tiny_model, mrpc_dir,
                                             tmp_path):
    import tensorflow as tf

    run = run_ok(comparable_args(tiny_model, mrpc_dir, tmp_path / "out",
                                 distribution_strategy="one_device", dtype=dtype))
    ours, ref = run.eval_results(), one_device_run.eval_results()
    assert ours["global_step"] == ref["global_step"] == STEPS
    assert ours["eval_loss"] == pytest.approx(ref["eval_loss"], abs=TOLERANCE[dtype])

    losses = scalar_series(run.output_dir / "train", "train/loss")
    ref_losses = scalar_series(one_device_run.output_dir / "train", "train/loss")
    assert sorted(losses) == sorted(ref_losses) == list(range(1, STEPS + 1))
    diffs = [abs(losses[s] - ref_losses[s]) for s in losses]
    assert all(math.isfinite(losses[s]) for s in losses)
    assert max(diffs) < TOLERANCE[dtype], diffs
    # The lower precision really ran: float32 runs repeat to ~1e-8.
    assert max(diffs) > 1e-5, diffs

    # Mixed precision keeps float32 weights: final_model is a float32 Google checkpoint.
    final = tf.train.load_checkpoint(str(run.output_dir / "final_model" / "bert_model.ckpt"))
    assert set(final.get_variable_to_dtype_map().values()) == {tf.float32}
    # float16 trains through a dynamic loss scale (Keras' LossScaleOptimizer), which the
    # training checkpoint keeps for a resumed run.
    state = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run.output_dir)))
    scale = "optimizer/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"
    assert state.has_tensor(scale) == (dtype == "float16")
    if dtype == "float16":
        assert state.get_tensor(scale) >= 1.0

    # CPUs without bfloat16 instructions emulate it: the run says so, once.
    expect_warning = dtype == "bfloat16" and cpu_has_bfloat16() is False
    assert run.stderr.count(WARNING) == int(expect_warning), run.describe()
