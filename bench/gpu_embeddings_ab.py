"""A/B on a GPU: bert_tf's embeddings as they were before stop 21 and as they are, beside keras-hub.

Before stop 21, `BertEmbeddings` read its tables with Keras' autocast: under `mixed_bfloat16`
the whole [vocab, H] word table was cast to bfloat16 every step, and its gradient was a
bfloat16 scatter-add into a dense table. Now the float32 rows are looked up, summed and rounded
once. On an H200 that took BERT-Base classifier training (batch 16, seq 128, mixed) from about
1000 to about 2300 seq/s under Keras-JAX/XLA. This script measures that: "before" (the old
`call`, patched in while its step traces), "after" (bert_tf as it is) and keras-hub's
`BertTextClassifier`, each one `bench.gpu_keras.keras_step`, all compiled first, then timed in
alternating rounds so that drift hits all three alike. It prints a line per round and a JSON
summary (median seq/s per variant, and ratios).

    KERAS_BACKEND=jax python -m bench.gpu_embeddings_ab [--case bert_base_train_b16:mixed]
        [--rounds 3] [--steps 60] [--variants before,after,keras_hub] [--tiny]
"""

import argparse
import os
import statistics
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9")

from bench.common import emit_json  # noqa: E402
from bench.gpu_cases import select  # noqa: E402

VARIANTS = ("before", "after", "keras_hub")


def cast_table_call(self, input_ids, type_ids, training=False):
    """`BertEmbeddings.call` before stop 21: autocast cast each whole table to the compute
    dtype before the lookup, and the rows were summed in it."""
    from keras import ops

    dtype = self.compute_dtype
    seq_length = ops.shape(input_ids)[1]
    x = ops.take(ops.cast(self.word_embeddings, dtype), input_ids, axis=0)
    x = x + ops.take(ops.cast(self.token_type_embeddings, dtype), type_ids, axis=0)
    x = x + ops.expand_dims(ops.cast(self.position_embeddings, dtype)[:seq_length], 0)
    return self.dropout(self.layer_norm(x), training=training)


def build_step(variant, case, tiny):
    """The variant's `keras_step`, already traced and compiled (two steps run)."""
    from bench import gpu_keras, gpu_keras_hub
    from bert_tf.modeling.embeddings import BertEmbeddings

    config, data = gpu_keras.device_batch(case, tiny)
    if variant == "keras_hub":
        model, loss = gpu_keras_hub.build_classifier(config), gpu_keras.classifier_loss
        features = gpu_keras_hub.keras_hub_features(data)
    else:
        model, loss = gpu_keras.build_model(case, config)
        features = {k: data[k] for k in gpu_keras.FEATURES}
    current = BertEmbeddings.call
    if variant == "before":
        BertEmbeddings.call = cast_table_call  # only while the step traces
    try:
        step = gpu_keras.keras_step(case, model, loss, features, data)
        step(2)
    finally:
        BertEmbeddings.call = current
    return step, gpu_keras.case_batch(features)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", default="bert_base_train_b16:mixed",
                        help="a case of the shapes group (bench.gpu_cases)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per round")
    parser.add_argument("--tiny", action="store_true", help="tiny model, batch 2, seq 16 (smoke)")
    args = parser.parse_args(argv)
    from bench import gpu_keras

    case = select(args.case, "shapes")[0]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"bench.gpu_embeddings_ab: --variants {unknown}: expected {VARIANTS}")
    policy = gpu_keras.set_policy(case)
    steps = {}
    for variant in variants:
        start = time.perf_counter()
        steps[variant] = build_step(variant, case, args.tiny)
        print(f"{variant}: compiled and two steps in {time.perf_counter() - start:.1f} s",
              flush=True)
    per_s = {v: [] for v in variants}
    for round_ in range(args.rounds):
        for variant, (step, batch) in steps.items():
            start = time.perf_counter()
            step(args.steps)
            per_s[variant].append(batch * args.steps / (time.perf_counter() - start))
            print(f"round {round_} {variant}: {per_s[variant][-1]:.1f} seq/s", flush=True)
    median = {v: statistics.median(r) for v, r in per_s.items()}
    summary = {"case": case.key, "policy": policy, "tiny": args.tiny, "rounds": per_s,
               "median_examples_per_s": median}
    if "before" in median and "after" in median:
        summary["after_vs_before"] = median["after"] / median["before"]
    if "keras_hub" in median and "after" in median:
        summary["after_vs_keras_hub"] = median["after"] / median["keras_hub"]
    emit_json({"embeddings_ab": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
