"""GPU bench: bert_tf's layers (Keras 3, JAX backend, XLA) vs HF PyTorch, and vs keras-hub on the
same backend, on one GPU with mixed precision. Prints a table and writes a results file.

Two groups of cases (`bench.gpu_cases`):
  nvidia  NVIDIA's published TF2 BERT cases, beside their figures -> bench/results_gpu.json
  shapes  the CPU bench's shapes (BERT-Base and MiniLM classifiers, seq 128, batch 16 and 32,
          train, then inference at 32), three systems -> bench/results_gpu_shapes.json

Parts, each a subprocess so that JAX and PyTorch never share the GPU's memory:
  1. `bench.gpu_keras`: numerics check (with `--check_dir`), matmul peak, then the cases with
     bert_tf's layers;
  2. `bench.gpu_keras_hub`: keras-hub's BertTextClassifier, timed by the same JAX step (shapes);
  3. `bench.gpu_torch`: matmul peak, then the same cases with HF transformers.
Where the cases hold several modes, all systems run one mode before the next, and the driver's
deadline cuts the last mode for every system alike; the results file is rewritten after each
worker, so a killed run keeps what finished. MFU counts the matmuls only (`bench.flops`)
against the best measured peak of the precision (bfloat16 for mixed and fp16, TF32 for tf32).

The numerics check: `--make_check DIR` (run where TensorFlow is, on the CPU) saves a small
random BertClassifier's weights (`.weights.h5`), a batch, and its TF float32 logits and
sequence output; the GPU run loads the same weights into the same layers on JAX and reports
the largest differences at float32 (highest precision), TF32 and mixed_bfloat16.

    python -m bench.gpu --make_check .gpu_check                      # here (TF, CPU)
    python -m bench.gpu --check_dir .gpu_check [--group shapes] [--output F] [--tiny]  # on the GPU
"""

import argparse
import json
import os
import sys
import time

from bench.flops import step_flops
from bench.gpu_cases import NVIDIA_HARDWARE, config_of, select, shape_of
from bench.run_all import run_json_worker, write_results

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = {"nvidia": os.path.join(BENCH_DIR, "results_gpu.json"),
                  "shapes": os.path.join(BENCH_DIR, "results_gpu_shapes.json")}
DEFAULT_SYSTEMS = {"nvidia": "keras_jax,torch", "shapes": "keras_jax,keras_hub,torch"}
OURS = "bert_tf_keras_jax"
# --systems name -> (worker module, the system its rows name), in table order.
WORKERS = {"keras_jax": ("bench.gpu_keras", OURS),
           "keras_hub": ("bench.gpu_keras_hub", "keras_hub_keras_jax"),
           "torch": ("bench.gpu_torch", "hf_torch")}
PEERS = {"hf_torch": "vs_hf_torch", "keras_hub_keras_jax": "vs_keras_hub"}
MIN_WORKER_S = 45.0   # a worker's start-up and one case; none starts with less left
WORKER_GRACE_S = 120.0  # a case started just before a worker's deadline (BERT-Large compiles 45 s)
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


def plan(cases, systems):
    """(system, cases) for each worker run, in order: each mode in turn (training first in the
    shapes group), every system within it, so a deadline cuts a mode for all systems alike.
    keras-hub runs only the classifier cases."""
    runs = []
    for mode in dict.fromkeys(c.mode for c in cases):
        for system in systems:
            mine = [c for c in cases if c.mode == mode
                    and (system != "keras_hub" or c.task == "classify")]
            if mine:
                runs.append((system, mine))
    return runs


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
        for peer, key in PEERS.items():
            if OURS in pair and peer in pair:
                pair[OURS][key] = pair[OURS]["examples_per_s"] / pair[peer]["examples_per_s"]
    return {"peak_tflops": peaks, "peak_tflops_best": best, "runs": runs, "problems": problems,
            "check": check, "nvidia_reference": NVIDIA_HARDWARE, "tiny": tiny}


