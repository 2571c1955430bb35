"""BertPooler: tanh(Dense(first token)), the `bert/pooler/dense` layer."""

import keras


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPooler(keras.layers.Layer):
    """Pools a sequence by its first ([CLS]) token through a tanh dense layer.

    Args:
        hidden_size: width H of input and output.
        initializer_range: stddev of the truncated-normal kernel initializer.

    Example:
    >>> BertPooler(32)(keras.random.normal((2, 5, 32))).shape
    (2, 32)
    """

    def __init__(self, hidden_size, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            hidden_size, activation="tanh",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=initializer_range),
            dtype=self.dtype_policy, name="dense")

    def build(self, input_shape):
        self.dense.build((input_shape[0], input_shape[-1]))
        self.built = True

    def call(self, sequence_output):
        # [batch, seq, H] -> [batch, H]
        return self.dense(sequence_output[:, 0, :])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.hidden_size)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, initializer_range=self.initializer_range)
        return config
