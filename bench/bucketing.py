"""Length bucketing with dynamic padding (`--bucket_by_length`) vs fixed 128 padding.

Workload: MRPC-like sentence pairs, `[CLS] a [SEP] b [SEP]` with 40-60 WordPiece tokens in
total (uniform), written as run_classifier TFRecords at max_seq_length 128 and read by
`bert_tf.data.features.classifier_dataset` -- the real input pipeline -- once with fixed
padding and once with `bucket_by_length=True` (batches of similar length, cut to their longest
row rounded up to 8). Training times the Trainer's train loop over that pipeline (as
`bench.bert_tf_step` does), one batch a round (`--steps` rounds, after `--warmup` batches that
build every bucket shape). Inference times `Trainer.predict` over the whole eval file, as an
eval runs (bucketed eval batches come sorted by length), one pass a round (`--infer_passes`,
after one pass each to warm up). Results are equal either way (padding is masked; tested in
tests/data/test_features.py), so the ratio is pure saved work. The two are timed in turn, so
that a slow phase of a shared machine falls on both (run one after the other on a 2-core Xeon,
the training ratio went from 2.38x to 1.56x between two runs of the same code). Both rates are
means over everything timed, since bucketed batches differ in length. Inference is timed as
whole passes because a pass is what an eval pays: timing one batch through a dataset built for
it would charge each batch the pipeline's construction.

    python -m bench.bucketing [--model minilm] [--batch 32] [--examples 1024]
"""

import os
import tempfile
import time

from bench.common import cores, emit_json, load_average, worker_parser


def write_pairs(path, config, examples, seq, low=40, high=60, seed=0):
    """TFRecord of `examples` random-id sentence pairs of low..high tokens; returns mean length."""
    import numpy as np

    from bert_tf.data.features import write_tfrecord
    from bert_tf.tokenization.examples import InputFeatures

    rng = np.random.default_rng(seed)
    rows, lengths = [], []
    for _ in range(examples):
        total = int(rng.integers(low, high + 1))
        first = int(rng.integers(total // 3, 2 * total // 3))
        ids = rng.integers(min(1000, config["vocab_size"] // 2), config["vocab_size"],
                           size=total).tolist()
        ids[0], ids[first], ids[-1] = 2, 3, 3
        types = [0] * (first + 1) + [1] * (total - first - 1)
        pad = seq - total
        rows.append(InputFeatures(ids + [0] * pad, [1] * total + [0] * pad, types + [0] * pad,
                                  int(rng.integers(0, 2)), True))
        lengths.append(total)
    write_tfrecord(path, rows, is_regression=False)
    return float(np.mean(lengths))


def pipeline_stepper(trainer, path, args, batch, bucket, mode):
    import tensorflow as tf

    from bert_tf.data.features import classifier_dataset

    if mode == "train":
        iterator = trainer.input_iterator(  # the input Trainer.train reads
            lambda ctx, skip: classifier_dataset(path, args.seq, batch, is_training=True, seed=1,
                                                 input_context=ctx, bucket_by_length=bucket))
        loop = trainer._build_train_loop()

        def step(n):
            float(loop(iterator, tf.constant(n, tf.int32))[0])
        return step

    def step(n):  # n passes over the whole eval file, as an eval runs (length-sorted if bucketed)
        for _ in range(n):
            trainer.predict(classifier_dataset(path, args.seq, batch, is_training=False,
                                               bucket_by_length=bucket))
    return step


def run(args) -> dict:
    from bench.bert_tf_step import build_trainer, model_setup

    batch = int(str(args.batch).split(",")[0])
    config, weights = model_setup(args.model)
    result = {"model": args.model, "batch": batch, "seq": args.seq, "dtype": args.dtype,
              "examples": args.examples, "pair_tokens": [40, 60], "threads": cores()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-bucketing-") as work:
        path = os.path.join(work, "train.tf_record")
        result["mean_tokens"] = write_pairs(path, config, args.examples, args.seq)
        trainer, _ = build_trainer(args, batch, config, work, weights)
        for mode in [m for m in str(args.mode).split(",") if m]:
            steps = {bucket: pipeline_stepper(trainer, path, args, batch, bucket, mode)
                     for bucket in (False, True)}
            if mode == "train":  # one batch a round; fixed padding (one shape) warms up sooner
                warmup, rounds, unit = {False: min(args.warmup, 2), True: args.warmup}, args.steps, batch
            else:  # one pass over the file a round, after a pass that builds every length
                warmup, rounds, unit = {False: 1, True: 1}, args.infer_passes, args.examples // batch * batch
            rounds = max(1, rounds)
            for bucket, step in steps.items():
                for _ in range(warmup[bucket]):
                    step(1)
            seconds = {False: 0.0, True: 0.0}
            for _ in range(rounds):
                for bucket, step in steps.items():
                    start = time.perf_counter()
                    step(1)
                    seconds[bucket] += time.perf_counter() - start
            what = f"batches of {batch}" if mode == "train" else f"passes over {unit} examples"
            for bucket in (False, True):
                key = f"{mode}_{'bucketed' if bucket else 'fixed'}"
                # The mean over everything timed, not the best round: bucketed batches differ
                # in length, and the best batch would favour the short ones.
                result[key + "_examples_per_s"] = unit * rounds / seconds[bucket]
                result[key + ("_steps" if mode == "train" else "_passes")] = rounds
                print(f"bucketing {mode} {'bucketed' if bucket else 'fixed 128'}: "
                      f"{result[key + '_examples_per_s']:.2f} ex/s ({rounds} timed "
                      f"{what}, in turn with the other; load {load_average()})",
                      flush=True)
            result[f"{mode}_speedup"] = (result[f"{mode}_bucketed_examples_per_s"]
                                         / result[f"{mode}_fixed_examples_per_s"])
            print(f"bucketing {mode}: {result[f'{mode}_speedup']:.2f}x examples/s "
                  f"(mean {result['mean_tokens']:.1f} tokens of {args.seq})", flush=True)
    result["seconds"] = time.perf_counter() - started
    result["load_average"] = load_average()
    return result


def main(argv=None):
    parser = worker_parser(__doc__.split("\n")[0])
    # Enough warm-up batches that both bucket shapes (48 and 64 tokens) are built before timing.
    parser.set_defaults(model="minilm", batch="32", mode="train,infer", warmup=4, steps=6)
    parser.add_argument("--examples", type=int, default=1024, help="pairs in the TFRecord")
    parser.add_argument("--infer_passes", type=int, default=2,
                        help="timed passes over the whole file for inference, each system")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--optimizer", default="adamw_google")
    parser.add_argument("--pooling", default="cls", choices=("cls", "mean"))
    args = parser.parse_args(argv)
    emit_json(run(args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
