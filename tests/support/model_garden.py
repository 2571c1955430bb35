"""Writes an encoder SavedModel in the layout of TF Model Garden's `export_tfhub` (the
tfhub.dev BERT encoders): its variable names and per-head shapes, and the TF Hub call API.

Built from Google-named arrays, so tests can check the import against the original weights.
The SavedModel computes with a bert_tf encoder holding the original (Google-layout) arrays, so
an importer that reshapes or names anything wrongly cannot reproduce its outputs.
"""

import numpy as np
import tensorflow as tf

LAYER = {
    "attention/self/query": "self_attention/query",
    "attention/self/key": "self_attention/key",
    "attention/self/value": "self_attention/value",
    "attention/output/dense": "self_attention/attention_output",
    "attention/output/LayerNorm": "self_attention_layer_norm",
    "intermediate/dense": "intermediate",
    "output/dense": "output",
    "output/LayerNorm": "output_layer_norm",
}
TOP = {
    "bert/embeddings/word_embeddings": "word_embeddings/embeddings",
    "bert/embeddings/token_type_embeddings": "type_embeddings/embeddings",
    "bert/embeddings/position_embeddings": "position_embedding/embeddings",
    "bert/embeddings/LayerNorm/gamma": "embeddings/layer_norm/gamma",
    "bert/embeddings/LayerNorm/beta": "embeddings/layer_norm/beta",
    "bert/pooler/dense/kernel": "pooler_transform/kernel",
    "bert/pooler/dense/bias": "pooler_transform/bias",
}


def model_garden_name_and_value(name, value, num_heads):
    """Google name and array -> (Model Garden name, array in its shape), or None to skip."""
    if name in TOP:
        return TOP[name], value
    if not name.startswith("bert/encoder/layer_"):
        return None
    _, _, layer, rest = name.split("/", 3)
    module, leaf = rest.rsplit("/", 1)
    new = f"transformer/{layer}/{LAYER[module]}/{leaf}"
    if module in ("attention/self/query", "attention/self/key", "attention/self/value"):
        value = value.reshape(value.shape[0], num_heads, -1) if leaf == "kernel" else \
            value.reshape(num_heads, -1)
    elif module == "attention/output/dense" and leaf == "kernel":
        value = value.reshape(num_heads, -1, value.shape[-1])
    return new, value


def save_model_garden_encoder(path, arrays, config):
    """Saves the SavedModel; `config` is a BertConfig (its hidden_act is what it computes)."""
    from bert_tf.checkpoints.google import assign_weights
    from bert_tf.checkpoints.hf import DictReader
    from bert_tf.modeling import BertEncoder

    encoder = BertEncoder(config).ensure_built()
    assign_weights(encoder, DictReader({n: v for n, v in arrays.items() if n.startswith("bert/")},
                                       "fixture", "google"))
    obj = tf.__internal__.tracking.AutoTrackable()
    # A scope prefix like Model Garden's Keras names ("bert_encoder/...") must not matter.
    named = []
    for name, value in arrays.items():
        mapped = model_garden_name_and_value(name, value, config.num_attention_heads)
        if mapped:
            named.append(tf.Variable(np.asarray(mapped[1]), name="bert_encoder/" + mapped[0]))
    obj.variables = named
    obj.trainable_variables = list(named)
    obj.computing_copy = list(encoder.variables)  # what __call__ reads; tracked for saving
    spec = {k: tf.TensorSpec([None, None], tf.int32, name=k)
            for k in ("input_word_ids", "input_mask", "input_type_ids")}

    def call(inputs, training=False):
        out = encoder(inputs, training=training)
        return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"],
                "encoder_outputs": list(out["encoder_outputs"]), "default": out["pooled_output"]}

    obj.__call__ = tf.function(call)
    for training in (False, True):
        obj.__call__.get_concrete_function(spec, training=training)
    tf.saved_model.save(obj, str(path))
    return path
