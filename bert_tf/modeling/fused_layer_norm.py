"""BertLayerNorm: Keras' LayerNormalization with XLA-compiled passes on TensorFlow.

Keras' TF LayerNormalization is about ten elementwise and reduction ops forward and twenty
backward, each a pass over the [batch, seq, H] activation. Here the forward is one
XLA-compiled pass (which also keeps the row means and 1/std), and the backward is one
XLA-compiled pass for the input gradient, plus two column sums for gamma and beta left to TF's
reduction kernels, which XLA's CPU backend does more slowly. Measured at [16, 128, 768]
float32, forward and backward: 10-12 ms in Keras, about 6 ms here (README, "Performance").

The formula is the original's (`tf.contrib.layers.layer_norm`, as Keras also computes it):
mean and biased variance over the last axis, `inv = rsqrt(var + eps) * gamma`,
`y = x * inv + (beta - mean * inv)`. Summation order differs from TF's kernels, so values
agree to float32 rounding (tests).
"""

import keras

from bert_tf.modeling.portable import fused_kernels_enabled


def _kernels():
    # Built on first use: only the TF backend has them (the JAX GPU bench runs these layers).
    global _KERNELS
    if _KERNELS is None:
        import tensorflow as tf

        def forward(x, gamma, beta, epsilon):
            # x: [..., H] -> y [..., H], mean and rstd [..., 1]
            mean = tf.reduce_mean(x, axis=-1, keepdims=True)
            variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
            rstd = tf.math.rsqrt(variance + epsilon)
            inv = rstd * gamma
            return x * inv + (beta - mean * inv), mean, rstd

        def backward(x, gamma, mean, rstd, dy):
            # -> dx [..., H] and dy * x_hat [..., H] (summed over rows outside, for d gamma)
            x_hat = (x - mean) * rstd
            g = dy * gamma
            dx = rstd * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
                         - x_hat * tf.reduce_mean(g * x_hat, axis=-1, keepdims=True))
            return dx, dy * x_hat

        compile_ = dict(jit_compile=True, autograph=False, reduce_retracing=True)
        _KERNELS = (tf.function(forward, **compile_), tf.function(backward, **compile_))
    return _KERNELS


_KERNELS = None


def fused_layer_norm(x, gamma, beta, epsilon):
    """LayerNorm over the last axis of a float TF tensor, with its gradient.

    Args:
        x: [..., H] float tensor.
        gamma, beta: [H] tensors of x's dtype.
        epsilon: the variance epsilon (a Python float).
    """
    import tensorflow as tf

    forward, backward = _kernels()

    @tf.custom_gradient
    def layer_norm(x, gamma, beta):
        y, mean, rstd = forward(x, gamma, beta, epsilon)

        def grad(dy):
            dx, dy_x_hat = backward(x, gamma, mean, rstd, dy)
            width = tf.shape(x)[-1]
            return (dx, tf.reduce_sum(tf.reshape(dy_x_hat, [-1, width]), axis=0),
                    tf.reduce_sum(tf.reshape(dy, [-1, width]), axis=0))

        return y, grad

    return layer_norm(x, gamma, beta)


class BertLayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` (same arguments, variables and values to float32
    rounding); over the last axis with gamma and beta on TensorFlow, one XLA-compiled pass each
    way (`fused_layer_norm`), except inside `portable_ops()`.

    Args:
        as `keras.layers.LayerNormalization` (BERT uses `epsilon=1e-12`, `dtype="float32"`).

    Example:
    >>> norm = BertLayerNorm(epsilon=1e-12)
    >>> norm(keras.random.normal((2, 5, 8))).shape
    (2, 5, 8)
    """

    def call(self, inputs):
        last_axis_only = list(self.axis) in ([-1], [len(inputs.shape) - 1])
        if (not fused_kernels_enabled() or self.rms_scaling or self.gamma is None
                or self.beta is None or not last_axis_only):
            return super().call(inputs)
        x = inputs  # computed in at least float32, as Keras does
        if keras.backend.standardize_dtype(x.dtype) in ("bfloat16", "float16"):
            x = keras.ops.cast(x, "float32")
        gamma = keras.ops.cast(self.gamma, x.dtype)
        beta = keras.ops.cast(self.beta, x.dtype)
        y = fused_layer_norm(x, gamma, beta, float(self.epsilon))
        return keras.ops.cast(y, self.compute_dtype)
