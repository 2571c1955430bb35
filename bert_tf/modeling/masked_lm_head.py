"""BertMaskedLMHead: the `cls/predictions/*` head, decoder tied to the word embeddings."""

import keras
from keras import ops

from bert_tf.modeling.activations import get_activation
from bert_tf.modeling.fused_layer_norm import BertLayerNorm


def gather_positions(sequence, positions):
    """[batch, seq, H] and int [batch, P] -> [batch, P, H] (the original's gather_indexes)."""
    return ops.take_along_axis(sequence, ops.expand_dims(ops.cast(positions, "int32"), -1), axis=1)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMaskedLMHead(keras.layers.Layer):
    """Masked-LM logits: `LN(act(Dense(h))) @ word_embeddings^T + output_bias`.

    The decoder matrix is the encoder's word-embedding table, passed in at call time so that
    the head owns only `transform/dense`, `transform/LayerNorm` and `output_bias`.
    Logits come out in float32, from the float32 table even under a mixed policy.

    Args:
        vocab_size: size of the output vocabulary (rows of the tied table).
        hidden_size: width H.
        hidden_act: activation of the transform (Google: the config's hidden_act).
        initializer_range: stddev of the truncated-normal kernel initializer.
        layer_norm_eps: LayerNorm epsilon.

    Example:
    >>> head = BertMaskedLMHead(vocab_size=100, hidden_size=32)
    >>> table = keras.random.normal((100, 32))
    >>> head(keras.random.normal((2, 8, 32)), ops.zeros((2, 3), "int32"), table).shape
    (2, 3, 100)
    """

    def __init__(self, vocab_size, hidden_size, hidden_act="gelu", initializer_range=0.02,
                 layer_norm_eps=1e-12, **kwargs):
        # No autocast: under a mixed policy Keras would cast every float argument, the whole
        # [vocab, H] table too, to half precision (and call() would cast it back up). The
        # transform Dense casts its own input; the decoder reads the float32 table as it is.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.transform = keras.layers.Dense(
            hidden_size, activation=get_activation(hidden_act),
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype=self.dtype_policy, name="transform")
        self.transform_layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype="float32", name="transform_layer_norm")

    def build(self, sequence_output_shape=None, masked_positions_shape=None,
              embedding_table_shape=None):
        # Argument names match call()'s, as Keras requires for a build() with several.
        self.transform.build((None, None, self.hidden_size))
        self.transform_layer_norm.build((None, None, self.hidden_size))
        self.output_bias = self.add_weight(
            shape=(self.vocab_size,), initializer="zeros", name="output_bias")
        self.built = True

    def call(self, sequence_output, masked_positions, embedding_table):
        # sequence_output [batch, seq, H], masked_positions [batch, P] -> logits [batch, P, V]
        x = gather_positions(sequence_output, masked_positions)
        x = self.transform_layer_norm(self.transform(x))  # float32
        table = ops.cast(embedding_table, "float32")
        return ops.matmul(x, ops.transpose(table)) + ops.cast(self.output_bias, "float32")

    def compute_output_spec(self, sequence_output, masked_positions, embedding_table):
        return keras.KerasTensor(tuple(masked_positions.shape) + (self.vocab_size,), "float32")

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                      hidden_act=self.hidden_act, initializer_range=self.initializer_range,
                      layer_norm_eps=self.layer_norm_eps)
        return config
