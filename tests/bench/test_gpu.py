"""The GPU bench's parts on the CPU: both workers at tiny shapes, the TF -> Keras-on-JAX numerics
check, and the table/JSON assembly (the GPU figures themselves come from `make`-less device runs,
bench/results_gpu.json)."""

import json
import os
import subprocess
import sys

import pytest

from bench import gpu, gpu_torch
from bench.common import RESULT_PREFIX, model_config
from bench.gpu_cases import CASES, MINILM, NVIDIA_CASES, SHAPE_CASES, select

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def json_lines(text):
    return [json.loads(l[len(RESULT_PREFIX):]) for l in text.splitlines()
            if l.startswith(RESULT_PREFIX)]


def run_jax_worker(module, *args):
    """A Keras-on-JAX bench module in a subprocess on the CPU; its JSON lines."""
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json_lines(proc.stdout)


def test_select_keeps_run_order_and_rejects_unknown_cases():
    assert [c.key for c in select("base_infer:fp16,squad_large:mixed")] == [
        "squad_large:mixed", "base_infer:fp16"]
    assert len(select()) == len(CASES)
    with pytest.raises(SystemExit, match="squad_large:fp32"):
        select("squad_large:fp32")


def test_the_shapes_group_is_the_cpu_bench_shapes_training_first():
    cases = select(group="shapes")
    assert cases == list(SHAPE_CASES) and len(cases) == 12
    assert [c.mode for c in cases] == ["train"] * 8 + ["infer"] * 4
    assert {(c.model, c.batch, c.precision) for c in cases if c.mode == "train"} == {
        (m, b, p) for m in ("bert_base", "minilm") for b in (16, 32) for p in ("mixed", "tf32")}
    assert all(c.task == "classify" and c.seq == 128 for c in cases)
    assert len({c.key for c in CASES}) == len(CASES)  # keys name one case across groups
    assert select(group="nvidia") == list(NVIDIA_CASES)
    assert [c.key for c in select("minilm_infer_b32:tf32,cls_base:tf32,bert_base_train_b16:mixed",
                                  "nvidia")] == [  # keys pick from every group, in run order
        "cls_base:tf32", "bert_base_train_b16:mixed", "minilm_infer_b32:tf32"]
    with pytest.raises(SystemExit, match="minilm_train_b16:fp16"):
        select("minilm_train_b16:fp16", "shapes")


def test_minilm_shapes_are_the_packaged_models():
    packaged = model_config("minilm")
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings", "type_vocab_size"):
        assert MINILM[key] == packaged[key], key


def test_plan_runs_each_mode_for_every_system_and_keras_hub_only_classifies():
    plan = gpu.plan(select(group="shapes"), ["keras_jax", "keras_hub", "torch"])
    assert [(system, {c.mode for c in cases}, len(cases)) for system, cases in plan] == [
        ("keras_jax", {"train"}, 8), ("keras_hub", {"train"}, 8), ("torch", {"train"}, 8),
        ("keras_jax", {"infer"}, 4), ("keras_hub", {"infer"}, 4), ("torch", {"infer"}, 4)]
    nvidia = gpu.plan(select(group="nvidia"), ["keras_jax", "keras_hub"])
    assert [(s, [c.key for c in cases]) for s, cases in nvidia if s == "keras_hub"] == [
        ("keras_hub", ["cls_base:mixed", "cls_base:tf32"])]


def test_driver_runs_modes_in_turn_measures_each_peak_once_and_honours_its_deadline(
        tmp_path, capsys):
    output = tmp_path / "shapes.json"
    gpu.main(["--group", "shapes", "--systems", "torch", "--tiny", "--device", "cpu",
              "--cases", "minilm_infer_b32:mixed,minilm_train_b16:tf32",
              "--output", str(output)])
    out = capsys.readouterr().out
    commands = [l for l in out.splitlines() if l.startswith("$ ")]
    assert len(commands) == 2 and "--no_peak" not in commands[0] and "--no_peak" in commands[1]
    assert "minilm_train_b16:tf32" in commands[0] and "minilm_infer_b32:mixed" in commands[1]
    result = json.loads(output.read_text())
    assert result["group"] == "shapes" and result["problems"] == []
    assert [(r["case"], r["mode"]) for r in result["runs"]] == [
        ("minilm_train_b16", "train"), ("minilm_infer_b32", "infer")]
    assert set(result["flops_per_example"]) == {"minilm_train_b16:tf32", "minilm_infer_b32:mixed"}

    late = tmp_path / "late.json"
    gpu.main(["--group", "shapes", "--systems", "torch", "--tiny", "--device", "cpu",
              "--deadline_s", "10", "--cases", "minilm_train_b16:tf32", "--output", str(late)])
    result = json.loads(late.read_text())
    assert result["runs"] == []
    assert result["problems"] == [{"skipped": "minilm_train_b16:tf32", "system": "hf_torch",
                                   "why": "driver deadline"}]


