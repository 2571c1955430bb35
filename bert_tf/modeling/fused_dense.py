"""BertDense: Keras' Dense, whose half-precision bias add (and GELU) is one XLA-compiled pass.

Under mixed precision a Dense layer's matmul gives bfloat16/float16, and Keras adds the bias
with TF's BiasAdd, whose CPU kernel is not vectorised for those dtypes: in a bfloat16 MiniLM
inference step on an AMX CPU it took 12% of the op time, more than the attention softmax
(docs/performance.md). Here the add is one XLA-compiled pass, and for the
feed-forward layer it is the same pass as the GELU that follows (which `fused_gelu` otherwise
runs as a pass of its own).

The values are the ops' bit for bit: the sum is rounded to the half dtype (as BiasAdd does)
before the GELU, which is then computed in float32 and rounded once (as `fused_gelu` does).
Backward, the GELU derivative is `fused_gelu`'s, taken at that same rounded sum, and the bias
gradient is TF's own BiasAddGrad of the same values (tests compare values and gradients with
`keras.layers.Dense`). Float32 layers, other activations, LoRA or quantized layers, other
backends and `portable_ops()` run Keras' Dense unchanged. Inside `precast_weights` (an inference
pass) the layer reads its kernel and bias as casts made once for the pass.
"""

import keras
from keras import ops

from bert_tf.modeling.activations import HALF_DTYPES, gelu_exact, gelu_tanh
from bert_tf.modeling.portable import fused_kernels_enabled, unwatched
from bert_tf.modeling.precast import precast_kernel_and_bias

_KERNELS = None


def _kernels():
    # Built on first use: only the TF backend has them (the JAX GPU bench runs these layers).
    global _KERNELS
    if _KERNELS is None:
        import tensorflow as tf

        from bert_tf.modeling.fused_gelu import _backward as gelu_backward
        from bert_tf.modeling.fused_gelu import _forward as gelu_forward

        def add(y, bias):
            # y [..., N] half, bias [N] half -> y + bias rounded once to the half dtype
            return tf.cast(tf.cast(y, tf.float32) + tf.cast(bias, tf.float32), y.dtype)

        def add_gelu(y, bias, approximate):
            return gelu_forward(add(y, bias), approximate)

        def add_gelu_backward(y, bias, da, approximate):
            # d(GELU(y + bias)) / d(y + bias) * da, at the rounded sum the forward pass used
            return gelu_backward(add(y, bias), da, approximate)

        compile_ = dict(jit_compile=True, autograph=False, reduce_retracing=True)
        _KERNELS = tuple(tf.function(f, **compile_) for f in (add, add_gelu, add_gelu_backward))
    return _KERNELS


def fused_bias_add(y, bias, approximate=None):
    """`y + bias`, then GELU when `approximate` is a bool, for half-precision TF tensors.

    Args:
        y: [..., N] bfloat16 or float16 tensor (a matmul's output).
        bias: [N] tensor of the same dtype.
        approximate: None for the bias add alone; True/False for the tanh/erf GELU after it.
    """
    import tensorflow as tf

    add, add_gelu, add_gelu_backward = _kernels()

    @tf.custom_gradient
    def bias_add(y, bias):
        y_in, bias_in = unwatched(y, bias)
        out = add(y_in, bias_in) if approximate is None else add_gelu(y_in, bias_in, approximate)

        def grad(dout):
            dz = dout if approximate is None else add_gelu_backward(y, bias, dout, approximate)
            return dz, tf.raw_ops.BiasAddGrad(out_backprop=dz)

        return out, grad

    return bias_add(y, bias)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertDense(keras.layers.Dense):
    """`keras.layers.Dense` (same arguments, variables and values); under mixed precision on
    TensorFlow the bias add, and a GELU activation with it, is one XLA-compiled pass.

    Args:
        **kwargs: as `keras.layers.Dense`.

    Example:
    >>> dense = BertDense(8, activation=gelu_exact)
    >>> dense(keras.random.normal((2, 5, 4))).shape
    (2, 5, 8)
    """

    def _fused_activation(self):
        """None (bias only), True/False (GELU form), or "no" where Keras' Dense runs."""
        if (not fused_kernels_enabled() or not self.use_bias or self.lora_enabled
                or self.quantization_mode or self.compute_dtype not in HALF_DTYPES):
            return "no"
        return {keras.activations.linear: None, gelu_tanh: True,
                gelu_exact: False}.get(self.activation, "no")

    def call(self, inputs, training=None):
        approximate = self._fused_activation()
        precast = precast_kernel_and_bias(self)
        if precast is not None:  # inside `precast_weights`: the casts Keras would make
            kernel, bias = precast
        elif approximate == "no":
            return super().call(inputs, training=training)
        else:
            # The bias as the tensor Keras adds (autocast to the compute dtype), not the variable.
            kernel, bias = self.kernel, ops.cast(self.bias, self.compute_dtype)
        y = ops.matmul(inputs, kernel)
        if approximate != "no":
            return fused_bias_add(y, bias, approximate)
        # Keras' Dense from here on, on the same values.
        y = ops.add(y, bias)
        return y if self.activation is None else self.activation(y)
