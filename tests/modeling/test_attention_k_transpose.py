"""The bench-driven attention change (K^T straight from the key projection) gives bit-identical
values and gradients."""

import math

import numpy as np
import tensorflow as tf
from keras import ops

from bert_tf.modeling.attention import BertSelfAttention, attention_mask_bias


def test_attention_with_k_transposed_once_is_bit_identical():
    layer = BertSelfAttention(num_heads=4, head_size=16, dropout_rate=0.0)
    x = tf.random.stateless_normal((3, 11, 64), seed=(1, 2))
    mask = tf.constant(np.array([[1] * 11, [1] * 7 + [0] * 4, [1] * 3 + [0] * 8], np.int32))
    bias = attention_mask_bias(mask)
    layer(x, bias)  # builds the variables

    @tf.function  # graph mode, as in training: Grappler folds transposes into the matmul
    def value_and_grads(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return y, tape.gradient(y, [x] + layer.trainable_weights)

    def reference(x):  # the formula as first written: Q K^T with K^T transposed from [b, A, s, D]
        batch, seq = 3, 11
        q, k, v = (layer._split_heads(d(x), batch, seq) for d in (layer.query, layer.key, layer.value))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (1.0 / math.sqrt(16.0))
        probs = ops.softmax(scores + bias, axis=-1)
        context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
        return ops.reshape(context, (batch, seq, 64))

    ours, ours_grad = value_and_grads(lambda t: layer(t, bias))
    theirs, theirs_grad = value_and_grads(reference)
    assert ours.numpy().tobytes() == theirs.numpy().tobytes()
    for a, b in zip(ours_grad, theirs_grad):
        assert a.numpy().tobytes() == b.numpy().tobytes()
