"""BertEmbeddings: word + segment + position embeddings, then LayerNorm and dropout."""

import keras
from keras import ops

from bert_tf.modeling.fused_dropout import BertDropout
from bert_tf.modeling.fused_layer_norm import BertLayerNorm


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(keras.layers.Layer):
    """The input layer of BERT (`bert/embeddings/*` in a Google checkpoint).

    `output = Dropout(LayerNorm(word[ids] + token_type[type_ids] + position[:seq]))`.
    The tables are read in their float32 without autocast, and the three rows are summed in
    float32, so that under a mixed policy only the looked-up rows, not the whole word table, are
    cast, and the table's gradient stays float32. (With the whole table cast every step and its
    gradient a half-precision scatter into it, a BERT-Base mixed-precision training step ran
    2.45x slower on an H200 under XLA: docs/performance.md.) The sum is rounded once to
    the compute dtype; LayerNorm runs in float32 even under a mixed policy.

    Args:
        vocab_size: rows of `word_embeddings`.
        hidden_size: embedding width H.
        max_position_embeddings: rows of `position_embeddings`.
        type_vocab_size: rows of `token_type_embeddings`.
        initializer_range: stddev of the truncated-normal initializer.
        dropout_rate: dropout after the LayerNorm.
        layer_norm_eps: LayerNorm epsilon.

    Example:
    >>> layer = BertEmbeddings(vocab_size=100, hidden_size=32, max_position_embeddings=64,
    ...                        type_vocab_size=2)
    >>> layer(ops.ones((2, 8), "int32"), ops.zeros((2, 8), "int32")).shape
    (2, 8, 32)
    """

    def __init__(self, vocab_size, hidden_size, max_position_embeddings=512, type_vocab_size=2,
                 initializer_range=0.02, dropout_rate=0.1, layer_norm_eps=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.dropout_rate = dropout_rate
        self.layer_norm_eps = layer_norm_eps
        self.layer_norm = BertLayerNorm(
            axis=-1, epsilon=layer_norm_eps, dtype="float32", half_output=True,
            name="embeddings_layer_norm")
        self.dropout = BertDropout(dropout_rate, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.word_embeddings = self.add_weight(
            shape=(self.vocab_size, self.hidden_size), initializer=init, name="word_embeddings",
            autocast=False)
        self.token_type_embeddings = self.add_weight(
            shape=(self.type_vocab_size, self.hidden_size), initializer=init,
            name="token_type_embeddings", autocast=False)
        self.position_embeddings = self.add_weight(
            shape=(self.max_position_embeddings, self.hidden_size), initializer=init,
            name="position_embeddings", autocast=False)
        self.layer_norm.build((None, None, self.hidden_size))
        self.built = True

    def call(self, input_ids, type_ids, training=False):
        # input_ids, type_ids: [batch, seq] int -> [batch, seq, H]
        seq_length = ops.shape(input_ids)[1]
        x = ops.take(self.word_embeddings, input_ids, axis=0)  # float32 rows
        x = x + ops.take(self.token_type_embeddings, type_ids, axis=0)
        x = x + ops.expand_dims(self.position_embeddings[:seq_length], 0)
        x = self.layer_norm(ops.cast(x, self.compute_dtype))
        return self.dropout(x, training=training)

    def compute_output_shape(self, input_ids_shape, type_ids_shape=None):
        # Argument names match call()'s, as Keras requires to infer shapes of symbolic calls.
        return tuple(input_ids_shape) + (self.hidden_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size, initializer_range=self.initializer_range,
            dropout_rate=self.dropout_rate, layer_norm_eps=self.layer_norm_eps)
        return config
