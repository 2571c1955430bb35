"""Keras 3 layers and models that reimplement Google's BERT exactly."""

from bert_tf.modeling.activations import ACTIVATIONS, get_activation, gelu_exact, gelu_tanh
from bert_tf.modeling.attention import BertSelfAttention, attention_mask_bias
from bert_tf.modeling.classifier import POOLINGS, BertClassifier, masked_mean
from bert_tf.modeling.config import BertConfig, ConfigError, write_text_atomic
from bert_tf.modeling.dense_heads import (BertClassificationHead, BertNextSentenceHead,
                                          BertSpanHead, BertTokenClassificationHead)
from bert_tf.modeling.embeddings import BertEmbeddings
from bert_tf.modeling.encoder import INPUT_NAMES, BertEncoder
from bert_tf.modeling.fused_dropout import BertDropout
from bert_tf.modeling.fused_layer_norm import BertLayerNorm
from bert_tf.modeling.masked_lm_head import BertMaskedLMHead, gather_positions
from bert_tf.modeling.pooler import BertPooler
from bert_tf.modeling.pretrainer import BertPretrainer
from bert_tf.modeling.question_answering import BertQuestionAnswerer
from bert_tf.modeling.token_classifier import BertTokenClassifier
from bert_tf.modeling.transformer_block import BertTransformerBlock