def test_torch_worker_trains_and_infers_every_task_at_tiny_shapes(capsys):
    gpu_torch.main(["--tiny", "--device", "cpu", "--no_peak", "--cases",
                    "squad_large:mixed,base_infer:fp16,cls_base:tf32"])
    rows = json_lines(capsys.readouterr().out)
    assert [(r["case"], r["task"], r["mode"], r["precision"]) for r in rows] == [
        ("squad_large", "squad", "train", "mixed"), ("base_infer", "encoder", "infer", "fp16"),
        ("cls_base", "classify", "train", "tf32")]
    for r in rows:
        assert (r["batch"], r["seq"]) == (2, 16)
        assert r["examples_per_s"] > 0 and r["achieved_tflops"] > 0
        assert "sdpa attention" in r["settings"]


def test_keras_jax_worker_loads_tf_weights_and_matches_tf(tmp_path):
    """The same bert_tf layers on Keras' JAX backend give TF's float32 outputs for the same
    weights, and the JAX training and inference steps run."""
    pytest.importorskip("jax")
    check_dir = str(tmp_path / "check")
    gpu.make_check(check_dir)
    items = run_jax_worker("bench.gpu_keras", "--tiny", "--no_peak", "--check", check_dir,
                           "--cases", "cls_base:mixed,base_infer:fp16")
    check = items[0]["check"]
    # float32 at full matmul precision: the same math on two backends.
    assert check["float32_highest"]["logits_max_abs_diff"] < 1e-5
    assert check["float32_highest"]["sequence_max_abs_diff"] < 1e-4
    # bfloat16 compute is close, not equal (8 mantissa bits); a wrong weight would be far off.
    assert check["mixed_bfloat16"]["logits_max_abs_diff"] < 0.05
    runs = [i for i in items if "examples_per_s" in i]
    assert [(r["case"], r["precision"]) for r in runs] == [("base_infer", "fp16"),  # run order
                                                           ("cls_base", "mixed")]
    assert all(r["system"] == "bert_tf_keras_jax" and r["examples_per_s"] > 0 for r in runs)
    assert "policy mixed_float16" in runs[0]["settings"]
    assert "policy mixed_bfloat16" in runs[1]["settings"]


def test_keras_hub_worker_runs_keras_hubs_classifier_in_the_same_jax_step():
    pytest.importorskip("jax")
    pytest.importorskip("keras_hub")
    items = run_jax_worker("bench.gpu_keras_hub", "--tiny", "--no_peak", "--cases",
                           "minilm_train_b16:mixed,minilm_infer_b32:tf32,base_infer:fp16")
    # keras-hub has no span head or bare encoder case: such a case fails alone.
    assert items[0]["failed"] == "base_infer:fp16" and "only classifies" in items[0]["error"]
    rows = items[1:]
    assert [(r["system"], r["case"], r["mode"], r["precision"]) for r in rows] == [
        ("keras_hub_keras_jax", "minilm_train_b16", "train", "mixed"),
        ("keras_hub_keras_jax", "minilm_infer_b32", "infer", "tf32")]
    for r in rows:
        assert r["examples_per_s"] > 0 and "BertTextClassifier" in r["settings"]
    assert "policy mixed_bfloat16" in rows[0]["settings"]
    assert "AdamW + global clipnorm 1.0" in rows[0]["settings"]


def test_driver_runs_a_worker_and_writes_the_results(tmp_path, capsys):
    output = tmp_path / "results_gpu.json"
    gpu.main(["--systems", "torch", "--tiny", "--device", "cpu", "--cases", "base_infer:fp16",
              "--output", str(output)])
    result = json.loads(output.read_text())
    assert [(r["system"], r["case"]) for r in result["runs"]] == [("hf_torch", "base_infer")]
    assert result["problems"] == [] and result["tiny"] is True
    assert set(result["peak_tflops"]) == {"torch"}
    assert "base_infer:fp16" in capsys.readouterr().out


