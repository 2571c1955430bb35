"""bert_tf's XLA-compiled kernels against the ops they replace, alone, forward + backward.

Each row times one `tf.function` that runs a layer on a BERT-sized activation and takes the
gradient of its output (so forward and backward), first with bert_tf's kernels and then inside
`portable_ops()` (the plain TF/Keras ops the layer falls back to), interleaved, best of
`--repeats`. The two give the same values (bit for bit for dropout; to float32 rounding for
GELU and LayerNorm; tests/modeling).

    python -m bench.tools.kernels [--batch 16] [--seq 128] [--hidden 768] [--repeats 20]
"""

import argparse
import time


def cases(batch, seq, hidden, heads):
    """(name, layer factory, input shape, dtype) rows."""
    import keras

    from bert_tf.modeling.activations import get_activation
    from bert_tf.modeling.fused_dropout import BertDropout
    from bert_tf.modeling.fused_layer_norm import BertLayerNorm

    class Gelu(keras.layers.Layer):
        def call(self, x, training=None):
            return get_activation("gelu")(x)

    def norm():
        return BertLayerNorm(epsilon=1e-12, dtype="float32", half_output=True)

    rows = []
    for dtype in ("float32", "bfloat16"):
        rows += [
            ("dropout 0.1, attention probs", lambda d=dtype: BertDropout(0.1, seed=1, dtype=d),
             (batch, heads, seq, seq), dtype),
            ("dropout 0.1, hidden", lambda d=dtype: BertDropout(0.1, seed=1, dtype=d),
             (batch, seq, hidden), dtype),
            ("LayerNorm (half in/out for bf16)", norm, (batch, seq, hidden), dtype),
            ("GELU (exact), intermediate", lambda d=dtype: Gelu(dtype=d),
             (batch, seq, 4 * hidden), dtype),
        ]
    return rows


def time_fn(fn, x, repeats):
    fn(x)  # trace and compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _ = [t.numpy() for t in fn(x)]
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    import tensorflow as tf

    from bert_tf.modeling.portable import portable_ops

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    def step_of(layer):
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
            return y, tape.gradient(y, x, output_gradients=tf.ones_like(y))

        return step

    print(f"{'kernel':<34}{'dtype':<10}{'shape':<20}{'fused ms':>10}{'plain ms':>10}"
          f"{'speed-up':>10}")
    for name, factory, shape, dtype in cases(args.batch, args.seq, args.hidden, args.heads):
        x = tf.cast(tf.random.normal(shape), dtype)
        fused = tf.function(step_of(factory()))
        with portable_ops():
            plain_layer = factory()
            plain = tf.function(step_of(plain_layer))
            plain.get_concrete_function(x)  # traced with plain ops
        best = {"fused": float("inf"), "plain": float("inf")}
        for _ in range(2):  # interleaved
            best["fused"] = min(best["fused"], time_fn(fused, x, args.repeats // 2))
            best["plain"] = min(best["plain"], time_fn(plain, x, args.repeats // 2))
        print(f"{name:<34}{dtype:<10}{str(list(shape)):<20}{best['fused'] * 1e3:>10.2f}"
              f"{best['plain'] * 1e3:>10.2f}{best['plain'] / best['fused']:>9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
