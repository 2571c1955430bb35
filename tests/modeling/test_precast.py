"""precast_weights: Dense weights cast once give the same bits as Keras' cast at every read."""

import contextlib

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf.modeling import BertClassifier, BertConfig, gelu_exact, gelu_tanh
from bert_tf.modeling.fused_dense import BertDense
from bert_tf.modeling.portable import portable_ops
from bert_tf.modeling.precast import cast_weights, precast_layers, precast_weights
from support.graphs import dtype_policy, graph_casts_of_variables

ACTIVATIONS = {"none": None, "gelu_tanh": gelu_tanh, "gelu_exact": gelu_exact, "tanh": "tanh"}


def _dense(activation, policy, units=48, fan_in=24):
    rng = np.random.default_rng(0)
    layer = BertDense(units, activation=activation, dtype=policy)
    layer.build((None, None, fan_in))
    layer.set_weights([rng.standard_normal((fan_in, units)).astype(np.float32),
                       (2 * rng.standard_normal(units)).astype(np.float32)])
    return layer


class _Holder(keras.layers.Layer):
    """A layer that owns `inner`, so that `precast_layers` finds it as it finds a model's."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner


@pytest.mark.parametrize("portable", [False, True])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_a_precast_layer_gives_keras_bits(activation, policy, portable):
    layer = _dense(ACTIVATIONS[activation], policy)
    x = tf.cast(tf.constant(np.random.default_rng(1).standard_normal((3, 17, 24))),
                layer.compute_dtype)
    (found,) = precast_layers(_Holder(layer))
    values = cast_weights([found])

    def precast(x, values):
        with precast_weights([found], values):
            return layer(x)

    with portable_ops() if portable else contextlib.nullcontext():
        for fn in (lambda f: f, tf.function):  # eager and traced
            want = fn(layer)(x)
            got = fn(precast)(x, values)
            assert got.dtype == want.dtype == layer.compute_dtype
            np.testing.assert_array_equal(tf.cast(got, tf.float32), tf.cast(want, tf.float32))
        assert len(graph_casts_of_variables(layer, x)) == 2  # Keras casts kernel and bias
        assert graph_casts_of_variables(precast, x, values) == []


def test_a_mixed_precision_classifier_predicts_the_same_bits(tiny_config_dict):
    with dtype_policy("mixed_bfloat16"):
        model = BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=3).ensure_built()
    layers = precast_layers(model)
    # query, key, value, attention output, intermediate and output in every block
    assert len(layers) == 6 * tiny_config_dict["num_hidden_layers"]
    rng = np.random.default_rng(0)
    features = {"input_word_ids": tf.constant(rng.integers(5, 90, (4, 16)), tf.int32),
                "input_mask": tf.constant(np.arange(16) < [[16], [9], [12], [5]], tf.int32),
                "input_type_ids": tf.zeros((4, 16), tf.int32)}

    def predict(features, values):
        with precast_weights(layers, values):
            return model(features, training=False)

    values = cast_weights(layers)
    want = tf.function(lambda f: model(f, training=False))(features)
    got = tf.function(predict)(features, values)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    # Only the pooler (Keras' Dense) still casts its weights: 2 of them.
    assert len(graph_casts_of_variables(lambda f: model(f, training=False), features)) \
        == 2 * len(layers) + 2
    assert len(graph_casts_of_variables(predict, features, values)) == 2


def test_float32_and_lora_layers_are_left_out(tiny_config_dict):
    model = BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=2).ensure_built()
    assert precast_layers(model) == []
    lora = _dense(None, "mixed_bfloat16")
    lora.enable_lora(2)
    assert precast_layers(_Holder(lora)) == []
    assert len(precast_layers(_Holder(_dense(None, "mixed_bfloat16")))) == 1
