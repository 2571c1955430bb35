"""GELU as one XLA-compiled elementwise pass each way (TensorFlow backend).

TF has no GELU kernel. `tf.nn.gelu` is 5-8 elementwise ops and its gradient 8-10 more, and
each one reads and writes the whole [batch, seq, intermediate] activation. In BERT-base
bfloat16 training on a 2-core AMX CPU, that came to about 13% of the op time of a step
(docs/performance.md). Compiled with XLA, the forward and the backward are each one loop:
3-5x less time for a layer's GELU, forward and backward (measured at [2048, 3072]).

Half-precision inputs are computed in float32 inside the loop and rounded once on the way out.
The gradient is the derivative written out (no autodiff of the forward), in the same float32.
Each new input shape compiles once (50-110 ms each way, measured). Bucketed batches come in
multiples of 8 tokens, so that is at most max_seq_length / 8 shapes.
"""

import math

import tensorflow as tf

from bert_tf.modeling.activations import HALF_DTYPES
from bert_tf.modeling.portable import unwatched

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
TANH_CUBIC = 0.044715  # the tanh approximation's cubic coefficient


def _compute_dtype(dtype):
    return tf.float32 if dtype.name in HALF_DTYPES else dtype


def _forward(x, approximate):
    # x: any shape -> GELU(x), same shape and dtype.
    z = tf.cast(x, _compute_dtype(x.dtype))
    if approximate:
        y = 0.5 * z * (1.0 + tf.tanh(SQRT_2_OVER_PI * (z + TANH_CUBIC * z * z * z)))
    else:
        y = 0.5 * z * tf.math.erfc(-z * INV_SQRT_2)
    return tf.cast(y, x.dtype)


def _backward(x, dy, approximate):
    # dGELU/dx at x, times the incoming gradient dy (same shape and dtype as x).
    z = tf.cast(x, _compute_dtype(x.dtype))
    if approximate:
        t = tf.tanh(SQRT_2_OVER_PI * (z + TANH_CUBIC * z * z * z))
        slope = SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_CUBIC * z * z)
        derivative = 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * slope
    else:
        derivative = 0.5 * tf.math.erfc(-z * INV_SQRT_2) + z * tf.exp(-0.5 * z * z) * INV_SQRT_2PI
    return tf.cast(tf.cast(dy, z.dtype) * derivative, x.dtype)


# Shared by every model: they hold no variables. reduce_retracing keeps one trace per
# `approximate`; XLA still compiles (and caches) one kernel per concrete shape.
_forward_xla = tf.function(_forward, jit_compile=True, autograph=False, reduce_retracing=True)
_backward_xla = tf.function(_backward, jit_compile=True, autograph=False, reduce_retracing=True)


def fused_gelu(x, approximate):
    """GELU of a TF tensor, forward and gradient each one XLA-compiled pass.

    Args:
        x: a floating-point tensor of any shape.
        approximate: True for the tanh approximation, False for the exact erf form.

    Example:
    >>> fused_gelu(tf.constant([-1.0, 0.0, 1.0]), approximate=False).numpy().round(4)
    array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """

    @tf.custom_gradient
    def gelu(x):
        def grad(dy):
            return _backward_xla(x, dy, approximate)

        return _forward_xla(unwatched(x), approximate), grad

    return gelu(x)
