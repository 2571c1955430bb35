"""The encoder SavedModel with the TF Hub BERT encoder API (REFERENCE.md section 6).

The saved object is what `hub.KerasLayer(path, trainable=True)` and `tf.saved_model.load`
expect of a reusable SavedModel:
  * `obj(inputs, training=False)`: inputs a dict of int32 [batch, seq] `input_word_ids`,
    `input_mask`, `input_type_ids`; returns `pooled_output` [batch, H], `sequence_output`
    [batch, seq, H], `encoder_outputs` (one [batch, seq, H] per layer) and `default`
    (= pooled_output). `training=True` applies dropout (for fine-tuning);
  * `obj.variables`, `obj.trainable_variables`, `obj.regularization_losses`;
  * `obj.mlm(inputs + masked_lm_positions)` adding `mlm_logits` [batch, P, vocab], when the
    model has its masked-LM head;
  * `obj.vocab_file` (asset) and `obj.do_lower_case`;
  * signature `serving_default` (pooled_output, sequence_output, default) for TF Serving.
It also carries `bert_tf_weights` + `assets/bert_tf_weights.json` (their Google names) and
`assets/bert_config.json`, so that bert_tf reads the weights back exactly (`checkpoints.tfhub`).

Example:
    >>> save_encoder(BertEncoder.from_pretrained("uncased_L-12_H-768_A-12"), "out/encoder",
    ...              vocab_file="uncased_L-12_H-768_A-12/vocab.txt")  # doctest: +SKIP
"""

import json
import os
import tempfile

import tensorflow as tf

from bert_tf.checkpoints.google import VOCAB_NAME
from bert_tf.checkpoints.mapping import google_weight_map
from bert_tf.checkpoints.tfhub import CONFIG_ASSET, WEIGHT_NAMES_ASSET
from bert_tf.modeling import BertEncoder, BertPretrainer
from bert_tf.modeling.portable import portable_ops

AutoTrackable = tf.__internal__.tracking.AutoTrackable


def encoder_input_spec():
    """The TF Hub encoder inputs: int32 [batch, seq] each."""
    return {name: tf.TensorSpec([None, None], tf.int32, name=name)
            for name in ("input_word_ids", "input_mask", "input_type_ids")}


def _encoder_outputs(out):
    return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"],
            "encoder_outputs": list(out["encoder_outputs"]), "default": out["pooled_output"]}


def _attach_variables(obj, model):
    """The lists hub.KerasLayer reads; they share the model's variables."""
    obj.variables = list(model.variables)
    obj.trainable_variables = list(model.trainable_variables)
    obj.non_trainable_variables = list(model.non_trainable_variables)
    obj.regularization_losses = []


def _traced_call(fn, spec):
    """A tf.function traced for training=False and True (the Python argument hub passes)."""
    fn = tf.function(fn)
    for training in (False, True):
        fn.get_concrete_function(spec, training=training)
    return fn


def build_encoder_module(model, vocab_file=None, do_lower_case=True, asset_dir=None):
    """The trackable object to save (see the module docstring).

    Args:
        model: a `BertEncoder`, or a `BertPretrainer` (its encoder, plus `.mlm`).
        vocab_file: vocab.txt to ship as an asset (recommended).
        do_lower_case: the tokenizer casing the model expects.
        asset_dir: where the JSON assets are staged (a temp folder by default).
    """
    pretrainer = model if isinstance(model, BertPretrainer) else None
    encoder = pretrainer.encoder if pretrainer is not None else model
    if not isinstance(encoder, BertEncoder):
        raise TypeError(f"expected a BertEncoder or BertPretrainer, got {type(model).__name__}")
    encoder.ensure_built()
    obj = AutoTrackable()
    spec = encoder_input_spec()

    obj.__call__ = _traced_call(
        lambda inputs, training=False: _encoder_outputs(encoder(inputs, training=training)), spec)
    _attach_variables(obj, encoder)

    @tf.function(input_signature=list(spec.values()))
    def serve(input_word_ids, input_mask, input_type_ids):
        out = encoder({"input_word_ids": input_word_ids, "input_mask": input_mask,
                       "input_type_ids": input_type_ids}, training=False)
        return {"pooled_output": out["pooled_output"], "sequence_output": out["sequence_output"],
                "default": out["pooled_output"]}

    obj.serve = serve
    weighted = pretrainer if pretrainer is not None else encoder
    if pretrainer is not None:
        pretrainer.ensure_built()
        mlm = AutoTrackable()
        mlm_spec = dict(spec, masked_lm_positions=tf.TensorSpec(
            [None, None], tf.int32, name="masked_lm_positions"))

        def mlm_call(inputs, training=False):
            out = pretrainer(inputs, training=training)
            result = _encoder_outputs(out)
            result["mlm_logits"] = out["mlm_logits"]
            return result

        mlm.__call__ = _traced_call(mlm_call, mlm_spec)
        _attach_variables(mlm, pretrainer)
        obj.mlm = mlm

    # Google names of the weights, for an exact import back into bert_tf.
    table = google_weight_map(weighted)
    obj.bert_tf_weights = [m.variable for m in table.values()]
    asset_dir = asset_dir or tempfile.mkdtemp(prefix="bert_tf_export_")
    names_path = os.path.join(asset_dir, WEIGHT_NAMES_ASSET)
    with open(names_path, "w", encoding="utf-8") as f:
        json.dump([[name, m.transpose] for name, m in table.items()], f)
    config_path = os.path.join(asset_dir, CONFIG_ASSET)
    encoder.config.to_json_file(config_path)
    obj.bert_tf_weight_names = tf.saved_model.Asset(names_path)
    obj.bert_config = tf.saved_model.Asset(config_path)
    if vocab_file:
        staged_vocab = os.path.join(asset_dir, VOCAB_NAME)
        if os.path.abspath(vocab_file) != os.path.abspath(staged_vocab):
            tf.io.gfile.copy(vocab_file, staged_vocab, overwrite=True)
        obj.vocab_file = tf.saved_model.Asset(staged_vocab)
    obj.do_lower_case = tf.Variable(bool(do_lower_case), trainable=False, name="do_lower_case")
    return obj


def save_encoder(model, path, vocab_file=None, do_lower_case=True):
    """Writes the encoder SavedModel to `path` (see the module docstring)."""
    # Plain ops (no XLA kernels): the SavedModel may be served where XLA's JIT is not built in.
    with tempfile.TemporaryDirectory(prefix="bert_tf_assets_") as assets, portable_ops():
        obj = build_encoder_module(model, vocab_file, do_lower_case, assets)
        tf.saved_model.save(obj, path, signatures={"serving_default": obj.serve})
    return path
