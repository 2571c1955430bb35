"""Activations by the names that config files use.

Google's `bert_config.json` says "gelu" for the tanh approximation
`0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))`; HF's `config.json` says "gelu" for the exact erf
form. Inside bert_tf a config always holds Google's meaning; readers of HF files map "gelu" to
"gelu_exact" (see bert_tf.checkpoints.hf).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bert_tf")
def gelu_tanh(x):
    """GELU, tanh approximation (Google BERT's `gelu`)."""
    return ops.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="bert_tf")
def gelu_exact(x):
    """GELU, exact erf form (HF/PyTorch `gelu`): `0.5 * x * erfc(-x / sqrt(2))`.

    The ops of `tf.nn.gelu(x, approximate=False)` with the sign folded into the constant
    (`x * -c` rather than `-x * c`): bit-identical values and gradients, one elementwise pass
    fewer in each direction.
    """
    x = ops.convert_to_tensor(x)
    return 0.5 * x * ops.erfc(x * ops.cast(-0.7071067811865476, x.dtype))


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
