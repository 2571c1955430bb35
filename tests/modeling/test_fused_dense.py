"""BertDense (XLA-compiled half-precision bias add and GELU) against Keras' Dense."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf.modeling import fused_dense, gelu_exact, gelu_tanh
from bert_tf.modeling.fused_dense import BertDense
from bert_tf.modeling.portable import portable_ops

ACTIVATIONS = {"none": None, "gelu_tanh": gelu_tanh, "gelu_exact": gelu_exact}


def pair(units, fan_in, activation, policy, seed=0):
    """A BertDense and a keras Dense with the same random kernel and bias, under `policy`."""
    rng = np.random.default_rng(seed)
    layers = [cls(units, activation=activation, dtype=policy) for cls in (BertDense,
                                                                           keras.layers.Dense)]
    kernel = rng.standard_normal((fan_in, units)).astype(np.float32)
    bias = (2 * rng.standard_normal(units)).astype(np.float32)  # large: many sums round
    for layer in layers:
        layer.build((None, None, fan_in))
        layer.set_weights([kernel, bias])
    return layers


def values_and_grads(layer, x, dy, fn):
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return [y] + tape.gradient(y, [x] + layer.trainable_variables, output_gradients=dy)

    return [tf.cast(t, tf.float32).numpy() for t in fn(run)(x)]


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16", "float32"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_values_and_gradients_are_keras_dense_bit_for_bit(policy, activation):
    ours, theirs = pair(48, 24, ACTIVATIONS[activation], policy)
    compute = ours.compute_dtype
    rng = np.random.default_rng(1)
    x = tf.cast(tf.constant(rng.standard_normal((3, 17, 24))), compute)
    dy = tf.cast(tf.constant(rng.standard_normal((3, 17, 48))), compute)
    for fn in (lambda f: f, tf.function):  # eager and traced
        got, want = values_and_grads(ours, x, dy, fn), values_and_grads(theirs, x, dy, fn)
        for name, a, b in zip(("y", "dx", "d kernel", "d bias"), got, want):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} ({policy}, {activation})")
    assert got[0].dtype == np.float32 and ours(x).dtype == compute


def test_the_kernels_run_for_half_precision_only(monkeypatch):
    calls = []
    real = fused_dense.fused_bias_add
    monkeypatch.setattr(fused_dense, "fused_bias_add",
                        lambda *args: calls.append(args[2]) or real(*args))
    x = tf.ones((2, 3, 8))
    for activation in (None, gelu_tanh, gelu_exact):
        pair(4, 8, activation, "mixed_bfloat16")[0](x)
    assert calls == [None, True, False]
    pair(4, 8, None, "float32")[0](x)  # float32: Keras' Dense
    pair(4, 8, "relu", "mixed_bfloat16")[0](x)  # other activations: Keras' Dense
    with portable_ops():
        pair(4, 8, gelu_exact, "mixed_bfloat16")[0](x)
    assert calls == [None, True, False]


def test_the_sum_is_rounded_before_the_gelu(monkeypatch):
    # Without the rounding step, GELU of the float32 sum gives other half-precision values.
    rng = np.random.default_rng(2)
    y = tf.cast(tf.constant(rng.standard_normal((64, 96)) * 3), tf.bfloat16)
    bias = tf.cast(tf.constant(rng.standard_normal(96) * 3), tf.bfloat16)
    fused = fused_dense.fused_bias_add(y, bias, False)
    rounded = gelu_exact(tf.nn.bias_add(y, bias))
    unrounded = tf.cast(gelu_exact(tf.cast(y, tf.float32) + tf.cast(bias, tf.float32)),
                        tf.bfloat16)
    np.testing.assert_array_equal(tf.cast(fused, tf.float32), tf.cast(rounded, tf.float32))
    assert not np.array_equal(tf.cast(fused, tf.float32), tf.cast(unrounded, tf.float32))


def test_get_config_round_trip():
    layer = BertDense(8, activation=gelu_tanh, name="intermediate")
    clone = BertDense.from_config(layer.get_config())
    assert clone.units == 8 and clone.activation is gelu_tanh and clone.name == "intermediate"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, BertDense)


def test_a_whole_mixed_precision_model_is_unchanged(tiny_config_dict, monkeypatch):
    from bert_tf.modeling import BertClassifier, BertConfig

    rng = np.random.default_rng(0)
    features = {"input_word_ids": tf.constant(rng.integers(5, 90, (4, 16)), tf.int32),
                "input_mask": tf.constant(np.arange(16) < [[16], [9], [12], [5]], tf.int32),
                "input_type_ids": tf.zeros((4, 16), tf.int32)}

    def logits_and_grads():
        keras.utils.set_random_seed(7)
        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")  # every layer, as --dtype=bfloat16 sets
        try:
            model = BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=3,
                                   pooling="mean", dropout_rate=0.1).ensure_built()
        finally:
            keras.config.set_dtype_policy(policy)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                logits = model(features, training=True)
                loss = tf.reduce_sum(tf.cast(logits, tf.float32) ** 2)
            return [logits] + tape.gradient(loss, model.trainable_variables)

        return [tf.cast(tf.convert_to_tensor(t), tf.float32).numpy()
                for t in step() if t is not None]

    calls = []
    real = fused_dense.fused_bias_add
    monkeypatch.setattr(fused_dense, "fused_bias_add",
                        lambda *args: calls.append(args[2]) or real(*args))
    fused = logits_and_grads()
    assert calls.count(None) >= 5 and calls.count(True) + calls.count(False) >= 1
    monkeypatch.setattr(BertDense, "_fused_activation", lambda self: "no")
    plain = logits_and_grads()
    assert len(fused) == len(plain) > 30
    for a, b in zip(fused, plain):
        np.testing.assert_array_equal(a, b)
