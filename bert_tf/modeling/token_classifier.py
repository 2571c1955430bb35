"""BertTokenClassifier: encoder + per-token classification head (run_ner's model)."""

import keras
from keras import ops

from bert_tf.modeling.dense_heads import BertTokenClassificationHead
from bert_tf.modeling.encoder import BertEncoder, deserialize_encoder
from bert_tf.modeling.portable import build_variables


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenClassifier(keras.Model):
    """Token classification (NER tagging) on top of a `BertEncoder`.

    The final hidden state of every token goes through dropout and one dense layer (stored as
    the top-level `output_weights [num_labels, H]` / `output_bias` of a Google folder, the names
    run_classifier's head uses, and `classifier.*` in HF's `BertForTokenClassification`).
    `call` returns float32 logits `[batch, seq, num_labels]`.

    Args:
        config: a `BertConfig` (or dict) for a fresh encoder; ignored when `encoder` is given.
        num_labels: tag classes.
        dropout_rate: dropout before the output layer (0.1, as BERT's fine-tuning heads).
        encoder: an existing `BertEncoder` to wrap (e.g. one loaded from a checkpoint).
        **kwargs: as `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> model = BertTokenClassifier(BertConfig(vocab_size=100, hidden_size=32,
    ...                                        num_hidden_layers=2, num_attention_heads=4,
    ...                                        intermediate_size=64), num_labels=5)
    >>> ids = ops.ones((2, 8), "int32")
    >>> model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}).shape
    (2, 8, 5)
    """

    def __init__(self, config=None, num_labels=2, dropout_rate=0.1, encoder=None, **kwargs):
        kwargs.setdefault("name", "bert_token_classifier")
        super().__init__(**kwargs)
        if encoder is None:
            encoder = BertEncoder(config, dtype=self.dtype_policy)
        self.encoder = encoder
        self.config = encoder.config
        self.num_labels = num_labels
        self.dropout_rate = dropout_rate
        self.head = BertTokenClassificationHead(
            num_labels, dropout_rate, self.config.initializer_range, dtype=self.dtype_policy,
            name="token_head")

    def build(self, input_shape=None):
        if not self.encoder.built:  # a wrapped or deserialized encoder may come built
            self.encoder.build(None)
        self.head.build((None, None, self.config.hidden_size))
        self.built = True

    def call(self, inputs, training=False):
        sequence = self.encoder(inputs, training=training)["sequence_output"]
        return ops.cast(self.head(sequence, training=training), "float32")  # [b, seq, labels]

    def ensure_built(self):
        if not self.built or not self.weights:
            build_variables(self, self.encoder.dummy_inputs())
        return self

    def get_config(self):
        config = super().get_config()
        config.update(num_labels=self.num_labels, dropout_rate=self.dropout_rate,
                      encoder=keras.saving.serialize_keras_object(self.encoder))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_encoder(config))

    @classmethod
    def from_pretrained(cls, path, num_labels=2, **kwargs):
        """Encoder (and head, when the checkpoint has `output_weights`) from `path`."""
        from bert_tf.checkpoints.pretrained import load_pretrained
        return load_pretrained(path, model_class=cls, num_labels=num_labels, **kwargs)
