"""BertPretrainer: encoder + masked-LM + next-sentence heads (every `cls/*` variable's home)."""

import keras

from bert_tf.modeling.config import BertConfig
from bert_tf.modeling.dense_heads import BertNextSentenceHead
from bert_tf.modeling.encoder import BertEncoder
from bert_tf.modeling.masked_lm_head import BertMaskedLMHead
from bert_tf.modeling.portable import build_variables


class BertPretrainer(keras.Model):
    """BERT's pretraining model.

    Inputs: the encoder dict plus `masked_lm_positions` (int32 [batch, P]).
    Outputs: `mlm_logits` [batch, P, vocab] and `nsp_logits` [batch, 2], both float32, plus the
    encoder outputs.

    Args:
        config: a `BertConfig` (or dict); ignored when `encoder` is given.
        encoder: an existing `BertEncoder` to wrap.

    Example:
    >>> model = BertPretrainer(config)
    >>> out = model({**encoder_inputs, "masked_lm_positions": positions})
    >>> out["mlm_logits"].shape  # (batch, P, vocab_size)
    """

    def __init__(self, config=None, encoder=None, **kwargs):
        kwargs.setdefault("name", "bert_pretrainer")
        super().__init__(**kwargs)
        if encoder is None:
            encoder = BertEncoder(config)
        self.encoder = encoder
        self.config = encoder.config
        c = self.config
        self.masked_lm_head = BertMaskedLMHead(
            c.vocab_size, c.hidden_size, c.hidden_act, c.initializer_range, c.layer_norm_eps,
            name="masked_lm_head")
        self.next_sentence_head = BertNextSentenceHead(c.initializer_range, name="next_sentence_head")

    def build(self, input_shape=None):
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
        config["config"] = self.config.to_dict()
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(BertConfig.from_dict(config.pop("config")), **config)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Encoder and, when present, the `cls/*` heads from `path` (fresh heads otherwise)."""
        from bert_tf.checkpoints.pretrained import load_pretrained
        return load_pretrained(path, model_class=cls, **kwargs)
