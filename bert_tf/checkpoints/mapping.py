"""Google TF1 variable names for every variable of a bert_tf model.

Google stores dense kernels `[in, out]` like Keras, except the top-level heads
(`output_weights`, `cls/seq_relationship/output_weights`, `cls/squad/output_weights`) which are
`[out, in]`: those entries are marked `transpose=True`.
"""

import collections
from typing import NamedTuple

from bert_tf.modeling import (BertClassifier, BertEncoder, BertPretrainer, BertQuestionAnswerer,
                              BertTokenClassifier)


class MappedVariable(NamedTuple):
    variable: object  # a keras.Variable
    transpose: bool
    # The model's outputs do not depend on it: a checkpoint may lack it even under a required
    # prefix (the loader reports it missing and leaves it initialised).
    optional: bool = False


def _dense(table, prefix, dense, transpose=False):
    table[f"{prefix}/kernel" if not transpose else prefix + "/output_weights"] = MappedVariable(
        dense.kernel, transpose)
    table[f"{prefix}/bias" if not transpose else prefix + "/output_bias"] = MappedVariable(
        dense.bias, False)


def _layer_norm(table, prefix, layer_norm):
    table[f"{prefix}/gamma"] = MappedVariable(layer_norm.gamma, False)
    table[f"{prefix}/beta"] = MappedVariable(layer_norm.beta, False)


def encoder_weight_map(encoder: BertEncoder):
    """OrderedDict: Google name -> MappedVariable for the `bert/*` variables."""
    encoder.ensure_built()
    table = collections.OrderedDict()
    emb = encoder.embeddings
    table["bert/embeddings/word_embeddings"] = MappedVariable(emb.word_embeddings, False)
    table["bert/embeddings/token_type_embeddings"] = MappedVariable(emb.token_type_embeddings, False)
    table["bert/embeddings/position_embeddings"] = MappedVariable(emb.position_embeddings, False)
    _layer_norm(table, "bert/embeddings/LayerNorm", emb.layer_norm)
    for i, block in enumerate(encoder.transformer_layers):
        p = f"bert/encoder/layer_{i}"
        _dense(table, f"{p}/attention/self/query", block.attention.query)
        _dense(table, f"{p}/attention/self/key", block.attention.key)
        _dense(table, f"{p}/attention/self/value", block.attention.value)
        _dense(table, f"{p}/attention/output/dense", block.attention_output)
        _layer_norm(table, f"{p}/attention/output/LayerNorm", block.attention_layer_norm)
        _dense(table, f"{p}/intermediate/dense", block.intermediate)
        _dense(table, f"{p}/output/dense", block.output_dense)
        _layer_norm(table, f"{p}/output/LayerNorm", block.output_layer_norm)
    _dense(table, "bert/pooler/dense", encoder.pooler.dense)
    return table


def google_weight_map(model):
    """OrderedDict: Google name -> MappedVariable for an encoder, classifier, question
    answerer or pretrainer."""
    if isinstance(model, BertEncoder):
        return encoder_weight_map(model)
    if isinstance(model, BertClassifier):
        model.ensure_built()
        table = encoder_weight_map(model.encoder)
        # run_classifier's head lives at the top level: `output_weights [num_labels, H]`.
        table["output_weights"] = MappedVariable(model.head.dense.kernel, True)
        table["output_bias"] = MappedVariable(model.head.dense.bias, False)
        return table
    if isinstance(model, BertTokenClassifier):
        model.ensure_built()
        table = encoder_weight_map(model.encoder)
        # The tagging head under run_classifier's top-level names, as HF's `classifier.*`.
        table["output_weights"] = MappedVariable(model.head.dense.kernel, True)
        table["output_bias"] = MappedVariable(model.head.dense.bias, False)
        for name in ("bert/pooler/dense/kernel", "bert/pooler/dense/bias"):
            table[name] = table[name]._replace(optional=True)  # never read by a tagger
        return table
    if isinstance(model, BertQuestionAnswerer):
        model.ensure_built()
        table = encoder_weight_map(model.encoder)
        # run_squad's head: `cls/squad/output_weights [2, H]`, `cls/squad/output_bias [2]`.
        _dense(table, "cls/squad", model.head.dense, transpose=True)
        # The answerer never reads the pooler, and HF's BertForQuestionAnswering has none;
        # Google's run_squad folders do, and it is saved for them.
        for name in ("bert/pooler/dense/kernel", "bert/pooler/dense/bias"):
            table[name] = table[name]._replace(optional=True)
        return table
    if isinstance(model, BertPretrainer):
        model.ensure_built()
        table = encoder_weight_map(model.encoder)
        mlm = model.masked_lm_head
        _dense(table, "cls/predictions/transform/dense", mlm.transform)
        _layer_norm(table, "cls/predictions/transform/LayerNorm", mlm.transform_layer_norm)
        table["cls/predictions/output_bias"] = MappedVariable(mlm.output_bias, False)
        _dense(table, "cls/seq_relationship", model.next_sentence_head.dense, transpose=True)
        return table
    raise TypeError(f"no Google variable mapping for {type(model).__name__}")


def is_bookkeeping(name: str) -> bool:
    """Optimizer slots and step counters that a loader skips without comment."""
    return (name.endswith("/adam_m") or name.endswith("/adam_v") or name == "global_step"
            or name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH") or "/.ATTRIBUTES/" in name
            or name == "good_steps" or name == "loss_scale")
