"""BertQuestionAnswerer: encoder + span head (run_squad's model)."""

import keras
from keras import ops

from bert_tf.modeling.dense_heads import BertSpanHead
from bert_tf.modeling.encoder import BertEncoder, deserialize_encoder
from bert_tf.modeling.portable import build_variables


@keras.saving.register_keras_serializable(package="bert_tf")
class BertQuestionAnswerer(keras.Model):
    """Extractive question answering (SQuAD) on top of a `BertEncoder`.

    As the original run_squad.py: the final hidden state of every token goes, without dropout,
    through one dense layer (`cls/squad/output_weights [2, H]`) giving a start and an end
    logit per token. `call` returns them stacked as float32 `[batch, seq, 2]`: start logits
    are `[..., 0]`, end logits `[..., 1]`.

    Args:
        config: a `BertConfig` (or dict) for a fresh encoder; ignored when `encoder` is given.
        encoder: an existing `BertEncoder` to wrap (e.g. one loaded from a checkpoint).
        **kwargs: as `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> model = BertQuestionAnswerer(BertConfig(vocab_size=100, hidden_size=32,
    ...                                         num_hidden_layers=2, num_attention_heads=4,
    ...                                         intermediate_size=64))
    >>> ids = ops.ones((2, 8), "int32")
    >>> model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}).shape
    (2, 8, 2)
    """

    def __init__(self, config=None, encoder=None, **kwargs):
        kwargs.setdefault("name", "bert_question_answerer")
        super().__init__(**kwargs)
        if encoder is None:
            encoder = BertEncoder(config, dtype=self.dtype_policy)
        self.encoder = encoder
        self.config = encoder.config
        self.head = BertSpanHead(self.config.initializer_range, dtype=self.dtype_policy,
                                 name="squad_head")

    def build(self, input_shape=None):
        if not self.encoder.built:  # a wrapped or deserialized encoder may come built
            self.encoder.build(None)
        self.head.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, inputs, training=False):
        sequence = self.encoder(inputs, training=training)["sequence_output"]
        return ops.cast(self.head(sequence, training=training), "float32")  # [batch, seq, 2]

    def ensure_built(self):
        if not self.built or not self.weights:
            build_variables(self, self.encoder.dummy_inputs())
        return self

    def get_config(self):
        # The whole encoder, not only its BertConfig: a wrapped encoder keeps its own name
        # and dtype policy.
        config = super().get_config()
        config.update(encoder=keras.saving.serialize_keras_object(self.encoder))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_encoder(config))

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Encoder (and span head, when the checkpoint has `cls/squad/*`) from `path`."""
        from bert_tf.checkpoints.pretrained import load_pretrained
        return load_pretrained(path, model_class=cls, **kwargs)
