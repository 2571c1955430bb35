"""BertDropout: Keras' Dropout, with the same masks drawn by an XLA-compiled Philox on TF.

Keras' TensorFlow dropout draws a uniform number per element with TF's
`StatelessRandomUniformV2` kernel (Philox-4x32-10), compares it with the rate, then scales and
selects: three passes forward and two backward. TF's CPU Philox kernel is scalar, about 6 ns an
element summed over threads; in a MiniLM bfloat16 training step on a 2-core CPU the draws were
a fifth of the op time (docs/performance.md).

Here the same Philox stream is computed with vectorised integer ops in one XLA-compiled pass
that packs each group of four keep bits into a uint32, and a second pass applies the mask and
the scale. The backward is that second pass on the incoming gradient. The masks are bit for bit
Keras' masks (tests compare the layers for each float dtype), so a seed gives the same run as
with `keras.layers.Dropout`. 3-4x less time forward at [16, 12, 128, 128].

Why the bits agree, from TF's kernel (`random_distributions.h`, `philox_random.h`):
- Element `i` takes word `i % 4` of the Philox block at `counter + i // 4` (a 128-bit add).
- A float32 uniform is `(word & 0x7fffff) / 2**23`; bfloat16 keeps the low 7 bits and float16
  the low 10, each divided by 2**bits. So `uniform >= rate` is the integer test
  `word & low_bits >= ceil(rate_in_dtype * 2**bits)`, exactly.
- Kept elements are `x * scale`, where `scale = 1 / (1 - rate)` is rounded to x's dtype and
  the product is rounded once, as TF's Mul kernel does.

On TPU, TF's `auto_select` may pick another generator than Philox, and this kernel has not
run there. So on TPU (and for `noise_shape`, other dtypes, other backends, and inside
`portable_ops()`) the layer is Keras' own Dropout.
"""

import math

import keras
import numpy as np

from bert_tf.modeling.portable import fused_kernels_enabled, unwatched

MANTISSA_BITS = {"float32": 23, "bfloat16": 7, "float16": 10}  # random bits TF uses per dtype

# Philox-4x32-10 constants (Salmon et al., 2011; the values in TF's philox_random.h).
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
PHILOX_ROUNDS = 10


def keep_threshold(rate, dtype):
    """The smallest random mantissa (an int) that keeps an element: ceil(rate * 2**bits) with
    rate first rounded to `dtype`, as TF compares `uniform >= rate` in that dtype."""
    import ml_dtypes  # installed with TF; numpy has no bfloat16

    np_dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    return math.ceil(float(np.array(rate, dtype=np_dtype)) * 2 ** MANTISSA_BITS[dtype])


