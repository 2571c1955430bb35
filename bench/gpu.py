"""GPU bench: bert_tf's layers (Keras 3, JAX backend, XLA) vs HF PyTorch on one GPU, with
mixed precision, beside NVIDIA's published TF2 BERT figures. Prints a table and writes
`bench/results_gpu.json`.

Parts, each a subprocess so that JAX and PyTorch never share the GPU's memory:
  1. `bench.gpu_keras`: numerics check (with `--check_dir`), matmul peak, then the cases of
     `bench.gpu_cases` with bert_tf's layers;
  2. `bench.gpu_torch`: matmul peak, then the same cases with HF transformers.
MFU counts the matmuls only (`bench.flops`) against the best measured peak of the precision
(bfloat16 for mixed and fp16, TF32 for tf32).

The numerics check: `--make_check DIR` (run where TensorFlow is, on the CPU) saves a small
random BertClassifier's weights (`.weights.h5`), a batch, and its TF float32 logits and
sequence output; the GPU run loads the same weights into the same layers on JAX and reports
the largest differences at float32 (highest precision), TF32 and mixed_bfloat16.

    python -m bench.gpu --make_check .gpu_check                      # here (TF, CPU)
    python -m bench.gpu --check_dir .gpu_check [--output F] [--tiny]  # on the GPU machine
"""

import argparse
import json
import os
import sys

from bench.flops import step_flops
from bench.gpu_cases import NVIDIA_HARDWARE, config_of, select, shape_of
from bench.run_all import run_json_worker, write_results

DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results_gpu.json")
CHECK_CONFIG = dict(vocab_size=4096, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=1024, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=128,
                    type_vocab_size=2, initializer_range=0.02)
PEAK_OF = {"mixed": "bfloat16", "fp16": "bfloat16", "tf32": "tf32"}


