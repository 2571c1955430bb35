"""BertTransformerBlock: one post-LayerNorm BERT layer (`bert/encoder/layer_{i}/*`)."""

import keras

from bert_tf.modeling.activations import get_activation
from bert_tf.modeling.attention import BertSelfAttention
from bert_tf.modeling.fused_dense import BertDense
from bert_tf.modeling.fused_dropout import BertDropout
from bert_tf.modeling.fused_layer_norm import BertLayerNorm


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTransformerBlock(keras.layers.Layer):
    """Self-attention and feed-forward sub-blocks, each `x = LN(x + Dropout(Dense(f(x))))`.

    Variables map one to one onto Google's names: `attention/self/{query,key,value}`,
    `attention/output/dense`, `attention/output/LayerNorm`, `intermediate/dense`,
    `output/dense`, `output/LayerNorm`.

    With `first_token_only=True` the block returns only position 0 ([batch, 1, H]): every
    position still serves as key and value, but the query, output projection, feed-forward
    and LayerNorms run for [CLS] alone. The values equal the full block's position 0; a
    [CLS]-pooled classifier uses this for its last block and skips most of that block's work.

    Args:
        hidden_size: width H.
        num_heads: attention heads; must divide H.
        intermediate_size: feed-forward inner width.
        hidden_act: activation name (see bert_tf.modeling.activations).
        dropout_rate: dropout on both residual branches.
        attention_dropout_rate: dropout on attention probabilities.
        initializer_range: stddev of the truncated-normal kernel initializer.
        layer_norm_eps: LayerNorm epsilon.

    Example:
    >>> block = BertTransformerBlock(hidden_size=32, num_heads=4, intermediate_size=64)
    >>> block(keras.random.normal((2, 5, 32)), attention_mask_bias(ops.ones((2, 5)))).shape
    (2, 5, 32)
    """

    def __init__(self, hidden_size, num_heads, intermediate_size, hidden_act="gelu",
                 dropout_rate=0.1, attention_dropout_rate=0.1, initializer_range=0.02,
                 layer_norm_eps=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.dropout_rate = dropout_rate
        self.attention_dropout_rate = attention_dropout_rate
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        dtype = self.dtype_policy
        self.attention = BertSelfAttention(
            num_heads, hidden_size // num_heads, dropout_rate=attention_dropout_rate,
            initializer_range=initializer_range, dtype=dtype, name="attention")
        self.attention_output = BertDense(
            hidden_size, kernel_initializer=init, dtype=dtype, name="attention_output")
        self.attention_layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype="float32", half_output=True,
            name="attention_layer_norm")
        self.intermediate = BertDense(
            intermediate_size, activation=get_activation(hidden_act), kernel_initializer=init,
            dtype=dtype, name="intermediate")
        self.output_dense = BertDense(hidden_size, kernel_initializer=init, dtype=dtype,
                                      name="output")
        self.output_layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype="float32", half_output=True,
            name="output_layer_norm")
        self.dropout = BertDropout(dropout_rate, dtype=dtype)

    def build(self, input_shape):
        inner = tuple(input_shape[:-1]) + (self.intermediate_size,)
        self.attention.build(input_shape)
        self.attention_output.build(input_shape)
        self.attention_layer_norm.build(input_shape)
        self.intermediate.build(input_shape)
        self.output_dense.build(inner)
        self.output_layer_norm.build(input_shape)
        self.built = True

    def call(self, x, mask_bias, training=False, first_token_only=False):
        # x: [batch, seq, H] -> [batch, seq, H] ([batch, 1, H] with first_token_only)
        keys = x
        if first_token_only:
            x = x[:, :1, :]
        context = self.attention(keys, mask_bias, training=training,
                                 query=x if first_token_only else None)
        attended = self.dropout(self.attention_output(context), training=training)
        x = self.attention_layer_norm(x + attended)
        x = keras.ops.cast(x, self.compute_dtype)
        ffn = self.output_dense(self.intermediate(x))  # [batch, seq, I] -> [batch, seq, H]
        x = self.output_layer_norm(x + self.dropout(ffn, training=training))
        return keras.ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, x_shape, mask_bias_shape=None):
        # Argument names match call()'s, as Keras requires to infer shapes of symbolic calls.
        return tuple(x_shape)

    def compute_output_spec(self, x, mask_bias, training=False, first_token_only=False):
        shape = tuple(x.shape)
        if first_token_only:
            shape = shape[:1] + (1,) + shape[2:]
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size, num_heads=self.num_heads,
            intermediate_size=self.intermediate_size, hidden_act=self.hidden_act,
            dropout_rate=self.dropout_rate, attention_dropout_rate=self.attention_dropout_rate,
            initializer_range=self.initializer_range, layer_norm_eps=self.layer_norm_eps)
        return config