def table(result):
    lines = [f"{'case':<26} {'system':<19} {'b':>3} {'seq':>4} {'seq/s':>9} {'TFLOP/s':>8} "
             f"{'MFU':>6} {'vs HF':>6} {'vs KH':>6} {'NVIDIA A100':>11}"]
    order = {c.key: i for i, c in enumerate(select())}
    systems = [name for _, name in WORKERS.values()]
    for r in sorted(result["runs"], key=lambda r: (order.get(f"{r['case']}:{r['precision']}", 99),
                                                   systems.index(r["system"]))):
        mfu = f"{r['mfu']:.0%}" if r.get("mfu") is not None else "-"
        vs = [f"{r[k]:.2f}x" if r.get(k) else "" for k in ("vs_hf_torch", "vs_keras_hub")]
        nv = f"{r['nvidia_a100_seq_per_s']:.0f}" if r.get("nvidia_a100_seq_per_s") else ""
        lines.append(f"{r['case'] + ':' + r['precision']:<26} {r['system']:<19} {r['batch']:>3} "
                     f"{r['seq']:>4} {r['examples_per_s']:>9.1f} {r['achieved_tflops']:>8.1f} "
                     f"{mfu:>6} {vs[0]:>6} {vs[1]:>6} {nv:>11}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--make_check", default=None, help="write the numerics check here (TF)")
    parser.add_argument("--check_dir", default=None, help="run the numerics check from here")
    parser.add_argument("--group", default="nvidia", choices=sorted(DEFAULT_OUTPUT))
    parser.add_argument("--cases", default=None, help="name:precision,... (bench.gpu_cases)")
    parser.add_argument("--systems", default=None,
                        help="some of keras_jax,keras_hub,torch (default: the group's)")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (a CPU smoke run)")
    parser.add_argument("--device", default="cuda", help="torch device (cpu for --tiny)")
    parser.add_argument("--deadline_s", type=float, default=480.0,
                        help="start no worker after this many seconds (its cases end 45 s "
                             "before)")
    parser.add_argument("--worker_deadline_s", type=float, default=240.0,
                        help="a worker starts no case after this many seconds")
    parser.add_argument("--note", default="", help="provenance text for the JSON")
    parser.add_argument("--output", default=None, help="default: the group's results file")
    args = parser.parse_args(argv)
    if args.make_check:
        make_check(args.make_check)
        return 0
    output = args.output or DEFAULT_OUTPUT[args.group]
    systems = [s.strip() for s in (args.systems or DEFAULT_SYSTEMS[args.group]).split(",")]
    unknown = [s for s in systems if s not in WORKERS]
    if unknown:
        raise SystemExit(f"bench.gpu: --systems {unknown}: expected some of {sorted(WORKERS)}")
    cases = select(args.cases, args.group)
    start, outputs, peaks_done = time.monotonic(), [], set()
    for system, mine in plan(cases, systems):
        module, name = WORKERS[system]
        remaining = args.deadline_s - (time.monotonic() - start)
        if remaining < MIN_WORKER_S:
            outputs += [{"skipped": c.key, "system": name, "why": "driver deadline"} for c in mine]
            continue
        deadline = min(args.worker_deadline_s, remaining - MIN_WORKER_S)
        extra = ["--group", args.group, "--cases", ",".join(c.key for c in mine),
                 "--deadline_s", f"{deadline:.0f}"] + (["--tiny"] if args.tiny else [])
        framework = "torch" if system == "torch" else "jax"
        if framework in peaks_done:
            extra.append("--no_peak")
        peaks_done.add(framework)
        if system == "keras_jax" and args.check_dir and not any("check" in o for o in outputs):
            extra += ["--check", args.check_dir]
        if system == "torch":
            extra += ["--device", args.device]
        outputs += run_worker(module, extra, deadline + WORKER_GRACE_S)
        write_results(output, assemble(outputs, args, cases))  # a later kill keeps this much
    result = assemble(outputs, args, cases)
    write_results(output, result)
    print(table(result))
    print("peak TFLOP/s:", json.dumps(result["peak_tflops"]))
    if result["check"]:
        print("numerics vs TF (CPU, float32):", json.dumps(result["check"]))
    for p in result["problems"]:
        print("problem:", json.dumps(p))
    print(f"bench.gpu: wrote {output}")
    return 0


def assemble(outputs, args, cases):
    """The results file: `collect` plus the group, FLOPs per example, date and provenance."""
    result = collect(outputs, args.tiny)
    result["group"] = args.group
    result["flops_per_example"] = {
        c.key: step_flops(config_of(c, args.tiny), shape_of(c, args.tiny)[1], 1, c.mode)
        for c in cases}
    result["date"] = time.strftime("%Y-%m-%d", time.gmtime())
    if args.note:
        result["provenance"] = args.note
    return result


if __name__ == "__main__":
    raise SystemExit(main())
