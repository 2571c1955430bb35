"""results.json writing (bench.run_all), its target checks and tables (bench.summary); no
measurements."""

import json
import os

import pytest

from bench.common import DTYPES, MODELS, MODES, SYSTEMS
from bench.run_all import (STEPS, add_mfu, case_turns, estimate_case_s, fold_phase_peaks,
                           phase_peak, plan, timed_steps, write_results)
from bench.summary import check_targets, markdown_table, table

MFU_NAME = "bert_tf BERT-base float32 training >= 85% of the fp32 matmul peak"

SCHEMA_KEYS = {"system", "model", "mode", "batch", "seq", "dtype", "examples_per_s", "mfu"}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def row(system, rate, mode="train", model="bert_base", batch=16, dtype="float32", mfu=0.5):
    return {"system": system, "model": model, "mode": mode, "batch": batch, "seq": 128,
            "dtype": dtype, "examples_per_s": rate, "mfu": mfu, "settings": f"{system} settings"}


def results(rows, bucketing=None):
    return {"peak_gflops": {"float32": 100.0, "bfloat16": 90.0}, "runs": rows,
            "bucketing": bucketing, "machine": {"cores": 2}}


def test_write_results_is_atomic_and_keeps_the_schema(tmp_path):
    path = tmp_path / "bench" / "results.json"
    data = results([row("bert_tf", 1.5), row("keras_hub", 1.0)])
    write_results(str(path), data)
    loaded = json.loads(path.read_text())
    assert set(loaded["peak_gflops"]) == {"float32", "bfloat16"}
    assert all(SCHEMA_KEYS <= set(r) for r in loaded["runs"])
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left
    write_results(str(path), results([]))  # replaces the old file
    assert json.loads(path.read_text())["runs"] == []
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_targets_met_and_unmet():
    rows = [row("bert_tf", 1.4, mfu=0.85), row("keras_hub", 1.0), row("hf_torch", 1.5),
            row("bert_tf", 9.0, mode="infer"), row("hf_torch", 1.0, mode="infer")]
    targets = {t["target"]: t for t in check_targets(results(rows, {"train_speedup": 2.1}))}
    kh = targets["bert_tf train ahead of keras_hub (> 1.0x) at every shape"]
    assert kh["met"] and kh["detail"] == "bert_base b16 float32 1.40x (met at 1 of 1)"
    hf = targets["bert_tf train ahead of hf_torch (> 1.0x) at every shape"]
    assert not hf["met"] and hf["detail"] == "bert_base b16 float32 0.93x NOT MET (met at 0 of 1)"
    # Inference is judged apart from training; a peer with no inference row has no target.
    assert targets["bert_tf infer ahead of hf_torch (> 1.0x) at every shape"]["met"]
    assert "bert_tf infer ahead of keras_hub (> 1.0x) at every shape" not in targets
    assert targets[f"{MFU_NAME} (MFU)"]["met"]  # 85% exactly meets it
    assert targets["length bucketing >= 2x examples/s over fixed 128 (MRPC-like)"]["met"]


def test_peer_targets_mark_each_missed_shape():
    rows = [row("bert_tf", 2.0), row("keras_hub", 1.0), row("bert_tf", 1.0, batch=32),
            row("keras_hub", 1.0, batch=32), row("bert_tf", 3.0, model="minilm", dtype="bfloat16"),
            row("keras_hub", 4.0, model="minilm", dtype="bfloat16")]
    target = check_targets(results(rows))[0]
    assert target["target"] == "bert_tf train ahead of keras_hub (> 1.0x) at every shape"
    assert not target["met"]  # level (1.00x) is not ahead
    assert target["detail"] == ("bert_base b16 float32 2.00x, bert_base b32 float32 1.00x NOT MET, "
                                "minilm b16 bfloat16 0.75x NOT MET (met at 1 of 3)")
    text = table(results(rows, None) | {"targets": [target]})
    assert f"target UNMET {target['target']}: {target['detail']}" in text


