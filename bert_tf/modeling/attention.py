"""BertSelfAttention: multi-head scaled dot-product self-attention with BERT's padding mask."""

import math

import keras
from keras import ops

from bert_tf.modeling.fused_dense import BertDense
from bert_tf.modeling.fused_dropout import BertDropout


def attention_mask_bias(input_mask, dtype="float32"):
    """[batch, seq] 0/1 mask -> [batch, 1, 1, seq] additive bias: 0 for tokens, -10000 for padding.

    The original adds `(1 - mask) * -10000.0` to the scores before the softmax.
    """
    mask = ops.cast(input_mask, dtype)
    return ops.reshape((1.0 - mask) * -10000.0, (ops.shape(mask)[0], 1, 1, ops.shape(mask)[1]))


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSelfAttention(keras.layers.Layer):
    """The `attention/self` block of a BERT layer: query/key/value projections and attention.

    Returns the per-head contexts merged back to [batch, seq, H]; the output projection and
    residual LayerNorm live in `BertTransformerBlock`, as in Google's variable layout.
    Scores are scaled by 1/sqrt(head_size) after the product, masked, and softmaxed in float32.
    `query` (default: `x`) gives the positions that attend, e.g. `x[:, :1]` when only [CLS]'s
    output is needed; keys and values always come from all of `x`.

    Args:
        num_heads: attention heads A.
        head_size: width of each head (H / A).
        dropout_rate: dropout on the attention probabilities.
        initializer_range: stddev of the truncated-normal kernel initializer.

    Example:
    >>> attn = BertSelfAttention(num_heads=4, head_size=8)
    >>> x = keras.random.normal((2, 5, 32))
    >>> attn(x, attention_mask_bias(ops.ones((2, 5)))).shape
    (2, 5, 32)
    """

    def __init__(self, num_heads, head_size, dropout_rate=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_size = head_size
        self.dropout_rate = dropout_rate
        self.initializer_range = initializer_range
        width = num_heads * head_size
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        dtype = self.dtype_policy
        self.query = BertDense(width, kernel_initializer=init, dtype=dtype, name="query")
        self.key = BertDense(width, kernel_initializer=init, dtype=dtype, name="key")
        self.value = BertDense(width, kernel_initializer=init, dtype=dtype, name="value")
        self.dropout = BertDropout(dropout_rate, dtype=dtype)

    def build(self, input_shape):
        for dense in (self.query, self.key, self.value):
            dense.build(input_shape)
        self.built = True

    def _split_heads(self, x, batch, seq, perm=(0, 2, 1, 3)):
        # [batch, seq, A*D] -> [batch, A, seq, D] (or the order `perm` gives)
        x = ops.reshape(x, (batch, seq, self.num_heads, self.head_size))
        return ops.transpose(x, perm)

    def call(self, x, mask_bias, training=False, query=None):
        # x: [batch, seq, H]; mask_bias: [batch, 1, 1, seq] float32 additive bias;
        # query: [batch, q_seq, H] (default x) -> output [batch, q_seq, H].
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        query = x if query is None else query
        q_seq = ops.shape(query)[1]
        q = self._split_heads(self.query(query), batch, q_seq)
        # K^T straight from the projection ([batch, A, D, seq]): one transpose, and a plain
        # batched matmul, which is faster on CPU than the transposed-operand form (same values).
        k_t = self._split_heads(self.key(x), batch, seq, perm=(0, 2, 3, 1))
        v = self._split_heads(self.value(x), batch, seq)
        scores = ops.matmul(q, k_t)  # [batch, A, q_seq, seq]
        scores = ops.cast(scores, "float32") * (1.0 / math.sqrt(float(self.head_size)))
        probs = ops.softmax(scores + ops.cast(mask_bias, "float32"), axis=-1)
        probs = self.dropout(ops.cast(probs, self.compute_dtype), training=training)
        context = ops.matmul(probs, v)  # [batch, A, q_seq, D]
        context = ops.transpose(context, (0, 2, 1, 3))
        return ops.reshape(context, (batch, q_seq, self.num_heads * self.head_size))

    def compute_output_shape(self, x_shape, mask_bias_shape=None, query_shape=None):
        # Argument names match call()'s, as Keras requires to infer shapes of symbolic calls.
        rows = x_shape if query_shape is None else query_shape
        return tuple(rows[:-1]) + (self.num_heads * self.head_size,)

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, head_size=self.head_size,
                      dropout_rate=self.dropout_rate, initializer_range=self.initializer_range)
        return config
