"""The XLA kernels give the same bits whatever ran before them, and with or without a tape.

Each kernel is a `tf.function` with `reduce_retracing`: after calls at a few shapes it traces a
shape-generic version, which later shapes share. Called eagerly while a `GradientTape` watched
its input, that generic version gave other bits than an untaped call (the tanh GELU at the far
negative tail, 30 of 2448 values in `test_fused_dense`), so a result depended on which tests
or batch lengths came first. The layers' custom gradients now hand the kernels inputs the tape
does not watch.
"""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.modeling.fused_dense import fused_bias_add
from bert_tf.modeling.fused_dropout import fused_dropout
from bert_tf.modeling.fused_gelu import fused_gelu
from bert_tf.modeling.fused_layer_norm import fused_layer_norm

WIDTH = 48


def _bias(dtype):
    return tf.cast(tf.linspace(-2.0, 2.0, WIDTH), dtype)


KERNELS = {
    "gelu_tanh": lambda x: fused_gelu(x, True),
    "gelu_exact": lambda x: fused_gelu(x, False),
    "bias_add_gelu_tanh": lambda x: fused_bias_add(x, _bias(x.dtype), True),
    "bias_add": lambda x: fused_bias_add(x, _bias(x.dtype)),
    "layer_norm": lambda x: fused_layer_norm(x, tf.ones([WIDTH]), tf.zeros([WIDTH]), 1e-12,
                                             x.dtype),
    "dropout": lambda x: fused_dropout(x, 0.1, tf.constant([3, 4], tf.int32)),
}


def _input(shape, dtype):
    # Wide and shifted negative: many values in the tails where a GELU is most sensitive.
    rng = np.random.default_rng(sum(shape))
    return tf.cast(tf.constant(rng.standard_normal(shape) * 3 - 2, tf.float32), dtype)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_a_kernel_gives_the_same_bits_after_other_shapes_and_under_a_tape(name, dtype):
    kernel = KERNELS[name]
    for shape in [(2, 5, WIDTH), (4, 7, WIDTH), (3, 9, WIDTH)]:  # the generic trace from here
        kernel(_input(shape, dtype))
    x = _input((3, 17, WIDTH), dtype)
    untaped = kernel(x)

    def taped(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            return kernel(x)

    # Eagerly and inside a traced step (as training runs), under a tape: the untaped bits.
    for run in (taped, tf.function(taped)):
        np.testing.assert_array_equal(tf.cast(run(x), tf.float32).numpy(),
                                      tf.cast(untaped, tf.float32).numpy())
