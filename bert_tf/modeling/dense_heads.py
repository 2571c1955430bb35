"""Small dense heads on the encoder outputs: next-sentence, classification, span, per-token.

Each is one Dense layer (plus dropout where the original fine-tuning code has it) producing
float32 logits. Google stores these kernels as `output_weights [out, in]`; the checkpoint
mapping transposes them into Keras' `[in, out]`.
"""

import keras

from bert_tf.modeling.fused_dropout import BertDropout


class _LogitsHead(keras.layers.Layer):
    """Shared body: optional dropout, then Dense(num_outputs) in float32."""

    def __init__(self, num_outputs, dropout_rate=0.0, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.dropout_rate = dropout_rate
        self.initializer_range = initializer_range
        self.dropout = BertDropout(dropout_rate, dtype=self.dtype_policy)
        self.dense = keras.layers.Dense(
            num_outputs, kernel_initializer=keras.initializers.TruncatedNormal(
                stddev=initializer_range),
            dtype="float32", name="logits")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, x, training=False):
        return self.dense(self.dropout(x, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_outputs,)

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, dropout_rate=self.dropout_rate,
                      initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class BertNextSentenceHead(_LogitsHead):
    """`cls/seq_relationship`: pooled_output [batch, H] -> logits [batch, 2] (1 = random next).

    Args:
        initializer_range: stddev of the kernel initializer.

    Example:
    >>> BertNextSentenceHead()(keras.random.normal((2, 32))).shape
    (2, 2)
    """

    def __init__(self, initializer_range=0.02, **kwargs):
        kwargs.pop("num_outputs", None)
        kwargs.pop("dropout_rate", None)
        super().__init__(2, 0.0, initializer_range, **kwargs)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassificationHead(_LogitsHead):
    """run_classifier's head: `Dropout(0.1)` on the pooled vector, then `output_weights`.

    Args:
        num_labels: classes (1 for regression).
        dropout_rate: dropout before the dense layer (0.1 in the original).
        initializer_range: stddev of the kernel initializer.

    Example:
    >>> BertClassificationHead(3)(keras.random.normal((2, 32))).shape
    (2, 3)
    """

    def __init__(self, num_labels, dropout_rate=0.1, initializer_range=0.02, **kwargs):
        kwargs.pop("num_outputs", None)
        super().__init__(num_labels, dropout_rate, initializer_range, **kwargs)
        self.num_labels = num_labels

    def get_config(self):
        config = super().get_config()
        config["num_labels"] = config.pop("num_outputs")
        return config


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSpanHead(_LogitsHead):
    """SQuAD's `cls/squad`: sequence_output [batch, seq, H] -> start/end logits [batch, seq, 2].

    Args:
        initializer_range: stddev of the kernel initializer.

    Example:
    >>> BertSpanHead()(keras.random.normal((2, 8, 32))).shape
    (2, 8, 2)
    """

    def __init__(self, initializer_range=0.02, **kwargs):
        kwargs.pop("num_outputs", None)
        kwargs.pop("dropout_rate", None)
        super().__init__(2, 0.0, initializer_range, **kwargs)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenClassificationHead(_LogitsHead):
    """Per-token tagging (NER): sequence_output [batch, seq, H] -> [batch, seq, num_labels].

    Args:
        num_labels: tag classes.
        dropout_rate: dropout before the dense layer.
        initializer_range: stddev of the kernel initializer.

    Example:
    >>> BertTokenClassificationHead(5)(keras.random.normal((2, 8, 32))).shape
    (2, 8, 5)
    """

    def __init__(self, num_labels, dropout_rate=0.1, initializer_range=0.02, **kwargs):
        kwargs.pop("num_outputs", None)
        super().__init__(num_labels, dropout_rate, initializer_range, **kwargs)
        self.num_labels = num_labels

    def get_config(self):
        config = super().get_config()
        config["num_labels"] = config.pop("num_outputs")
        return config
