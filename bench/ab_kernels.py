"""Paired A/B of a step change, in one process: new kernels against the old op structure.

On a noisy machine, separate processes of the same code differ by tens of percent
(bench/README.md, "Earlier results: stop 17"). Here both variants are built in one process,
traced and warmed up, and then timed one step each in turn, so each round compares steps taken
moments apart.

- new: bert_tf as it ships.
- old, `--change stop18` (the default): the same model and Trainer with stop 17's op
  structure. Keras' dropout kernels (`BertDropout` falls back to `keras.layers.Dropout`, the
  same masks), Keras' input cast and a float32 output for each `BertLayerNorm` (cast ops
  around the fused kernel), and the gradient clipping as `tf.clip_by_global_norm` before the
  optimizer (the Trainer's path when the optimizer has no `apply_scaled`).
- old, `--change bias_add`: `BertDense` runs Keras' Dense (TF's BiasAdd, then the GELU as a
  pass of its own) instead of its fused half-precision bias add; only bfloat16 differs.
- old, `--change portable`: every layer traces plain TF ops (`portable_ops()`): no XLA kernel
  at all (GELU, LayerNorm, dropout, bias add).
- old, `--change precast` (with `--mode infer`): `Trainer.predict` without `precast_weights`,
  so every batch casts the half-precision Dense weights again, as Keras does. Give
  `--infer_batches` (batches per predict call, as an eval pass has them): the new variant casts
  once a call.
- old, `--change eager_casts` (with `--mode infer`): `Trainer.predict` makes those casts once a
  call as eager ops, one a weight (stop 28), not as one traced call.

The switches are made while each variant is traced, then put back; the values are the same in
both (tests check each change bit for bit), only the kernels differ. `--mode infer` times
`Trainer.predict` batches instead of training steps. The first timed round often includes a
one-off stall and is printed but left out of the median.

    python -m bench.ab_kernels --model minilm --batch 16 --dtype bfloat16 --rounds 8
    python -m bench.ab_kernels --change bias_add --mode infer --model minilm --batch 32 --dtype bfloat16
    python -m bench.ab_kernels --change precast --mode infer --infer_batches 4 --dtype bfloat16
    python -m bench.ab_kernels --change eager_casts --mode infer --model minilm --batch 32 --dtype bfloat16
"""

import contextlib
import tempfile
import time

from bench.common import worker_parser


@contextlib.contextmanager
def without_fused_bias_add():
    """While tracing: `BertDense` runs Keras' Dense."""
    from bert_tf.modeling import fused_dense

    fused_activation = fused_dense.BertDense._fused_activation
    fused_dense.BertDense._fused_activation = lambda self: "no"
    try:
        yield
    finally:
        fused_dense.BertDense._fused_activation = fused_activation


@contextlib.contextmanager
def eager_casts():
    """While the first predict call runs: `Trainer.predict` casts the weights op by op."""
    from bert_tf.modeling.precast import cast_weights
    from bert_tf.training import trainer

    traced_casts = trainer.traced_casts
    trainer.traced_casts = lambda layers: (lambda: cast_weights(layers))
    try:
        yield
    finally:
        trainer.traced_casts = traced_casts


@contextlib.contextmanager
def without_precast():
    """While the first predict call runs: `Trainer.predict` finds no layer to precast."""
    from bert_tf.training import trainer

    precast_layers = trainer.precast_layers
    trainer.precast_layers = lambda model: []
    try:
        yield
    finally:
        trainer.precast_layers = precast_layers


@contextlib.contextmanager
def old_op_structure():
    """While tracing: Keras dropout, and no `apply_scaled` (so the Trainer clips first)."""
    from bert_tf.modeling import fused_dropout
    from bert_tf.training import optimization

    fuses = fused_dropout.BertDropout._fuses
    apply_scaled = optimization._ReplicaExactApplyMixin.apply_scaled
    fused_dropout.BertDropout._fuses = lambda self, inputs: False
    del optimization._ReplicaExactApplyMixin.apply_scaled
    try:
        yield
    finally:
        fused_dropout.BertDropout._fuses = fuses
        optimization._ReplicaExactApplyMixin.apply_scaled = apply_scaled


def main(argv=None):
    import numpy as np

    from bench.bert_tf_step import build_trainer, infer_stepper, model_setup, train_stepper
    from bert_tf.modeling.fused_layer_norm import BertLayerNorm
    from bert_tf.modeling.portable import portable_ops

    parser = worker_parser(__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--change", default="stop18",
                        choices=("stop18", "bias_add", "portable", "precast", "eager_casts"))
    parser.add_argument("--infer_batches", type=int, default=1,
                        help="--mode infer: batches per Trainer.predict call")
    parser.add_argument("--optimizer", default="adamw_google")
    parser.add_argument("--pooling", default="cls", choices=("cls", "mean"))
    args = parser.parse_args(argv)
    args.xla = False
    batch = int(str(args.batch).split(",")[0])
    config, weights = model_setup(args.model)
    steppers = {}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as work:
        old = {"stop18": old_op_structure, "bias_add": without_fused_bias_add,
               "portable": portable_ops, "precast": without_precast,
               "eager_casts": eager_casts}[args.change]
        # A step: a training step, or a predict call over `n` batches.
        n = args.infer_batches if args.mode == "infer" else 1
        for name in ("new", "old"):
            with old() if name == "old" else contextlib.nullcontext():
                trainer, _ = build_trainer(args, batch, config, f"{work}/{name}", weights)
                if name == "old" and args.change == "stop18":
                    for layer in trainer.model._flatten_layers():
                        if isinstance(layer, BertLayerNorm):
                            layer.autocast, layer.half_output = True, False
                if args.mode == "infer":
                    step = infer_stepper(trainer, config, batch, args.seq)
                else:
                    step = train_stepper(trainer, config, batch, args.seq)
                step(n)  # traces and compiles
            for _ in range(max(args.warmup - 1, 0)):
                step(n)
            steppers[name] = step
        seconds = {name: [] for name in steppers}
        for _ in range(args.rounds):
            for name, step in steppers.items():
                start = time.perf_counter()
                step(n)
                seconds[name].append((time.perf_counter() - start) / n)
    label = f"{args.model} {args.mode} b{batch} s{args.seq} {args.dtype} ({args.change})"
    if n > 1:
        label += f", {n} batches a predict call"
    print(f"{label}, examples/s per round (round 1 left out of the medians):")
    for name, times in seconds.items():
        print(f"  {name}: " + " ".join(f"{batch / t:6.2f}" for t in times)
              + f" | median {batch / np.median(times[1:]):.2f}")
    ratios = np.array(seconds["old"]) / np.array(seconds["new"])
    print("  new/old: " + " ".join(f"{r:6.3f}" for r in ratios)
          + f" | median {np.median(ratios[1:]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