def _kernels():
    # Built on first use: only the TF backend has them (the JAX GPU bench runs these layers).
    global _KERNELS
    if _KERNELS is None:
        import tensorflow as tf

        u32, u64 = tf.uint32, tf.uint64

        def low32(x):  # uint64 -> its low 32 bits as uint32
            return tf.cast(tf.bitwise.bitwise_and(x, tf.constant(0xFFFFFFFF, u64)), u32)

        def high32(x):
            return low32(tf.bitwise.right_shift(x, tf.constant(32, u64)))

        def mul_hi_lo(multiplier, x):
            product = tf.cast(x, u64) * tf.constant(multiplier, u64)
            return high32(product), low32(product)

        def philox(key, counter, groups):
            # key: uint64 [1], counter: uint64 [2] (StatelessRandomGetKeyCounter) ->
            # the four uint32 words of blocks counter + 0 .. counter + groups - 1, each [groups]
            k0, k1 = low32(key[0]), high32(key[0])
            block = tf.cast(tf.range(groups), u32)
            one, zero = tf.constant(1, u32), tf.constant(0, u32)
            # counter + block, as a 128-bit add of four uint32 words (block < 2**31).
            c0 = low32(counter[0]) + block
            carry = tf.where(c0 < block, one, zero)
            c1 = high32(counter[0]) + carry
            carry = tf.where(tf.logical_and(carry > 0, tf.equal(c1, 0)), one, zero)
            c2 = low32(counter[1]) + carry
            carry = tf.where(tf.logical_and(carry > 0, tf.equal(c2, 0)), one, zero)
            c3 = high32(counter[1]) + carry
            for _ in range(PHILOX_ROUNDS):
                hi0, lo0 = mul_hi_lo(PHILOX_M0, c0)
                hi1, lo1 = mul_hi_lo(PHILOX_M1, c2)
                c0, c1, c2, c3 = (tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi1, c1), k0), lo1,
                                  tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi0, c3), k1), lo0)
                k0 += tf.constant(PHILOX_W0, u32)
                k1 += tf.constant(PHILOX_W1, u32)
            return c0, c1, c2, c3

        def keep_bits(x, key, counter, threshold, mantissa_bits):
            # x (for its size n) -> uint32 [ceil(n / 4)]: bit j of word g keeps element 4g + j.
            groups = (tf.size(x) + 3) // 4
            low = tf.constant((1 << mantissa_bits) - 1, u32)
            threshold = tf.constant(threshold, u32)
            packed = tf.zeros([groups], u32)
            for j, word in enumerate(philox(key, counter, groups)):
                keep = tf.cast(tf.bitwise.bitwise_and(word, low) >= threshold, u32)
                packed = tf.bitwise.bitwise_or(packed,
                                               tf.bitwise.left_shift(keep, tf.constant(j, u32)))
            return packed

        def apply(x, packed, scale):
            # x: any shape, packed: keep_bits -> where(keep, x * scale, 0), x's shape and dtype
            n = tf.size(x)
            groups = tf.shape(packed)[0]
            flat = tf.pad(tf.reshape(x, [-1]), [[0, 4 * groups - n]])
            shifts = tf.constant([0, 1, 2, 3], u32)
            keep = tf.bitwise.bitwise_and(tf.bitwise.right_shift(packed[:, None], shifts),
                                          tf.constant(1, u32)) > 0  # [groups, 4]
            kept = tf.reshape(flat, [groups, 4]) * tf.constant(scale, x.dtype)
            out = tf.where(keep, kept, tf.zeros((), x.dtype))
            return tf.reshape(tf.reshape(out, [-1])[:n], tf.shape(x))

        # Two kernels, not one: fused with its consumer, XLA recomputes a block's Philox for
        # each of its four elements (4x slower than TF's kernel, measured).
        compile_ = dict(jit_compile=True, autograph=False, reduce_retracing=True)
        _KERNELS = (tf.function(keep_bits, **compile_), tf.function(apply, **compile_))
    return _KERNELS


_KERNELS = None


def fused_dropout(x, rate, seed):
    """Inverted dropout of a TF tensor with TF's stateless masks, and its gradient.

    Args:
        x: a float32, bfloat16 or float16 tensor of any shape.
        rate: the drop probability, a Python float in (0, 1).
        seed: int32 [2], the stateless seed (the same values as
            `tf.nn.experimental.stateless_dropout(x, rate, seed)` gives the same output).
    """
    import tensorflow as tf

    keep_bits, apply = _kernels()
    dtype = keras.backend.standardize_dtype(x.dtype)
    key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=seed)
    packed = keep_bits(unwatched(x), key, counter, keep_threshold(rate, dtype),
                       MANTISSA_BITS[dtype])
    scale = 1.0 / (1.0 - rate)  # a Python float, rounded to x's dtype in the kernel, as TF does

    @tf.custom_gradient
    def dropout(x):
        def grad(dy):
            return apply(dy, packed, scale)

        return apply(unwatched(x), packed, scale), grad

    return dropout(x)


def _on_tpu():
    import tensorflow as tf

    return tf.distribute.has_strategy() and isinstance(
        tf.distribute.get_strategy(), (tf.distribute.TPUStrategy,))


@keras.saving.register_keras_serializable(package="bert_tf")
class BertDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (same arguments, seed state and masks); on TensorFlow the mask is
    drawn and applied by XLA-compiled kernels (`fused_dropout`).

    Args:
        rate: fraction of the elements to drop, in [0, 1].
        noise_shape, seed: as `keras.layers.Dropout`.

    Example:
    >>> drop = BertDropout(0.1, seed=1)
    >>> drop(keras.ops.ones((2, 4)), training=True).shape
    (2, 4)
    """

    def call(self, inputs, training=False):
        if not (training and 0 < self.rate < 1) or not self._fuses(inputs):
            return super().call(inputs, training=training)
        import tensorflow as tf

        seed = self.seed_generator.next()  # what keras.random's draw_seed does
        if seed.dtype != tf.int32:  # and its TF backend's cast to the int32 stateless ops take
            seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
        return fused_dropout(inputs, float(self.rate), seed)

    def _fuses(self, inputs):
        return (fused_kernels_enabled() and self.noise_shape is None
                and keras.backend.standardize_dtype(inputs.dtype) in MANTISSA_BITS
                and not _on_tpu())
