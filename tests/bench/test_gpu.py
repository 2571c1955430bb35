"""The GPU bench's parts on the CPU: both workers at tiny shapes, the TF -> Keras-on-JAX numerics
check, and the table/JSON assembly (the GPU figures themselves come from `make`-less device runs,
bench/results_gpu.json)."""

import json
import os
import subprocess
import sys

import pytest

from bench import gpu, gpu_torch
from bench.common import RESULT_PREFIX
from bench.gpu_cases import CASES, select

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def json_lines(text):
    return [json.loads(l[len(RESULT_PREFIX):]) for l in text.splitlines()
            if l.startswith(RESULT_PREFIX)]


def test_select_keeps_run_order_and_rejects_unknown_cases():
    assert [c.key for c in select("base_infer:fp16,squad_large:mixed")] == [
        "squad_large:mixed", "base_infer:fp16"]
    assert len(select()) == len(CASES)
    with pytest.raises(SystemExit, match="squad_large:fp32"):
        select("squad_large:fp32")


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
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.gpu_keras", "--tiny", "--no_peak", "--check", check_dir,
         "--cases", "cls_base:mixed,base_infer:fp16"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    items = json_lines(proc.stdout)
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


def test_shipped_gpu_results_are_complete():
    """bench/results_gpu.json (from the device runs) has both systems at every case."""
    with open(os.path.join(ROOT, "bench", "results_gpu.json"), encoding="utf-8") as f:
        result = json.load(f)
    have = {(r["system"], f"{r['case']}:{r['precision']}") for r in result["runs"]}
    for case in CASES:
        assert {("bert_tf_keras_jax", case.key), ("hf_torch", case.key)} <= have
    assert result["check"]["float32_highest"]["logits_max_abs_diff"] < 1e-5
