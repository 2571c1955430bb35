"""Where the time of a training step (or `--mode infer` batch) goes: op types ranked.

Builds the step exactly as `bench.bert_tf_step` does (the Trainer's loop), or with
`--system keras_hub` as `bench.peers_keras_hub` does (`train_on_batch` / `predict_on_batch`,
with its `TF_ENABLE_ONEDNN_OPTS=1`), runs the warm-up steps, then records `--steps` steps with
`tf.profiler` and sums the op events of the trace (XSpace, host plane) by op type. Matmul-like
ops (MatMul, BatchMatMul, Einsum, their oneDNN forms) are totalled apart from the rest, which is
the time the matmul peak does not explain. Times are summed over the intra-op threads, so they
add up to about cores x wall time; the matmul line also gives them as a share of that (cores x
wall), the figure to compare between systems that run the same matmul kernels. XLA-compiled
kernels (bert_tf's fused ones) are not op events and are not counted.

    python -m bench.tools.profile_step [--system bert_tf] [--model bert_base] [--batch 16] [--steps 2]
"""

import collections
import glob
import os
import re
import tempfile
import time

from bench.common import cores, model_config, worker_parser

MATMUL = re.compile(r"MatMul|Einsum|Conv", re.I)


def short_name(op_name):
    """A per-layer, loop-free op name: numbers out, Trainer/model prefixes shortened."""
    name = re.sub(r"_[0-9]+", "_N", op_name)
    for long, short in (("while/body/_N/", ""), ("gradient_tape/while/", "grad/"), ("while/", ""),
                        ("bert_classifier_N/bert_encoder_N/", ""),
                        ("transformer_layer_N_N/", "layer/"), ("/Tensordot/MatMul", "")):
        name = name.replace(long, short)
    return name


def op_times(logdir, by_name=False):
    """{op_type: (total_us, count)} from the .xplane.pb files under `logdir` (keyed by the op's
    name with the numbers taken out instead, with `by_name`)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals = collections.defaultdict(lambda: [0.0, 0])
    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            if not plane.name.startswith("/host:CPU"):
                continue
            names = {k: v.name for k, v in plane.event_metadata.items()}
            for line in plane.lines:
                for event in line.events:
                    name = names.get(event.metadata_id, "")
                    # Op kernels are traced as "op_name:OpType" (no spaces, no '::').
                    if ":" not in name or "::" in name or " " in name:
                        continue
                    op_name, op_type = name.rsplit(":", 1)
                    if not op_type or op_type[0].islower():
                        continue
                    key = f"{short_name(op_name)} ({op_type})" if by_name else op_type
                    totals[key][0] += event.duration_ps / 1e6
                    totals[key][1] += 1
    return totals


def keras_hub_stepper(args, batch):
    """step(n) of bench.peers_keras_hub: n `train_on_batch` (or `predict_on_batch`) calls."""
    from bench.peers_keras_hub import build_classifier, stepper

    config = model_config(args.model)
    model, _ = build_classifier(args, config)
    return stepper(model, config, args.mode, batch, args.seq)


def bert_tf_stepper(args, batch, work):
    """step(n) of bench.bert_tf_step: n steps of the Trainer's loop, or n predict batches."""
    from bench.bert_tf_step import build_trainer, infer_stepper, model_setup, train_stepper

    config, weights = model_setup(args.model)
    trainer, _ = build_trainer(args, batch, config, work, weights)
    if args.mode == "infer":
        return infer_stepper(trainer, config, batch, args.seq, args.xla)
    return train_stepper(trainer, config, batch, args.seq)


def main(argv=None):
    parser = worker_parser(__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--by_name", action="store_true", help="rank op names, not op types")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--optimizer", default="adamw_google")
    parser.add_argument("--pooling", default="cls", choices=("cls", "mean"))
    parser.add_argument("--system", default="bert_tf", choices=("bert_tf", "keras_hub"))
    parser.add_argument("--jit_compile", action="store_true", help="keras_hub: force XLA")
    parser.set_defaults(steps=2, warmup=2)
    args = parser.parse_args(argv)
    from bench.run_all import SYSTEM_TF_ENV

    for key, value in SYSTEM_TF_ENV[args.system].items():  # TF's settings as bench.run_all's
        os.environ.setdefault(key, value)                   # worker for this system gets them
    import tensorflow as tf

    batch = int(str(args.batch).split(",")[0])
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as work:
        if args.system == "keras_hub":
            step = keras_hub_stepper(args, batch)
        else:
            step = bert_tf_stepper(args, batch, work)
        for _ in range(args.warmup):
            step(1)
        logdir = os.path.join(work, "trace")
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        step(args.steps)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        totals = op_times(logdir, args.by_name)
    busy = sum(t for t, _ in totals.values())
    mm = sum(t for k, (t, _) in totals.items() if MATMUL.search(k))
    threads = tf.config.threading.get_intra_op_parallelism_threads() or cores()
    print(f"{args.system}: {args.steps} {args.mode} steps of {args.model} b{batch} s{args.seq} "
          f"{args.dtype}: {wall / args.steps:.2f} s/step wall; op time "
          f"{busy / 1e6 / args.steps:.2f} s/step summed over threads, matmul-like "
          f"{mm / max(busy, 1e-9):.1%} of it and {mm / 1e6 / max(threads * wall, 1e-9):.1%} of "
          f"{threads} threads x wall")
    width = max([34] + [len(k) + 2 for k in totals]) if args.by_name else 34
    print(f"{'op type':<{width}}{'ms/step':>10}{'share':>8}{'calls/step':>12}")
    for op_type, (us, count) in sorted(totals.items(), key=lambda kv: -kv[1][0])[:args.top]:
        print(f"{op_type:<{width}}{us / 1e3 / args.steps:>10.1f}{us / max(busy, 1e-9):>8.1%}"
              f"{count / args.steps:>12.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
