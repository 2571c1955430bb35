"""BertDropout: drop rate, scaling, independence of the two halves of a word, seeds, gradient."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf.modeling.dropout import LEVELS, BertDropout, drop_threshold


def kept_mask(layer, shape, dtype="float32"):
    y = layer(tf.ones(shape, dtype), training=True)
    return tf.cast(y, tf.float32).numpy() != 0, tf.cast(y, tf.float32).numpy()


def test_inference_and_rate_zero_are_the_identity():
    x = tf.random.normal((4, 8, 6))
    np.testing.assert_array_equal(BertDropout(0.1)(x, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(BertDropout(0.0)(x, training=True).numpy(), x.numpy())
    assert not BertDropout(1.0)(x, training=True).numpy().any()


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_drop_rate_scale_and_expectation(rate):
    # 2M draws: the kept fraction's standard deviation is about 3e-4.
    keep, y = kept_mask(BertDropout(rate, seed=3), (64, 128, 256))
    p_drop = drop_threshold(rate) / LEVELS
    assert abs(p_drop - rate) <= 0.5 / LEVELS
    assert abs(keep.mean() - (1 - p_drop)) < 5 * np.sqrt(p_drop * (1 - p_drop) / keep.size)
    scale = LEVELS / (LEVELS - drop_threshold(rate))
    np.testing.assert_allclose(y[keep], np.float32(scale))  # kept: x / P(keep), dropped: 0
    assert abs(y.mean() - 1.0) < 3e-3  # the expected output is the input


def test_the_two_draws_of_a_word_are_independent():
    keep, _ = kept_mask(BertDropout(0.5, seed=7), (1 << 21,))
    first, second = keep[0::2], keep[1::2]  # the low and high halves of each 32-bit word
    both = (first & second).mean()
    assert abs(both - 0.25) < 5 * np.sqrt(0.25 * 0.75 / first.size)
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.005


@pytest.mark.parametrize("shape", [(3, 5, 7), (1,), (2, 1, 9)])
def test_odd_sizes(shape):
    keep, y = kept_mask(BertDropout(0.3, seed=1), shape)
    assert y.shape == shape and keep.any()


def test_seeded_layers_repeat_and_calls_differ():
    a, b = BertDropout(0.1, seed=11), BertDropout(0.1, seed=11)
    first_a, _ = kept_mask(a, (32, 64))
    first_b, _ = kept_mask(b, (32, 64))
    np.testing.assert_array_equal(first_a, first_b)
    second_a, _ = kept_mask(a, (32, 64))
    assert (first_a != second_a).any()


def test_bfloat16_inputs():
    # Keras' own bfloat16 dropout keeps 115/128 = 0.898 of the elements at rate 0.1.
    layer = BertDropout(0.1, seed=5, dtype="mixed_bfloat16")
    y = layer(tf.ones((256, 256), "bfloat16"), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    keep = tf.cast(y, tf.float32).numpy() != 0
    assert abs(keep.mean() - 0.9) < 5 * np.sqrt(0.09 / keep.size)


def test_gradient_is_the_mask_times_the_scale():
    layer = BertDropout(0.2, seed=2)
    x = tf.random.normal((16, 33))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
    grad = tape.gradient(y, x).numpy()
    keep = y.numpy() != 0
    scale = LEVELS / (LEVELS - drop_threshold(0.2))
    np.testing.assert_allclose(grad, np.where(keep, np.float32(scale), 0.0))


def test_in_a_tf_function_and_under_xla():
    layer = BertDropout(0.1, seed=4)
    for jit in (False, True):
        fn = tf.function(lambda x: layer(x, training=True), jit_compile=jit)
        y = fn(tf.ones((8, 130))).numpy()
        assert 0.8 < (y != 0).mean() < 0.97


def test_config_round_trip():
    layer = BertDropout(0.25, seed=9, name="drop")
    clone = BertDropout.from_config(layer.get_config())
    assert (clone.rate, clone.seed, clone.name) == (0.25, 9, "drop")
