"""BertLayerNorm: Keras' LayerNormalization with XLA-compiled passes on TensorFlow.

Keras' TF LayerNormalization is about ten elementwise and reduction ops forward and twenty
backward, each a pass over the [batch, seq, H] activation. Here the forward is one
XLA-compiled pass (which also keeps the row means and 1/std), and the backward is one
XLA-compiled pass for the input gradient, plus two column sums for gamma and beta left to TF's
reduction kernels, which XLA's CPU backend does more slowly. Measured at [16, 128, 768]
float32, forward and backward: 10-12 ms in Keras, about 6 ms here (docs/performance.md).

The formula is the original's (`tf.contrib.layers.layer_norm`, as Keras also computes it):
mean and biased variance over the last axis, `inv = rsqrt(var + eps) * gamma`,
`y = x * inv + (beta - mean * inv)`. Summation order differs from TF's kernels, so values
agree to float32 rounding (tests).

Under mixed precision the layer is float32 and its input bfloat16/float16: Keras would cast the
input up, and the block casts the output back down, two more passes each way. The kernels take
the half-precision input as it is (`half_output=True` also returns the output in it), convert
inside the pass and round once, so the values are those of the casts.
"""

import keras

from bert_tf.modeling.activations import HALF_DTYPES
from bert_tf.modeling.portable import fused_kernels_enabled, unwatched


def _kernels():
    # Built on first use: only the TF backend has them (the JAX GPU bench runs these layers).
    global _KERNELS
    if _KERNELS is None:
        import tensorflow as tf

        def forward(x, gamma, beta, epsilon, out_dtype):
            # x: [..., H] (float32 or half) -> y [..., H] out_dtype, mean and rstd [..., 1] float32
            x = tf.cast(x, tf.float32)
            mean = tf.reduce_mean(x, axis=-1, keepdims=True)
            variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
            rstd = tf.math.rsqrt(variance + epsilon)
            inv = rstd * gamma
            return tf.cast(x * inv + (beta - mean * inv), out_dtype), mean, rstd

        def backward(x, gamma, mean, rstd, dy):
            # -> dx [..., H] in x's dtype and dy * x_hat [..., H] float32 (summed over rows
            # outside, for d gamma), and for a half-precision dy, dy in float32 (for d beta)
            dy32 = tf.cast(dy, tf.float32)
            x_hat = (tf.cast(x, tf.float32) - mean) * rstd
            g = dy32 * gamma
            dx = rstd * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
                         - x_hat * tf.reduce_mean(g * x_hat, axis=-1, keepdims=True))
            outputs = (tf.cast(dx, x.dtype), dy32 * x_hat)
            return outputs if dy.dtype == tf.float32 else outputs + (dy32,)

        compile_ = dict(jit_compile=True, autograph=False, reduce_retracing=True)
        _KERNELS = (tf.function(forward, **compile_), tf.function(backward, **compile_))
    return _KERNELS


_KERNELS = None


def fused_layer_norm(x, gamma, beta, epsilon, out_dtype=None):
    """LayerNorm over the last axis of a float TF tensor, with its gradient, in float32.

    Args:
        x: [..., H] float32, bfloat16 or float16 tensor (converted to float32 in the kernel).
        gamma, beta: [H] float32 tensors.
        epsilon: the variance epsilon (a Python float).
        out_dtype: the output's dtype (rounded once from float32); None: float32.
    """
    import tensorflow as tf

    forward, backward = _kernels()
    out_dtype = tf.as_dtype(out_dtype or tf.float32)

    @tf.custom_gradient
    def layer_norm(x, gamma, beta):
        y, mean, rstd = forward(*unwatched(x, gamma, beta), epsilon, out_dtype)

        def grad(dy):
            dx, dy_x_hat, *dy32 = backward(x, gamma, mean, rstd, dy)
            dy = dy32[0] if dy32 else dy
            width = tf.shape(x)[-1]
            return (dx, tf.reduce_sum(tf.reshape(dy_x_hat, [-1, width]), axis=0),
                    tf.reduce_sum(tf.reshape(dy, [-1, width]), axis=0))

        return y, grad

    return layer_norm(x, gamma, beta)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertLayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` (same arguments, variables and values to float32
    rounding); over the last axis with gamma and beta on TensorFlow, one XLA-compiled pass each
    way (`fused_layer_norm`), except inside `portable_ops()`.

    Args:
        half_output: a bfloat16/float16 input gives an output of the same dtype (computed in
            float32 and rounded once), not one in the layer's float32. False: Keras' behaviour.
        **kwargs: as `keras.layers.LayerNormalization` (BERT uses `epsilon=1e-12`,
            `dtype="float32"`).

    Example:
    >>> norm = BertLayerNorm(epsilon=1e-12)
    >>> norm(keras.random.normal((2, 5, 8))).shape
    (2, 5, 8)
    """

    def __init__(self, *args, half_output=False, **kwargs):
        # No autocast: inputs reach call() in their own dtype, so that a half-precision input
        # is converted inside the fused kernels rather than by a separate cast op.
        kwargs.setdefault("autocast", False)
        super().__init__(*args, **kwargs)
        self.half_output = bool(half_output)

    def call(self, inputs):
        x = inputs
        half = keras.backend.standardize_dtype(x.dtype) in HALF_DTYPES
        if not half:
            x = keras.ops.cast(x, self.compute_dtype)  # Keras' input cast
        out_dtype = x.dtype if half and self.half_output else self.compute_dtype
        last_axis_only = list(self.axis) in ([-1], [len(x.shape) - 1])
        if (not fused_kernels_enabled() or self.rms_scaling or self.gamma is None
                or self.beta is None or not last_axis_only or self.compute_dtype == "float64"):
            y = super().call(keras.ops.cast(x, self.compute_dtype))
            return keras.ops.cast(y, out_dtype)
        # Computed in float32 whatever the policy, as Keras does.
        gamma, beta = (keras.ops.cast(v, "float32") for v in (self.gamma, self.beta))
        return fused_layer_norm(x, gamma, beta, float(self.epsilon), out_dtype)

    def get_config(self):
        return {**super().get_config(), "half_output": self.half_output}
