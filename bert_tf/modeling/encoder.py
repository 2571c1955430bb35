"""BertEncoder: the BERT model body (embeddings, L transformer blocks, pooler) as a Keras model."""

import keras
from keras import ops

from bert_tf.modeling.attention import attention_mask_bias
from bert_tf.modeling.config import BertConfig
from bert_tf.modeling.embeddings import BertEmbeddings
from bert_tf.modeling.pooler import BertPooler
from bert_tf.modeling.portable import build_variables
from bert_tf.modeling.transformer_block import BertTransformerBlock

# The TF Hub BERT encoder input names.
INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(keras.Model):
    """The BERT encoder of Google's `modeling.BertModel`, with TF Hub-style inputs and outputs.

    Inputs: a dict of int32 [batch, seq] tensors `input_word_ids`, `input_mask`,
    `input_type_ids` (seq up to `max_position_embeddings`).
    Outputs: a dict with `sequence_output` [batch, seq, H], `pooled_output` [batch, H] and
    `encoder_outputs` (a list of L tensors [batch, seq, H], one per transformer block).
    `encoder(inputs, pooled_only=True)` returns only `pooled_output`, computing the last block
    for [CLS] alone (same values, less work: what a [CLS]-pooled classifier needs).

    Sublayers take the encoder's dtype policy (the global one unless `dtype=` is given), so a
    saved encoder reloads with the policy it was built with.

    Args:
        config: a `BertConfig` (or a dict of its fields).
        **kwargs: as `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> encoder = BertEncoder(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
    ...                                  num_attention_heads=4, intermediate_size=64))
    >>> ids = ops.ones((2, 8), "int32")
    >>> out = encoder({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids})
    >>> out["pooled_output"].shape
    (2, 32)
    """

    def __init__(self, config, **kwargs):
        kwargs.setdefault("name", "bert_encoder")
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = BertConfig.from_dict(config)
        self.config = config
        dtype = self.dtype_policy
        self.embeddings = BertEmbeddings(
            vocab_size=config.vocab_size, hidden_size=config.hidden_size,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size, initializer_range=config.initializer_range,
            dropout_rate=config.hidden_dropout_prob, layer_norm_eps=config.layer_norm_eps,
            dtype=dtype, name="embeddings")
        self.transformer_layers = [
            BertTransformerBlock(
                hidden_size=config.hidden_size, num_heads=config.num_attention_heads,
                intermediate_size=config.intermediate_size, hidden_act=config.hidden_act,
                dropout_rate=config.hidden_dropout_prob,
                attention_dropout_rate=config.attention_probs_dropout_prob,
                initializer_range=config.initializer_range, layer_norm_eps=config.layer_norm_eps,
                dtype=dtype, name=f"transformer_layer_{i}")
            for i in range(config.num_hidden_layers)
        ]
        self.pooler = BertPooler(config.hidden_size, config.initializer_range, dtype=dtype,
                                 name="pooler")

    def build(self, input_shape=None):
        hidden = (None, None, self.config.hidden_size)
        self.embeddings.build((None, None))
        for block in self.transformer_layers:
            block.build(hidden)
        self.pooler.build(hidden)
        self.built = True

    def call(self, inputs, training=False, pooled_only=False):
        word_ids = inputs["input_word_ids"]
        type_ids = inputs["input_type_ids"]
        mask_bias = attention_mask_bias(inputs["input_mask"])  # [batch, 1, 1, seq]
        x = ops.cast(self.embeddings(word_ids, type_ids, training=training), self.compute_dtype)
        encoder_outputs = []
        last = len(self.transformer_layers) - 1
        for i, block in enumerate(self.transformer_layers):
            if pooled_only and i == last:
                # Only [CLS] of the last block reaches the pooler: [batch, 1, H].
                return {"pooled_output": self.pooler(block(x, mask_bias, training=training,
                                                           first_token_only=True))}
            x = block(x, mask_bias, training=training)
            encoder_outputs.append(x)
        return {
            "sequence_output": x,
            "pooled_output": self.pooler(x),
            "encoder_outputs": encoder_outputs,
        }

    def dummy_inputs(self, batch_size=1, seq_length=2):
        """All-ones inputs that build every variable (used before loading weights)."""
        ones = ops.ones((batch_size, seq_length), "int32")
        return {"input_word_ids": ones, "input_mask": ones, "input_type_ids": ops.zeros_like(ones)}

    def ensure_built(self):
        if not self.built or not self.weights:
            build_variables(self, self.dummy_inputs())
        return self

    def get_config(self):
        # The BertConfig as its bert_config.json dict: plain JSON inside a .keras file.
        config = super().get_config()
        config["config"] = self.config.to_dict()
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Builds an encoder from a Google folder / `bert_model.ckpt` prefix or an HF folder.

        See `bert_tf.checkpoints.load_pretrained`; returns the encoder (its load report is
        kept as `encoder.load_report`).
        """
        # Imported here: checkpoints sit above modeling in the package layers.
        from bert_tf.checkpoints.pretrained import load_pretrained
        return load_pretrained(path, model_class=cls, **kwargs)


def deserialize_encoder(config):
    """A model config with its `encoder` entry deserialized and a `config` dict made a
    BertConfig (the two ways a config may give the encoder)."""
    config = dict(config)
    if isinstance(config.get("encoder"), dict):
        # Left unbuilt: the model builds it inside its own name scope, which gives the variables
        # the paths they had before saving ("bert_classifier/bert_encoder/...").
        encoder = {k: v for k, v in config["encoder"].items() if k != "build_config"}
        config["encoder"] = keras.saving.deserialize_keras_object(encoder)
    if isinstance(config.get("config"), dict):
        config["config"] = BertConfig.from_dict(config["config"])
    return config
