"""Tiny smoke runs of the measurement workers: a tiny config, a few steps, the JSON row."""

import io
import json

import pytest

from bench.common import RESULT_PREFIX, TURN_LINE

SCHEMA_KEYS = {"system", "model", "mode", "batch", "seq", "dtype", "examples_per_s", "mfu"}

pytestmark = pytest.mark.usefixtures("keep_dtype_policy")  # tests/bench/conftest.py


def rows_of(capsys, cases=0):
    lines = capsys.readouterr().out.splitlines()
    if cases:  # a turn before each case and before its second timed chunk, then the result
        marks = ["turn" if l == TURN_LINE else "row" for l in lines
                 if l == TURN_LINE or l.startswith(RESULT_PREFIX)]
        assert marks == ["turn", "turn", "row"] * cases
    return [json.loads(l[len(RESULT_PREFIX):]) for l in lines if l.startswith(RESULT_PREFIX)]


def smoke(module, tiny_json, capsys, cases=("train:4", "infer:4"), turns=None):
    """Runs a worker on the tiny config; with `turns` (a monkeypatch), as bench.run_all runs
    it: `--turns`, one line on stdin per turn (two per case: 2 timed chunks)."""
    argv = ["--model", tiny_json, "--cases", ",".join(cases), "--seq", "16", "--warmup", "1",
            "--steps", "2", "--repeats", "2", "--peak_gflops", "float32=100,bfloat16=50", "--json"]
    if turns:
        turns.setattr("sys.stdin", io.StringIO("go\n" * 2 * len(cases)))
        argv.append("--turns")
    module.main(argv)
    rows = rows_of(capsys, len(cases) if turns else 0)
    assert [f"{r['mode']}:{r['batch']}" + (":bfloat16" if r["dtype"] == "bfloat16" else "")
            for r in rows] == list(cases)
    for r in rows:
        assert SCHEMA_KEYS <= set(r)
        assert r["examples_per_s"] > 0 and r["mfu"] > 0
        assert r["seq"] == 16 and r["steps_measured"] == 2
    return rows


def test_bert_tf_worker_times_the_trainer_loop(tiny_json, capsys, monkeypatch):
    from bench import bert_tf_step

    # Two training batch sizes on one dtype's Trainer, as in the full bench, taking turns.
    rows = smoke(bert_tf_step, tiny_json, capsys,
                 cases=("train:4", "train:8", "infer:4", "train:4:bfloat16"), turns=monkeypatch)
    assert rows[0]["system"] == "bert_tf" and "Trainer loop" in rows[0]["settings"]
    assert "mixed_bfloat16" in rows[3]["settings"] and "mixed" not in rows[0]["settings"]


def test_bert_tf_inference_step_makes_its_batch_once(tiny_json, monkeypatch):
    # The peers time a model call on inputs made beforehand: bert_tf's timed predict call must
    # not make its synthetic batch again either, and still predicts n batches a call.
    from bench import bert_tf_step

    made, predicted = [], []
    real = bert_tf_step.synthetic_batch
    monkeypatch.setattr(bert_tf_step, "synthetic_batch",
                        lambda *args: made.append(args) or real(*args))

    class CountingTrainer:
        def predict(self, dataset, enable_xla=False):
            predicted.append(sum(1 for _ in dataset))

    config, _ = bert_tf_step.model_setup(tiny_json)
    step = bert_tf_step.infer_stepper(CountingTrainer(), config, 4, 16)
    step(1)
    step(3)
    step(1)
    assert predicted == [1, 3, 1]
    assert len(made) == 1


def test_train_steps_sets_the_timed_training_turns(tiny_json, capsys, monkeypatch):
    # bench.run_all's BERT-base setting: --steps 1 --repeats 1, --train_steps 2. Each training
    # case then times 2 steps, one turn each; inference one step in the case's single turn.
    from bench import bert_tf_step

    monkeypatch.setattr("sys.stdin", io.StringIO("go\n" * 3))
    bert_tf_step.main(["--model", tiny_json, "--cases", "train:4,infer:4", "--seq", "16",
                       "--warmup", "1", "--steps", "1", "--repeats", "1", "--train_steps", "2",
                       "--peak_gflops", "float32=100", "--json", "--turns"])
    lines = capsys.readouterr().out.splitlines()
    marks = ["turn" if l == TURN_LINE else "row" for l in lines
             if l == TURN_LINE or l.startswith(RESULT_PREFIX)]
    assert marks == ["turn", "turn", "row", "turn", "row"]
    rows = [json.loads(l[len(RESULT_PREFIX):]) for l in lines if l.startswith(RESULT_PREFIX)]
    assert [(r["mode"], r["steps_measured"], r["chunks"]) for r in rows] == [
        ("train", 2, 2), ("infer", 1, 1)]


def test_hf_torch_worker(tiny_json, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from bench import peers_hf_torch

    assert smoke(peers_hf_torch, tiny_json, capsys)[0]["system"] == "hf_torch"


def test_keras_hub_worker(tiny_json, capsys, monkeypatch):
    pytest.importorskip("keras_hub")
    from bench import peers_keras_hub

    rows = smoke(peers_keras_hub, tiny_json, capsys, cases=("train:4",), turns=monkeypatch)
    assert rows[0]["system"] == "keras_hub"


def test_a_worker_waiting_for_a_turn_stops_when_stdin_closes(monkeypatch, capsys):
    import argparse

    from bench.common import await_turn

    await_turn(argparse.Namespace(turns=False))  # without --turns: no wait, nothing printed
    assert capsys.readouterr().out == ""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit, match="stdin closed"):
        await_turn(argparse.Namespace(turns=True))
    assert capsys.readouterr().out == TURN_LINE + "\n"


def test_worker_cases_grouped_by_dtype():
    import argparse

    from bench.common import cases

    args = argparse.Namespace(dtype="float32,bfloat16", mode="train", batch="16,32", cases=None)
    assert cases(args) == [("float32", "train", 16), ("float32", "train", 32),
                           ("bfloat16", "train", 16), ("bfloat16", "train", 32)]
    args.cases = "infer:32:bfloat16,train:16:float32,train:16"
    assert cases(args) == [("float32", "train", 16), ("float32", "train", 16),
                           ("bfloat16", "infer", 32), ("bfloat16", "train", 16)]


def test_bucketing_times_fixed_and_bucketed_in_turn(tiny_json, capsys):
    from bench import bucketing

    bucketing.main(["--model", tiny_json, "--batch", "4", "--seq", "64", "--examples", "32",
                    "--warmup", "2", "--steps", "3", "--infer_passes", "2", "--json"])
    result = rows_of(capsys)[-1]
    assert result["train_bucketed_steps"] == 3 and result["infer_bucketed_passes"] == 2
    for mode in ("train", "infer"):
        fixed, bucketed = (result[f"{mode}_{k}_examples_per_s"] for k in ("fixed", "bucketed"))
        assert fixed > 0 and bucketed > 0
        assert result[f"{mode}_speedup"] == bucketed / fixed
    assert 40 <= result["mean_tokens"] <= 60
