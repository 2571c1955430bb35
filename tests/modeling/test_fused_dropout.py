"""BertDropout (XLA-compiled Philox masks) against Keras' Dropout and TF's Philox kernel."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf.modeling import fused_dropout
from bert_tf.modeling.fused_dropout import BertDropout, keep_threshold
from bert_tf.modeling.portable import portable_ops

DTYPES = ("float32", "bfloat16", "float16")


def as_numpy(t):
    return tf.cast(t, tf.float32).numpy()


def outputs_and_grads(layer, x, dy, calls=3, fn=lambda f: f):
    """Each of `calls` successive training calls (the seed state moves on): (y, dL/dx)."""

    def one(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        return y, tape.gradient(y, x, output_gradients=dy)

    one = fn(one)
    return [tuple(as_numpy(t) for t in one(x)) for _ in range(calls)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,rate", [((7,), 0.1), ((3, 5, 9), 0.5), ((2, 4, 16, 16), 0.1),
                                        ((4, 33, 24), 0.3)])
def test_same_masks_values_and_gradients_as_keras_dropout(dtype, shape, rate):
    rng = np.random.default_rng(0)
    x = tf.cast(tf.constant(rng.standard_normal(shape) + 2.0), dtype)  # no zeros in x
    dy = tf.cast(tf.constant(rng.standard_normal(shape)), dtype)
    for fn in (lambda f: f, tf.function):  # eager and traced
        ours = outputs_and_grads(BertDropout(rate, seed=1234, dtype=dtype), x, dy, fn=fn)
        theirs = outputs_and_grads(keras.layers.Dropout(rate, seed=1234, dtype=dtype), x, dy, fn=fn)
        for (y, dx), (y_ref, dx_ref) in zip(ours, theirs):
            np.testing.assert_array_equal(y, y_ref)
            np.testing.assert_array_equal(dx, dx_ref)
        if x.shape.num_elements() >= 1000:
            assert not np.array_equal(ours[0][0], ours[1][0])  # the seed state moved on
            assert abs(np.mean(ours[0][0] == 0) - rate) < 0.03


def test_the_fused_kernels_run_on_tensorflow_and_not_in_portable_ops(monkeypatch):
    calls = []
    real = fused_dropout.fused_dropout
    monkeypatch.setattr(fused_dropout, "fused_dropout",
                        lambda *args: calls.append(1) or real(*args))
    layer, x = BertDropout(0.1, seed=3), tf.ones((4, 8))
    layer(x, training=True)
    assert len(calls) == 1
    layer(x, training=False)
    with portable_ops():
        layer(x, training=True)
    BertDropout(0.1, noise_shape=(1, 8))(x, training=True)
    assert len(calls) == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_keep_bits_equal_tf_uniform_draws_across_counter_carries(dtype):
    """The mask is `StatelessRandomUniformV2 >= rate` for counters whose words carry."""
    keep_bits, _ = fused_dropout._kernels()
    size = 4 * 64 + 3  # a partial last block
    for counter in ([2**32 - 3, 5], [2**64 - 2, 0], [2**64 - 1, 2**64 - 1], [12345, 678]):
        key = tf.constant([987654321], tf.uint64)
        counter = tf.constant(counter, tf.uint64)
        uniform = tf.raw_ops.StatelessRandomUniformV2(shape=[size], key=key, counter=counter,
                                                      dtype=tf.as_dtype(dtype), alg=1)  # Philox
        expected = as_numpy(uniform) >= as_numpy(tf.constant(0.1, dtype))
        packed = keep_bits(tf.zeros([size], dtype), key, counter, keep_threshold(0.1, dtype),
                           fused_dropout.MANTISSA_BITS[dtype]).numpy()
        bits = (packed[:, None] >> np.arange(4, dtype=np.uint32)) & 1
        np.testing.assert_array_equal(bits.reshape(-1)[:size].astype(bool), expected)


def test_keep_threshold_uses_the_rate_rounded_to_the_dtype():
    # 0.1 is 0.100000001 in float32, 0.10009765625 in bfloat16, 0.0999755859375 in float16.
    assert keep_threshold(0.1, "float32") == 838861  # ceil(0.100000001 * 2**23)
    assert keep_threshold(0.1, "bfloat16") == 13  # 12/128 < 0.1001 <= 13/128
    assert keep_threshold(0.1, "float16") == 103  # 102/1024 < 0.09998 <= 103/1024
    assert keep_threshold(0.5, "bfloat16") == 64