def test_mfu_target_is_85_percent_shape_by_shape():
    data = results([row("bert_tf", 1.0, mfu=0.86), row("bert_tf", 1.0, batch=32, mfu=0.849)])
    target = next(t for t in check_targets(data) if t["target"].startswith(MFU_NAME))
    assert target == {"target": f"{MFU_NAME} (MFU)", "met": False,
                      "detail": "b16 86.0%, b32 84.9% NOT MET (met at 1 of 2)"}


def test_mfu_target_adds_tensorflows_own_peak_as_context():
    data = results([row("bert_tf", 1.0, mfu=0.72), row("bert_tf", 1.0, batch=32, mfu=0.6)])
    data["peak_gflops"]["float32"] = 280.0  # the better of TF and torch: torch here
    data["peak_details"] = {"tensorflow": {"float32": {"gflops": 200.0}},
                            "torch": {"float32": {"gflops": 280.0}}}
    data["peak_details_end"] = {"tensorflow": {"float32": {"gflops": 210.0}}}
    target = next(t for t in check_targets(data) if t["target"].startswith(MFU_NAME))
    assert not target["met"]  # judged against the machine's peak, not TF's
    assert target["detail"] == ("b16 72.0% NOT MET, b32 60.0% NOT MET (met at 0 of 2); against "
                                "TensorFlow's own best fp32 matmul in this run (210.0 of 280.0 "
                                "GFLOP/s): b16 96.0%, b32 80.0%")
    del data["peak_details"], data["peak_details_end"]
    target = next(t for t in check_targets(data) if t["target"].startswith(MFU_NAME))
    assert target["detail"] == "b16 72.0% NOT MET, b32 60.0% NOT MET (met at 0 of 2)"


def test_phase_peaks_give_each_case_the_mfu_of_its_own_turns():
    rows = [row("bert_tf", 4.0), row("keras_hub", 3.0), row("bert_tf", 4.0, batch=32),
            row("bert_tf", 50.0, model="minilm")]
    phase_peaks = [  # both chunks and both frameworks of a case count, the best wins
        {"framework": "tensorflow", "model": "bert_base", "turn": "train:16:float32 #1",
         "dtype": "float32", "gflops": 300.0},
        {"framework": "torch", "model": "bert_base", "turn": "train:16:float32 #2",
         "dtype": "float32", "gflops": 320.0},
        {"framework": "tensorflow", "model": "bert_base", "turn": "train:16:float32 #2",
         "dtype": "float32", "gflops": 310.0},
        {"framework": "tensorflow", "model": "minilm", "turn": "train:32:float32 #1",
         "dtype": "float32", "gflops": 100.0},  # another model's case: not bert_base b32's
        {"framework": "tensorflow", "model": "bert_base", "turn": "train:16:bfloat16 #1",
         "dtype": "bfloat16", "gflops": 900.0}]
    assert phase_peak(phase_peaks, "bert_base", "train", 16, "float32") == 320.0
    assert phase_peak(phase_peaks, "bert_base", "train", 32, "float32") is None
    add_mfu(rows, {"float32": 400.0}, phase_peaks)
    ours, theirs, b32, minilm = rows
    assert ours["phase_peak_gflops"] == theirs["phase_peak_gflops"] == 320.0
    assert ours["mfu_phase"] == pytest.approx(ours["mfu"] * 400.0 / 320.0)
    assert theirs["mfu_phase"] / ours["mfu_phase"] == pytest.approx(3.0 / 4.0)
    assert "mfu_phase" not in b32 and "mfu_phase" not in minilm
    # The target against the run's best peak stays; the phase one needs every BERT-base row.
    data = results(rows)
    target = next(t for t in check_targets(data) if "own turns" in t["target"])
    assert not target["met"] and target["detail"] == (f"b16 {ours['mfu_phase']:.1%} of 320.0 "
                                                      "GFLOP/s NOT MET (met at 0 of 1)")
    assert any(t["target"] == f"{MFU_NAME} (MFU)" for t in check_targets(data))
    phase_peaks.append(dict(phase_peaks[0], turn="train:32:float32 #1"))
    add_mfu(rows, {"float32": 400.0}, phase_peaks)
    target = next(t for t in check_targets(results(rows)) if "own turns" in t["target"])
    assert target["met"] == all(r["mfu_phase"] >= 0.85 for r in rows[:3:2])
    assert not any("own turns" in t["target"] for t in check_targets(results([row("bert_tf", 1.0)])))


