"""Activations by the names that config files use.

Google's `bert_config.json` says "gelu" for the tanh approximation
`0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))`; HF's `config.json` says "gelu" for the exact erf
form. Inside bert_tf a config always holds Google's meaning; readers of HF files map "gelu" to
"gelu_exact" (see bert_tf.checkpoints.hf).
"""

import keras
from keras import ops

from bert_tf.modeling.portable import fused_kernels_enabled

HALF_DTYPES = ("bfloat16", "float16")


def _gelu(x, approximate):
    x = ops.convert_to_tensor(x)
    if fused_kernels_enabled():
        # Imported here: only the TF backend has it (the JAX GPU bench runs these layers too).
        from bert_tf.modeling.fused_gelu import fused_gelu
        return fused_gelu(x, approximate)
    # Half-precision inputs (mixed_bfloat16 / mixed_float16) are computed in float32 and
    # rounded once. TF's CPU erfc/tanh kernels are not vectorised for bfloat16: the exact GELU
    # was the largest op of a bf16 MiniLM inference step on an AMX CPU (228 of 620 ms) and took
    # 40 ms in float32 (docs/performance.md). One rounding is also the more accurate result.
    if keras.backend.standardize_dtype(x.dtype) in HALF_DTYPES:
        return ops.cast(ops.gelu(ops.cast(x, "float32"), approximate=approximate), x.dtype)
    return ops.gelu(x, approximate=approximate)


@keras.saving.register_keras_serializable(package="bert_tf")
def gelu_tanh(x):
    """GELU, tanh approximation (Google BERT's `gelu`); half-precision inputs in float32.

    On TensorFlow, forward and gradient are each one XLA-compiled pass (`fused_gelu`), except
    inside `bert_tf.modeling.portable.portable_ops()`.
    """
    return _gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="bert_tf")
def gelu_exact(x):
    """GELU, exact erf form (HF/PyTorch `gelu`); half-precision inputs in float32 (on
    TensorFlow one XLA-compiled pass each way, as `gelu_tanh`)."""
    return _gelu(x, approximate=False)


ACTIVATIONS = {
    "gelu": gelu_tanh,
    "gelu_tanh": gelu_tanh,
    "gelu_exact": gelu_exact,
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
    "swish": keras.activations.silu,
    "linear": keras.activations.linear,
}


def get_activation(name: str):
    """Returns the activation function for a config's `hidden_act`."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown hidden_act {name!r}; expected one of {sorted(ACTIVATIONS)}") from None
