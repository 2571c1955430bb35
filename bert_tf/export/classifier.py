"""The end-to-end classifier SavedModel: raw strings in, label probabilities and names out.

This is what TF Serving, `bert_tf.serve` or any TF runtime calls. Signature `serving_default`:
  inputs:  `sentence` (string [batch]) and, for pair tasks, `sentence_b` (string [batch]);
  outputs: `probabilities` (float32 [batch, labels]), `label_id` (int32 [batch]) and `label`
           (string [batch]); a regression model (STS-B) returns `score` (float32 [batch]).
Tokenization is the in-graph `BertPreprocessor` (ids equal to the Python tokenizer's) packed to
the training `max_seq_length`, so the SavedModel reproduces run_classifier's predictions.
The object also exposes `variables`/`trainable_variables` and `obj.info` (the
classifier_info.json asset). Loading needs `import tensorflow_text` first.

Example:
    >>> save_classifier(model, info, "out/classifier", vocab_file="final_model/vocab.txt")  # doctest: +SKIP
"""

import os
import tempfile

import tensorflow as tf

from bert_tf.checkpoints.classifier_info import CLASSIFIER_INFO_NAME, ClassifierInfo
from bert_tf.checkpoints.google import VOCAB_NAME
from bert_tf.modeling.portable import portable_ops
from bert_tf.tokenization.preprocessor import BertPreprocessor

AutoTrackable = tf.__internal__.tracking.AutoTrackable


def _sentence_spec(name):
    return tf.TensorSpec([None], tf.string, name=name)


def build_classifier_module(model, info: ClassifierInfo, vocab_file, asset_dir=None):
    """The trackable classifier object (see the module docstring)."""
    model.ensure_built()
    preprocessor = BertPreprocessor(vocab_file, do_lower_case=info.do_lower_case,
                                    seq_length=info.max_seq_length)
    labels = tf.constant(info.labels or ["score"])

    def outputs(segments):
        features = preprocessor(segments)
        logits = model(features, training=False)  # [batch, labels] float32
        if info.labels is None:
            return {"score": logits[:, 0]}
        probabilities = tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "label_id": label_id,
                "label": tf.gather(labels, label_id)}

    if info.num_segments == 2:
        @tf.function(input_signature=[_sentence_spec("sentence"), _sentence_spec("sentence_b")])
        def serve(sentence, sentence_b):
            return outputs([sentence, sentence_b])
    else:
        @tf.function(input_signature=[_sentence_spec("sentence")])
        def serve(sentence):
            return outputs([sentence])

    obj = AutoTrackable()
    obj.__call__ = serve
    obj.variables = list(model.variables)
    obj.trainable_variables = list(model.trainable_variables)
    obj.regularization_losses = []
    asset_dir = asset_dir or tempfile.mkdtemp(prefix="bert_tf_export_")
    info_path = os.path.join(asset_dir, CLASSIFIER_INFO_NAME)
    with open(info_path, "w", encoding="utf-8") as f:
        f.write(info.to_json())
    obj.info = tf.saved_model.Asset(info_path)
    staged_vocab = os.path.join(asset_dir, VOCAB_NAME)
    if os.path.abspath(vocab_file) != os.path.abspath(staged_vocab):
        tf.io.gfile.copy(vocab_file, staged_vocab, overwrite=True)
    obj.vocab_file = tf.saved_model.Asset(staged_vocab)
    return obj


def save_classifier(model, info: ClassifierInfo, path, vocab_file):
    """Writes the raw-string classifier SavedModel to `path`."""
    # Plain ops (no XLA kernels): the SavedModel may be served where XLA's JIT is not built in.
    with tempfile.TemporaryDirectory(prefix="bert_tf_assets_") as assets, portable_ops():
        obj = build_classifier_module(model, info, vocab_file, assets)
        tf.saved_model.save(obj, path, signatures={"serving_default": obj.__call__})
    return path