def make_check(directory, batch=4, seq=64):
    """Saves config.json, model.weights.h5 and reference.npz (TF float32 on this CPU)."""
    import numpy as np

    import bert_tf  # noqa: F401  (TF backend and bert_tf's TF defaults)
    from bert_tf.modeling import BertClassifier
    from bench.gpu_cases import synthetic_inputs

    import keras

    os.makedirs(directory, exist_ok=True)
    keras.utils.set_random_seed(7)
    model = BertClassifier(CHECK_CONFIG, num_labels=2, name="bert_classifier")
    data = synthetic_inputs(CHECK_CONFIG, batch, seq, seed=3)
    data["input_mask"][1, seq // 2:] = 0  # one padded example: masking is part of the check
    features = {k: data[k] for k in ("input_word_ids", "input_mask", "input_type_ids")}
    logits = np.asarray(model(features, training=False))
    sequence = np.asarray(model.encoder(features)["sequence_output"])
    model.save_weights(os.path.join(directory, "model.weights.h5"))
    np.savez(os.path.join(directory, "reference.npz"), logits=logits, sequence_output=sequence,
             **features)
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump(CHECK_CONFIG, f)
    print(f"bench.gpu: wrote {directory} (logits {logits.shape}, sequence {sequence.shape})")


def run_worker(module, extra, timeout_s):
    """Runs one worker (`bench.run_all.run_json_worker`); its JSON lines, plus a problem entry
    if it failed or timed out."""
    command = [sys.executable, "-m", module, *extra]
    print("$", " ".join(command), flush=True)
    results, error = run_json_worker(command, dict(os.environ), int(timeout_s))
    if error:
        results.append({"failed": module, "error": error})
    return results


def collect(outputs, tiny):
    """results_gpu.json's content from the workers' JSON lines."""
    peaks, runs, problems, check = {}, [], [], None
    for item in outputs:
        if "peak_tflops" in item:
            peaks.update(item["peak_tflops"])
        elif "check" in item:
            check = item["check"]
        elif "examples_per_s" in item:
            runs.append(item)
        else:
            problems.append(item)
    best = {}
    for per_framework in peaks.values():
        for name, value in per_framework.items():
            best[name] = max(best.get(name, 0.0), value)
    for r in runs:
        peak = best.get(PEAK_OF[r["precision"]])
        r["mfu"] = r["achieved_tflops"] / peak if peak else None
        if r.get("nvidia_a100_seq_per_s"):
            r["vs_nvidia_a100"] = r["examples_per_s"] / r["nvidia_a100_seq_per_s"]
    for case in select():
        pair = {r["system"]: r for r in runs if f"{r['case']}:{r['precision']}" == case.key}
        if "bert_tf_keras_jax" in pair and "hf_torch" in pair:
            pair["bert_tf_keras_jax"]["vs_hf_torch"] = (
                pair["bert_tf_keras_jax"]["examples_per_s"] / pair["hf_torch"]["examples_per_s"])
    return {"peak_tflops": peaks, "peak_tflops_best": best, "runs": runs, "problems": problems,
            "check": check, "nvidia_reference": NVIDIA_HARDWARE, "tiny": tiny}


def table(result):
    lines = [f"{'case':<20} {'system':<18} {'b':>3} {'seq':>4} {'seq/s':>9} {'TFLOP/s':>8} "
             f"{'MFU':>6} {'vs HF':>6} {'NVIDIA A100':>11}"]
    order = {c.key: i for i, c in enumerate(select())}
    for r in sorted(result["runs"], key=lambda r: (order.get(f"{r['case']}:{r['precision']}", 99),
                                                   r["system"] != "bert_tf_keras_jax")):
        mfu = f"{r['mfu']:.0%}" if r.get("mfu") is not None else "-"
        vs = f"{r['vs_hf_torch']:.2f}x" if r.get("vs_hf_torch") else ""
        nv = f"{r['nvidia_a100_seq_per_s']:.0f}" if r.get("nvidia_a100_seq_per_s") else ""
        lines.append(f"{r['case'] + ':' + r['precision']:<20} {r['system']:<18} {r['batch']:>3} "
                     f"{r['seq']:>4} {r['examples_per_s']:>9.1f} {r['achieved_tflops']:>8.1f} "
                     f"{mfu:>6} {vs:>6} {nv:>11}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--make_check", default=None, help="write the numerics check here (TF)")
    parser.add_argument("--check_dir", default=None, help="run the numerics check from here")
    parser.add_argument("--cases", default=None, help="name:precision,... (bench.gpu_cases)")
    parser.add_argument("--systems", default="keras_jax,torch")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (a CPU smoke run)")
    parser.add_argument("--device", default="cuda", help="torch device (cpu for --tiny)")
    parser.add_argument("--keras_deadline_s", type=float, default=200.0)
    parser.add_argument("--torch_deadline_s", type=float, default=110.0)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.make_check:
        make_check(args.make_check)
        return 0
    common = (["--cases", args.cases] if args.cases else []) + (["--tiny"] if args.tiny else [])
    outputs = []
    systems = [s.strip() for s in args.systems.split(",")]
    if "keras_jax" in systems:
        extra = common + ["--deadline_s", str(args.keras_deadline_s)]
        if args.check_dir:
            extra += ["--check", args.check_dir]
        outputs += run_worker("bench.gpu_keras", extra, args.keras_deadline_s + 120)
    if "torch" in systems:
        extra = common + ["--deadline_s", str(args.torch_deadline_s), "--device", args.device]
        outputs += run_worker("bench.gpu_torch", extra, args.torch_deadline_s + 90)
    result = collect(outputs, args.tiny)
    result["flops_per_example"] = {
        c.key: step_flops(config_of(c, args.tiny), shape_of(c, args.tiny)[1], 1, c.mode)
        for c in select(args.cases)}
    write_results(args.output, result)
    print(table(result))
    print("peak TFLOP/s:", json.dumps(result["peak_tflops"]))
    if result["check"]:
        print("numerics vs TF (CPU, float32):", json.dumps(result["check"]))
    for p in result["problems"]:
        print("problem:", json.dumps(p))
    print(f"bench.gpu: wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
