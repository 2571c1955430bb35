"""BertLayerNorm (XLA-compiled LayerNorm) against Keras' LayerNormalization and the formula."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf.modeling.fused_layer_norm import BertLayerNorm
from bert_tf.modeling.portable import portable_ops


def pair(width, seed=0, **kwargs):
    """A BertLayerNorm and a Keras LayerNormalization with the same random gamma and beta."""
    rng = np.random.default_rng(seed)
    ours = BertLayerNorm(epsilon=1e-12, **kwargs)
    theirs = keras.layers.LayerNormalization(epsilon=1e-12, **kwargs)
    for layer in (ours, theirs):
        layer.build((None, width))
    gamma = 1 + 0.1 * rng.standard_normal(width).astype(np.float32)
    beta = 0.1 * rng.standard_normal(width).astype(np.float32)
    for layer in (ours, theirs):
        layer.set_weights([gamma, beta])
    return ours, theirs


def values_and_grads(layer, x, dy, variables=None):
    variables = layer.trainable_variables if variables is None else variables
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    grads = tape.gradient(y, [x] + variables, output_gradients=dy)
    return [y] + grads


@pytest.mark.parametrize("shape", [(4, 7, 96), (3, 1, 32), (64, 384)])
def test_values_and_gradients_match_keras(shape):
    rng = np.random.default_rng(1)
    x = tf.constant(3 * rng.standard_normal(shape) + 1, tf.float32)
    dy = tf.constant(rng.standard_normal(shape), tf.float32)
    ours, theirs = pair(shape[-1])
    for fn in (lambda f: f, tf.function):  # eager and traced
        got = fn(lambda x: values_and_grads(ours, x, dy))(x)
        want = fn(lambda x: values_and_grads(theirs, x, dy))(x)
        for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), got, want):
            a, b = a.numpy(), b.numpy()
            scale = max(1.0, float(np.abs(b).max()))
            assert np.abs(a - b).max() <= 2e-6 * scale, name


def test_values_match_the_float64_formula():
    rng = np.random.default_rng(2)
    x = (5 * rng.standard_normal((8, 50, 64)) - 2).astype(np.float32)
    ours, _ = pair(64)
    gamma, beta = [w.astype(np.float64) for w in ours.get_weights()]
    x64 = x.astype(np.float64)
    mean = x64.mean(-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(-1, keepdims=True)
    want = (x64 - mean) / np.sqrt(var + 1e-12) * gamma + beta
    assert np.abs(ours(x).numpy() - want).max() < 5e-6


def test_the_layer_runs_xla_kernels_except_in_portable_ops():
    ours, _ = pair(16)

    def compiled_calls():
        graph = tf.function(ours).get_concrete_function(tf.TensorSpec([2, 3, 16])).graph
        return sum(1 for op in graph.get_operations()
                   if "_XlaMustCompile" in op.node_def.attr and op.get_attr("_XlaMustCompile"))

    assert compiled_calls() == 1
    with portable_ops():
        assert compiled_calls() == 0


def test_mixed_bfloat16_inputs_are_normalised_in_float32():
    ours, theirs = pair(32)
    x = tf.cast(tf.random.normal((4, 6, 32)) * 4, tf.bfloat16)
    policy_ours = BertLayerNorm(epsilon=1e-12, dtype="mixed_bfloat16")
    policy_ours.build((None, 32))
    policy_ours.set_weights(ours.get_weights())
    y = policy_ours(x)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    want = theirs(tf.cast(x, tf.float32)).numpy()
    assert np.abs(tf.cast(y, tf.float32).numpy() - want).max() <= 2.0**-7 * np.abs(want).max()


def test_other_axes_fall_back_to_keras():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    ours, theirs = BertLayerNorm(axis=1), keras.layers.LayerNormalization(axis=1)
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), atol=1e-6)


def test_same_variables_and_config_as_keras():
    ours = BertLayerNorm(epsilon=1e-12, name="LayerNorm")
    ours.build((None, 8))
    assert isinstance(ours, keras.layers.LayerNormalization)
    assert [v.path.split("/")[-1] for v in ours.weights] == ["gamma", "beta"]
    clone = BertLayerNorm.from_config(ours.get_config())
    assert clone.epsilon == 1e-12 and clone.name == "LayerNorm"


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_inputs_and_half_output_equal_the_casts_bit_for_bit(dtype):
    """A half input goes in without a cast op, and `half_output` rounds once on the way out:
    values and gradients are those of cast -> LayerNorm(float32) -> cast."""
    rng = np.random.default_rng(4)
    x = tf.cast(tf.constant(3 * rng.standard_normal((4, 9, 48)) + 1), dtype)
    dy = tf.cast(tf.constant(rng.standard_normal((4, 9, 48))), dtype)
    ours, _ = pair(48)
    half = BertLayerNorm(epsilon=1e-12, half_output=True)
    half.build((None, 48))
    half.set_weights(ours.get_weights())

    def with_casts(x):  # what Keras' input cast and the block's output cast compute
        return tf.cast(ours(tf.cast(x, tf.float32)), dtype)

    for fn in (lambda f: f, tf.function):
        got = fn(lambda x: values_and_grads(half, x, dy))(x)
        want = fn(lambda x: values_and_grads(with_casts, x, dy, ours.trainable_variables))(x)
        assert got[0].dtype == want[0].dtype == tf.as_dtype(dtype)
        assert got[1].dtype == tf.as_dtype(dtype)  # dx in the input's dtype
        for a, b in zip(got[:2], want[:2]):
            np.testing.assert_array_equal(tf.cast(a, tf.float32).numpy(),
                                          tf.cast(b, tf.float32).numpy())
        for a, b in zip(got[2:], want[2:]):  # d gamma, d beta: float32 column sums
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    # Without half_output the output stays in the layer's float32.
    assert ours(x).dtype == tf.float32
    assert BertLayerNorm.from_config(half.get_config()).half_output
