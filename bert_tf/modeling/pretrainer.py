"""BertPretrainer: encoder + masked-LM + next-sentence heads (every `cls/*` variable's home)."""

import keras

from bert_tf.modeling.dense_heads import BertNextSentenceHead
from bert_tf.modeling.encoder import BertEncoder, deserialize_encoder
from bert_tf.modeling.masked_lm_head import BertMaskedLMHead
from bert_tf.modeling.portable import build_variables


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(keras.Model):
    """BERT's pretraining model.

    Inputs: the encoder dict plus `masked_lm_positions` (int32 [batch, P]).
    Outputs: `mlm_logits` [batch, P, vocab] and `nsp_logits` [batch, 2], both float32, plus the
    encoder outputs.

    Args:
        config: a `BertConfig` (or dict); ignored when `encoder` is given.
        encoder: an existing `BertEncoder` to wrap.
        **kwargs: as `keras.Model` (`name`, `dtype`, ...).

    Example:
    >>> model = BertPretrainer(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
    ...                                   num_attention_heads=4, intermediate_size=64))
    >>> ids = ops.ones((2, 8), "int32")
    >>> out = model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids,
    ...              "masked_lm_positions": ops.zeros((2, 3), "int32")})
    >>> out["mlm_logits"].shape, out["nsp_logits"].shape
    ((2, 3, 100), (2, 2))
    """

    def __init__(self, config=None, encoder=None, **kwargs):
        kwargs.setdefault("name", "bert_pretrainer")
        super().__init__(**kwargs)
        if encoder is None:
            encoder = BertEncoder(config, dtype=self.dtype_policy)
        self.encoder = encoder
        self.config = encoder.config
        c = self.config
        self.masked_lm_head = BertMaskedLMHead(
            c.vocab_size, c.hidden_size, c.hidden_act, c.initializer_range, c.layer_norm_eps,
            dtype=self.dtype_policy, name="masked_lm_head")
        self.next_sentence_head = BertNextSentenceHead(
            c.initializer_range, dtype=self.dtype_policy, name="next_sentence_head")

    def build(self, input_shape=None):
        if not self.encoder.built:  # a wrapped or deserialized encoder may come built
            self.encoder.build(None)
        self.masked_lm_head.build()
        self.next_sentence_head.build((None, self.config.hidden_size))
        self.built = True

    def call(self, inputs, training=False):
        outputs = dict(self.encoder(inputs, training=training))
        outputs["mlm_logits"] = self.masked_lm_head(
            outputs["sequence_output"], inputs["masked_lm_positions"],
            self.encoder.embeddings.word_embeddings)
        outputs["nsp_logits"] = self.next_sentence_head(outputs["pooled_output"])
        return outputs

    def ensure_built(self):
        if not self.built or not self.weights:
            inputs = self.encoder.dummy_inputs()
            inputs["masked_lm_positions"] = inputs["input_type_ids"]
            build_variables(self, inputs)
        return self

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_encoder(config))

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Encoder and, when present, the `cls/*` heads from `path` (fresh heads otherwise)."""
        from bert_tf.checkpoints.pretrained import load_pretrained
        return load_pretrained(path, model_class=cls, **kwargs)
