"""run_classifier.py under tf.distribute strategies, gradient accumulation and resume after a
SIGKILL, as subprocesses.

Runs that must match another run use a model without dropout (config and --classifier_dropout=0):
dropout masks differ between one device and two replicas, so with dropout on only resume
(same strategy, restored RNG) can be compared. Without dropout, runs match to float32 rounding
of the summation order; the tolerance is 1e-5 (seen: ~1e-8).
"""

import json
import subprocess
import time

import pytest
from training.conftest import README_STEPS as STEPS
from training.conftest import (N_TRAIN, SCRIPT_TIMEOUT_S, TRAIN_BATCH, comparable_args,
                               free_ports, kill_after_first_checkpoint, readme_args, run_ok,
                               run_script, scalar_series, script_env, start_script)

TOLERANCE = 1e-5


def _assert_same_training(run, reference):
    """Same eval results and the same loss and gradient norm at every step.

    The per-step gradient norm catches a wrongly scaled gradient, which Adam would hide from
    the final metrics (its update is nearly scale-free).
    """
    ours, theirs = run.eval_results(), reference.eval_results()
    assert ours["global_step"] == theirs["global_step"] == STEPS
    for key in ("eval_loss", "eval_accuracy", "eval_f1"):
        assert ours[key] == pytest.approx(theirs[key], abs=TOLERANCE), key
    for tag in ("train/loss", "train/grad_norm"):
        a = scalar_series(run.output_dir / "train", tag)
        b = scalar_series(reference.output_dir / "train", tag)
        assert sorted(a) == list(range(1, STEPS + 1))
        assert a == pytest.approx(b, abs=TOLERANCE), tag


def test_mirrored_on_two_logical_cpus_matches_one_device(one_device_run, tiny_model, mrpc_dir,
                                                         tmp_path):
    run = run_ok(comparable_args(tiny_model, mrpc_dir, tmp_path / "out",
                                 distribution_strategy="mirrored"),
                 env=script_env(BERT_TF_LOGICAL_CPUS="2"))
    # Two replicas really ran (the env var split the CPU).
    assert "MirroredStrategy with 2 replica(s)" in run.stdout, run.describe()
    _assert_same_training(run, one_device_run)


def test_mirrored_resume_after_sigkill_matches_one_device(one_device_run, tiny_model, mrpc_dir,
                                                          tmp_path):
    # Each step takes one batch per replica, so the resumed run must skip replicas x steps
    # batches of the input stream to continue where the killed one stopped.
    def args(out):
        return comparable_args(tiny_model, mrpc_dir, out, distribution_strategy="mirrored",
                               save_checkpoints_steps=2)

    env = script_env(BERT_TF_LOGICAL_CPUS="2")
    out = tmp_path / "out"
    killed_at = kill_after_first_checkpoint(args(out), env=env)
    assert 0 < killed_at < STEPS
    resumed = run_ok(args(out), env=env)
    assert f"(global step {killed_at})" in resumed.stdout, resumed.describe()
    ours, theirs = resumed.eval_results(), one_device_run.eval_results()
    assert ours["global_step"] == theirs["global_step"] == STEPS
    for key in ("eval_loss", "eval_accuracy", "eval_f1"):
        assert ours[key] == pytest.approx(theirs[key], abs=TOLERANCE), key


def test_gradient_accumulation_matches_one_batch(one_device_run, tiny_model, mrpc_dir, tmp_path):
    run = run_ok(comparable_args(tiny_model, mrpc_dir, tmp_path / "out",
                                 distribution_strategy="one_device",
                                 gradient_accumulation_steps=2))
    _assert_same_training(run, one_device_run)


def test_multi_worker_mirrored_two_local_workers(tiny_model, mrpc_dir, tmp_path):
    out = tmp_path / "out"
    args = readme_args(tiny_model, mrpc_dir, out, do_predict="true",
                       distribution_strategy="multi_worker_mirrored", learning_rate="1e-3")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    procs = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        procs.append(start_script(args, env=script_env(TF_CONFIG=json.dumps(config)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    deadline = time.time() + SCRIPT_TIMEOUT_S
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=max(1.0, deadline - time.time())))
    except subprocess.TimeoutExpired:
        pytest.fail(f"multi-worker run ran past {SCRIPT_TIMEOUT_S} s")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr[-3000:]

    def eval_lines(stdout):
        return stdout.split("***** Eval results *****", 1)[1].split("predict.tf_record")[0]

    chief_out, worker_out = outputs[0][0], outputs[1][0]
    # Every worker evaluates the whole dev set with its own copy of the weights, printed at full
    # precision: identical numbers mean identical weights (the shards they trained on differ).
    assert eval_lines(chief_out) == eval_lines(worker_out)
    assert f"global_step = {STEPS}" in eval_lines(chief_out)
    assert "wrote" in chief_out and "wrote" not in worker_out
    results = (out / "eval_results.txt").read_text()
    assert f"global_step = {STEPS}\n" in results
    assert len((out / "test_results.tsv").read_text().splitlines()) == 7
    assert (out / "final_model" / "bert_model.ckpt.index").exists()
    # The non-chief's private checkpoint folder is gone.
    assert not list(out.glob(".worker_*"))


@pytest.mark.parametrize("flags", [
    ["--distribution_strategy=tpu"],
    ["--use_tpu=true"],
    ["--use_tpu=true", "--tpu_name=grpc://127.0.0.1:{port}"],
], ids=["distribution_strategy", "use_tpu", "unreachable_address"])
def test_tpu_without_a_tpu_fails_at_once(flags, tiny_model, mrpc_dir, tmp_path):
    port = free_ports(1)[0]
    out = tmp_path / "out"
    args = readme_args(tiny_model, mrpc_dir, out) + [f.format(port=port) for f in flags]
    run = run_script(args, timeout=60)
    assert run.returncode != 0
    assert run.seconds < 30, f"took {run.seconds:.1f} s"
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: --distribution_strategy=tpu: "), run.describe()
    assert sum(line.startswith("error:") for line in lines) == 1
    assert not (out / "eval_results.txt").exists()


def test_resume_after_sigkill_matches_an_uninterrupted_run(cached_run, tiny_model, mrpc_dir,
                                                           tmp_path):
    # Dropout on: the resumed run must restore the dropout RNG, the optimizer state and the
    # input position to land on the same weights.
    def args(out):
        return readme_args(tiny_model, mrpc_dir, out, num_train_epochs="2.0",
                           learning_rate="1e-3", save_checkpoints_steps=2, deterministic="true")

    total = int(N_TRAIN / TRAIN_BATCH * 2.0)  # 11: the resumed part crosses an epoch boundary
    full = cached_run("resume_full", args)
    out = tmp_path / "out"
    killed_at = kill_after_first_checkpoint(args(out))
    assert 0 < killed_at < total
    assert not (out / "eval_results.txt").exists()
    resumed = run_ok(args(out))
    assert f"(global step {killed_at})" in resumed.stdout, resumed.describe()
    ours, theirs = resumed.eval_results(), full.eval_results()
    assert ours["global_step"] == theirs["global_step"] == total
    assert ours == pytest.approx(theirs, abs=1e-6)
