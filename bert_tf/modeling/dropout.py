"""BertDropout: inverted dropout whose keep/drop draw uses 16 random bits per element."""

import keras

BITS = 16
LEVELS = 1 << BITS  # each element's draw is uniform on 0 .. LEVELS - 1


class BertDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (same arguments, seeds and variables), with a cheaper draw on TF.

    Keras's TensorFlow dropout draws one float32 uniform per element (one 32-bit Philox word;
    a bfloat16 uniform has only 7 random bits, so it keeps 115/128 of the elements at rate
    0.1). TF's CPU Philox kernel is slow, about 3 ns a word on 2 cores, and it was the largest
    non-matmul op of a MiniLM training step on an AMX CPU (20 draws, 164 ms of about 900).
    This layer splits each 32-bit word into two independent 16-bit draws, so it generates
    half the words. An element is kept when its draw is at least `round(rate * 65536)`, so
    the drop probability is that count / 65536 (0.1 -> 0.100006), and kept elements are
    scaled by 65536 / (65536 - count), which keeps the expected output equal to the input.
    Other backends (and `noise_shape`) use Keras's own dropout.

    Args:
        rate: fraction of the elements to drop, in [0, 1].
        noise_shape, seed: as `keras.layers.Dropout`.

    Example:
    >>> drop = BertDropout(0.1, seed=1)
    >>> drop(keras.ops.ones((2, 4)), training=True).shape
    (2, 4)
    """

    def call(self, inputs, training=False):
        if (not training or self.rate <= 0 or self.rate >= 1 or self.noise_shape is not None
                or keras.backend.backend() != "tensorflow"):
            return super().call(inputs, training=training)
        return _dropout_16bit_tf(inputs, self.rate, self.seed_generator.next())


def drop_threshold(rate):
    """The 16-bit draws below this value are dropped: round(rate * 65536)."""
    return int(round(rate * LEVELS))


def _dropout_16bit_tf(inputs, rate, seed):
    import tensorflow as tf

    threshold = drop_threshold(rate)
    if threshold == 0:
        return inputs
    if threshold >= LEVELS:
        return tf.zeros_like(inputs)
    # Keras keeps its seed state as int64; stateless ops want int32 (as Keras itself casts).
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    inputs = tf.convert_to_tensor(inputs)
    size = tf.size(inputs)
    words = tf.random.stateless_uniform([(size + 1) // 2], seed, minval=None, maxval=None,
                                        dtype=tf.uint32)
    # [words] uint32 -> [words, 2] uint16 -> the first `size` draws (a contiguous prefix).
    draws = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:size]
    keep = tf.reshape(draws >= tf.constant(threshold, tf.uint16), tf.shape(inputs))
    scale = tf.constant(LEVELS / (LEVELS - threshold), inputs.dtype)
    return tf.where(keep, inputs * scale, tf.zeros((), inputs.dtype))