def test_collect_computes_mfu_and_ratios_and_the_table_shows_nvidia():
    def run(system, case, precision, per_s, tflops, nvidia=None):
        return {"system": system, "case": case, "precision": precision, "batch": 8, "seq": 128,
                "examples_per_s": per_s, "achieved_tflops": tflops,
                "nvidia_a100_seq_per_s": nvidia}

    items = [{"peak_tflops": {"jax": {"bfloat16": 600.0, "tf32": 300.0}}},
             {"peak_tflops": {"torch": {"bfloat16": 800.0, "tf32": 250.0}}},
             run("bert_tf_keras_jax", "base_infer", "fp16", 3000.0, 80.0, 1786.0),
             run("hf_torch", "base_infer", "fp16", 1000.0, 40.0, 1786.0),
             run("hf_torch", "cls_base", "tf32", 500.0, 30.0),
             {"skipped": "cls_base:tf32", "system": "bert_tf_keras_jax", "why": "deadline"}]
    result = gpu.collect(items, tiny=False)
    assert result["peak_tflops_best"] == {"bfloat16": 800.0, "tf32": 300.0}
    ours = result["runs"][0]
    assert ours["mfu"] == pytest.approx(0.1) and ours["vs_hf_torch"] == pytest.approx(3.0)
    assert ours["vs_nvidia_a100"] == pytest.approx(3000 / 1786)
    assert result["runs"][2]["mfu"] == pytest.approx(0.1) and "vs_hf_torch" not in result["runs"][2]
    assert result["problems"] == [items[-1]]
    lines = gpu.table(result).splitlines()
    assert "NVIDIA A100" in lines[0]
    assert lines[1].split()[:2] == ["base_infer:fp16", "bert_tf_keras_jax"]
    assert "3.00x" in lines[1] and lines[1].split()[-1] == "1786"


def test_collect_compares_with_keras_hub_and_the_table_lists_ours_first():
    def run(system, per_s):
        return {"system": system, "case": "bert_base_train_b16", "precision": "mixed",
                "batch": 16, "seq": 128, "examples_per_s": per_s, "achieved_tflops": 60.0,
                "nvidia_a100_seq_per_s": None}

    items = [{"peak_tflops": {"jax": {"bfloat16": 600.0, "tf32": 300.0}}},
             run("hf_torch", 500.0), run("keras_hub_keras_jax", 2000.0),
             run("bert_tf_keras_jax", 2500.0)]
    result = gpu.collect(items, tiny=False)
    ours = result["runs"][-1]
    assert ours["vs_hf_torch"] == pytest.approx(5.0)
    assert ours["vs_keras_hub"] == pytest.approx(1.25)
    assert "vs_keras_hub" not in result["runs"][0] and "vs_hf_torch" not in result["runs"][1]
    lines = gpu.table(result).splitlines()
    assert "vs KH" in lines[0]
    assert [l.split()[1] for l in lines[1:]] == [
        "bert_tf_keras_jax", "keras_hub_keras_jax", "hf_torch"]
    assert lines[1].split()[-2:] == ["5.00x", "1.25x"]


def shipped_results(name):
    """A results file from the device runs, and its (system, case key) pairs."""
    with open(os.path.join(ROOT, "bench", name), encoding="utf-8") as f:
        result = json.load(f)
    return result, {(r["system"], f"{r['case']}:{r['precision']}") for r in result["runs"]}


def assert_ratios_recompute(result):
    """The stored MFU and ratios are what `gpu.collect` computes from the rows and peaks."""
    derived = ("mfu", "vs_hf_torch", "vs_keras_hub", "vs_nvidia_a100")
    rows = [{k: v for k, v in r.items() if k not in derived} for r in result["runs"]]
    again = gpu.collect([{"peak_tflops": result["peak_tflops"]}] + rows, tiny=False)
    for stored, recomputed in zip(result["runs"], again["runs"]):
        for key in derived:
            assert stored.get(key) == pytest.approx(recomputed.get(key)), (stored["case"], key)


def test_shipped_gpu_results_are_complete_and_consistent():
    """bench/results_gpu.json (NVIDIA's cases on an H200, code d63e929) has both systems at
    every case, ratios and MFU that `gpu.collect` recomputes, and rows measured after the
    embeddings stopped casting whole tables under mixed precision (9fb9f95)."""
    result, have = shipped_results("results_gpu.json")
    for case in NVIDIA_CASES:
        assert {("bert_tf_keras_jax", case.key), ("hf_torch", case.key)} <= have
    assert_ratios_recompute(result)
    assert result["date"] >= "2026-11-27"
    assert result["check"]["float32_highest"]["logits_max_abs_diff"] < 1e-5


def test_shipped_gpu_shapes_results_are_complete_and_consistent():
    """bench/results_gpu_shapes.json (the CPU bench's shapes on an H200, code e4d0294): bert_tf
    and keras-hub at every
    case it holds, every mixed training and inference shape there, and ratios and MFU that
    `gpu.collect` recomputes from the rows and peaks as stored."""
    result, have = shipped_results("results_gpu_shapes.json")
    keys = {key for _, key in have}
    assert {c.key for c in SHAPE_CASES if c.precision == "mixed"} <= keys
    for key in keys:
        assert {("bert_tf_keras_jax", key), ("keras_hub_keras_jax", key)} <= have
    assert_ratios_recompute(result)
    assert result["check"]["float32_highest"]["logits_max_abs_diff"] < 1e-5