def test_the_runs_peak_is_the_best_of_every_peak_it_measured_phase_peaks_included():
    data = results([])
    data["peak_source"] = {"float32": "torch", "bfloat16": "torch"}
    data["phase_peaks"] = [
        {"framework": "tensorflow", "model": "minilm", "turn": "infer:32:float32 #2",
         "dtype": "float32", "gflops": 120.0},
        {"framework": "torch", "model": "bert_base", "turn": "train:16:float32 #1",
         "dtype": "float32", "gflops": 110.0},
        {"framework": "torch", "model": "bert_base", "turn": "train:16:bfloat16 #1",
         "dtype": "bfloat16", "gflops": 80.0}]  # below the start's 90: no change
    fold_phase_peaks(data)
    assert data["peak_gflops"] == {"float32": 120.0, "bfloat16": 90.0}
    assert data["peak_source"] == {"float32": "tensorflow (minilm infer:32:float32 #2)",
                                   "bfloat16": "torch"}


def test_table_has_every_row_and_ratio():
    text = table(results([row("bert_tf", 2.0), row("keras_hub", 1.0), row("hf_torch", 4.0)]))
    line = next(l for l in text.splitlines() if l.startswith("bert_base"))
    assert "2.00" in line and line.split()[-2:] == ["2.00", "0.50"]
    assert "settings keras_hub: keras_hub settings" in text


def test_markdown_table_marks_skipped_cases():
    data = results([row("bert_tf", 2.0, dtype="bfloat16"), row("keras_hub", 1.0, dtype="bfloat16")])
    data["skipped"] = [{"system": "hf_torch", "model": "bert_base", "mode": "train", "batch": 16,
                        "dtype": "bfloat16", "estimated_examples_per_s": 0.01, "reason": "slow"}]
    line = markdown_table(data).splitlines()[2]
    assert line == ("| bert_base | train | 16 | bfloat16 | 2.00 (50%) | 1.00 (50%) | "
                    "skipped (~0.01 est.) | 2.00x | - |")


def test_plans():
    quick = plan(quick=True)
    assert [(s, m, c) for s, m, c, _ in quick] == [
        (s, "bert_base", [("float32", "train", 16)]) for s in SYSTEMS]
    full = plan(quick=False)
    assert len(full) == len(SYSTEMS) * len(MODELS)  # one worker per system and model
    assert all(c == [(d, m, b) for d in DTYPES for m in MODES for b in (16, 32)]
               for _, _, c, _ in full)


def test_bert_base_training_cases_get_two_timed_turns():
    # One timed step let a single slow step decide a BERT-base training ratio; inference
    # stays at one (time), MiniLM at two everywhere.
    cases = ["train:16:float32", "infer:16:float32", "train:32:bfloat16"]
    assert case_turns(cases, STEPS["bert_base"]) == [
        "train:16:float32 #1", "train:16:float32 #2", "infer:16:float32 #1",
        "train:32:bfloat16 #1", "train:32:bfloat16 #2"]
    assert case_turns(cases[:2], STEPS["minilm"]) == [
        "train:16:float32 #1", "train:16:float32 #2", "infer:16:float32 #1",
        "infer:16:float32 #2"]
    # The case-time estimate counts the training case's extra step.
    details = {"tensorflow": {"float32": {"gflops": 100.0}}}
    train, infer = (estimate_case_s("bert_tf", "bert_base", "float32", mode, 16,
                                    STEPS["bert_base"], details) for mode in ("train", "infer"))
    one_step = estimate_case_s("bert_tf", "bert_base", "float32", "train", 16,
                               dict(STEPS["bert_base"], train_steps=None), details)
    assert train == pytest.approx(one_step * 3 / 2) and infer < one_step


