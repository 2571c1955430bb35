"""BertClassifier: encoder + pooling + classification head (run_classifier's model)."""

import keras
from keras import ops

from bert_tf.modeling.dense_heads import BertClassificationHead
from bert_tf.modeling.encoder import BertEncoder, deserialize_encoder
from bert_tf.modeling.portable import build_variables

POOLINGS = ("cls", "mean")


def masked_mean(sequence_output, input_mask):
    """Mean of the real tokens: [batch, seq, H], [batch, seq] -> [batch, H] (float32)."""
    mask = ops.expand_dims(ops.cast(input_mask, "float32"), -1)
    total = ops.sum(ops.cast(sequence_output, "float32") * mask, axis=1)
    return total / ops.maximum(ops.sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(keras.Model):
    """Sequence (pair) classification or regression on top of a `BertEncoder`.

    `pooling="cls"` is the original: the pooler's tanh([CLS]) vector. `pooling="mean"`
    averages the final hidden states of the real tokens instead, which fine-tunes better from
    sentence-embedding checkpoints such as MiniLM whose pooler was never trained.

    Args:
        config: a `BertConfig` (or dict) for a fresh encoder; ignored when `encoder` is given.
        num_labels: classes (1 for regression).
        pooling: "cls" or "mean".
        dropout_rate: dropout before the output layer (0.1 in the original).
        encoder: an existing `BertEncoder` to wrap (e.g. one loaded from a checkpoint).
        **kwargs: as `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> model = BertClassifier(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
    ...                                   num_attention_heads=4, intermediate_size=64),
    ...                        num_labels=3)
    >>> ids = ops.ones((2, 8), "int32")
    >>> model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}).shape
    (2, 3)
    """

    def __init__(self, config=None, num_labels=2, pooling="cls", dropout_rate=0.1,
                 encoder=None, **kwargs):
        kwargs.setdefault("name", "bert_classifier")
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"--pooling must be one of {POOLINGS}, got {pooling!r}")
        if encoder is None:
            encoder = BertEncoder(config, dtype=self.dtype_policy)
        self.encoder = encoder
        self.config = encoder.config
        self.num_labels = num_labels
        self.pooling = pooling
        self.dropout_rate = dropout_rate
        self.head = BertClassificationHead(
            num_labels, dropout_rate, self.config.initializer_range, dtype=self.dtype_policy,
            name="classifier_head")

    def build(self, input_shape=None):
        if not self.encoder.built:  # a wrapped or deserialized encoder may come built
            self.encoder.build(None)
        self.head.build((None, self.config.hidden_size))
        self.built = True

    def call(self, inputs, training=False):
        if self.pooling == "cls":
            # The last block runs for [CLS] only: same logits, about 1/L less encoder work.
            pooled = self.encoder(inputs, training=training, pooled_only=True)["pooled_output"]
        else:
            outputs = self.encoder(inputs, training=training)
            pooled = masked_mean(outputs["sequence_output"], inputs["input_mask"])
        return self.head(pooled, training=training)  # [batch, num_labels] float32

    def ensure_built(self):
        if not self.built or not self.weights:
            build_variables(self, self.encoder.dummy_inputs())
        return self

    def get_config(self):
        # The whole encoder, not only its BertConfig: a wrapped encoder keeps its own name
        # and dtype policy.
        config = super().get_config()
        config.update(encoder=keras.saving.serialize_keras_object(self.encoder),
                      num_labels=self.num_labels, pooling=self.pooling,
                      dropout_rate=self.dropout_rate)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_encoder(config))

    @classmethod
    def from_pretrained(cls, path, num_labels=2, pooling="cls", dropout_rate=0.1, **kwargs):
        """Encoder (and classifier head, when the checkpoint has `output_weights`) from `path`."""
        from bert_tf.checkpoints.pretrained import load_pretrained
        return load_pretrained(path, model_class=cls, num_labels=num_labels, pooling=pooling,
                               dropout_rate=dropout_rate, **kwargs)
