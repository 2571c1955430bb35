"""What the GPU bench (`bench.gpu`) measures: its cases, models, batches and NVIDIA's figures.

The cases are NVIDIA's published TF2 BERT figures (../shared/REFERENCE.md, section 7; per GPU,
A100 80GB) plus this bench's CPU training shape:

    squad_large  BERT-Large + span head, train, seq 384, batch 32: NVIDIA 134 seq/s mixed, 44 TF32
    base_infer   BERT-Base encoder, inference, seq 128, batch 8: NVIDIA 1786 seq/s fp16
    cls_base     BERT-Base classifier, train, seq 128, batch 32 (the CPU bench's model)

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
MODELS = {"bert_base": BERT_BASE, "bert_large": BERT_LARGE}
# A few-kilobyte model for smoke runs of the workers on a CPU (`--tiny`).
TINY = dict(BERT_BASE, vocab_size=128, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
NVIDIA_HARDWARE = "A100 80GB, NVIDIA DeepLearningExamples TF2"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str        # squad_large | base_infer | cls_base
    model: str       # key of MODELS
    task: str        # squad (span head) | encoder (sequence_output) | classify (2 labels)
    mode: str        # train | infer
    batch: int
    seq: int
    precision: str   # mixed | fp16 | tf32
    nvidia: Optional[float] = None  # NVIDIA's published seq/s for the same model, task, precision

    @property
    def key(self):
        return f"{self.name}:{self.precision}"


# Run order: NVIDIA's comparisons first (a deadline may cut the tail).
CASES = (
    Case("squad_large", "bert_large", "squad", "train", 32, 384, "mixed", 134.0),
    Case("base_infer", "bert_base", "encoder", "infer", 8, 128, "fp16", 1786.0),
    Case("squad_large", "bert_large", "squad", "train", 32, 384, "tf32", 44.0),
    Case("cls_base", "bert_base", "classify", "train", 32, 128, "mixed"),
    Case("cls_base", "bert_base", "classify", "train", 32, 128, "tf32"),
    Case("base_infer", "bert_base", "encoder", "infer", 8, 128, "mixed"),
)


def select(keys=None):
    """The cases named in `keys` ("name:precision", comma-separated), or all, in run order."""
    if not keys:
        return list(CASES)
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    known = {c.key: c for c in CASES}
    unknown = [k for k in wanted if k not in known]
    if unknown:
        raise SystemExit(f"bench.gpu: --cases {unknown}: expected some of {sorted(known)}")
    return [c for c in CASES if c.key in wanted]


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


def time_steps(step, batch):
    """`bench.common.measure` with GPU-sized chunks: two warm-up steps (the first compiles),
    then three chunks of about 4/3 s each; the best counts."""
    return measure(step, batch, warmup=2, steps=10 ** 6, repeats=3, budget_s=4.0)


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


def run_cases(system, keys, run_case, deadline):
    """Runs `run_case(case)` for each selected case, printing a line and a JSON row each; a case
    past `deadline` is listed as skipped, one that raises as failed, and the rest still run."""
    import time

    from bench.common import emit_json

    for case in select(keys):
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