def test_slow_cases_are_estimated_from_the_framework_peak():
    details = {"torch": {"bfloat16": {"gflops": 1.0}}, "tensorflow": {"float32": {"gflops": 100.0}}}
    steps = {"warmup": 1, "steps": 2}
    slow = estimate_case_s("hf_torch", "bert_base", "bfloat16", "train", 16, steps, details)
    fast = estimate_case_s("bert_tf", "bert_base", "float32", "train", 16, steps, details)
    assert slow > 1000 > fast > 0
    assert estimate_case_s("keras_hub", "bert_base", "bfloat16", "train", 16, steps, details) is None


def test_estimate_uses_the_slowest_measured_shape():
    # torch bf16 on an AVX2 CPU: `linear` 20 GFLOP/s, plain matmul 0.9; the model uses both.
    details = {"torch": {"bfloat16": {"gflops": 20.0, "shapes": {"1024x1024x1024": 0.9,
                                                                 "linear 1024x1024x1024": 20.0}}}}
    steps = {"warmup": 1, "steps": 1}
    estimate = estimate_case_s("hf_torch", "bert_base", "bfloat16", "infer", 16, steps, details)
    assert estimate > 240  # skipped under the default --max_case_s


def test_bench_time_target_and_phase_times():
    data = results([row("bert_tf", 2.0)])
    data.update(kind="full", seconds=1250.0,
                phase_seconds=[{"phase": "peak (tensorflow, torch)", "seconds": 41.0},
                               {"phase": "bert_tf bert_base", "seconds": 250.0}])
    target = next(t for t in check_targets(data) if "minutes" in t["target"])
    assert target == {"target": "the full bench finishes in under 20 minutes", "met": False,
                      "detail": "20.8 min"}
    data.update(kind="quick", seconds=300.0)
    assert next(t for t in check_targets(data) if "minutes" in t["target"])["met"]
    assert "time: peak (tensorflow, torch) 41 s, bert_tf bert_base 250 s" in table(data)


def test_shipped_cpu_results_are_complete_and_consistent():
    """bench/results.json (the latest full CPU run): every system at every model, mode, batch
    and dtype of the bench's grid, timed with the current STEPS, and MFU and targets that
    `add_mfu` and `check_targets` recompute from the file's own rows and peaks."""
    with open(os.path.join(ROOT, "bench", "results.json"), encoding="utf-8") as f:
        data = json.load(f)
    assert data["kind"] == "full" and not data["errors"] and not data["skipped"]
    have = {(r["system"], r["model"], r["mode"], r["batch"], r["dtype"]) for r in data["runs"]}
    assert {(s, m, mode, b, d) for s in SYSTEMS for m in MODELS for mode in MODES
            for b in (16, 32) for d in DTYPES} <= have
    derived = ("mfu", "executed_utilisation", "mfu_phase", "phase_peak_gflops")
    rows = [{k: v for k, v in r.items() if k not in derived} for r in data["runs"]]
    for stored, again in zip(data["runs"], add_mfu(rows, data["peak_gflops"],
                                                   data.get("phase_peaks"))):
        for key in derived:
            assert stored.get(key) == pytest.approx(again.get(key)), (stored["system"], key)
    assert check_targets(data) == data["targets"]
    # Timed as `plan` times them now: every row as many timed steps as its STEPS entry says.
    for r in data["runs"]:
        expected = timed_steps(STEPS[r["model"]], r["mode"])[0]
        assert r["steps_measured"] == expected, (r["system"], r["model"], r["mode"])


def test_the_machine_record_names_the_cpu_model(tmp_path):
    from bench.common import cpu_model

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n"
                    "flags\t\t: fpu avx2\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9B14\n")
    assert cpu_model(str(info)) == "AMD EPYC 9B14"
    info.write_text("processor\t: 0\nflags\t\t: fpu\n")  # e.g. some ARM kernels name no model
    assert cpu_model(str(info)) is None
    assert cpu_model(str(tmp_path / "absent")) is None
    data = results([row("bert_tf", 1.0)])
    data["machine"]["cpu_model"] = "AMD EPYC 9B14"
    assert "(2 cores, AMD EPYC 9B14, load at start" in table(data)
