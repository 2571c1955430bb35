"""The end-to-end question answerer SavedModel: raw question and context strings in, answers out.

What TF Serving, `bert_tf.serve` or any TF runtime calls for a SQuAD model. Signature
`serving_default`:
  inputs:  `question` and `context` (string [batch]);
  outputs: `text` (string [batch]): the answer, as run_squad's predictions.json writes it;
           `start`, `end` (int32 [batch]): where it is in the context, in Unicode characters
           (end exclusive; `context[start:end]` holds the answer words with the context's own
           spacing), -1 and -1 when there is no answer;
           `score` (float32 [batch]): the best span's start + end logit;
           v2.0 models also `has_answer` (bool [batch]) and `null_odds` (float32 [batch]):
           null score minus best span score, as null_odds.json; no answer above the model's
           `null_score_diff_threshold`.
The windows, the decoding and the mapping back to the context's characters are TF ops
(`bert_tf.export.squad_graph`) that follow run_squad's Python path, with the model's
squad_info.json settings (kept as the `squad_info.json` asset; `obj.info`). Loading needs
`import tensorflow_text` first.

Example:
    >>> save_question_answerer(model, info, "out/qa", "final_model/vocab.txt")  # doctest: +SKIP
    >>> qa = tf.saved_model.load("out/qa").signatures["serving_default"]  # doctest: +SKIP
    >>> qa(question=tf.constant(["Where is Paris?"]),
    ...    context=tf.constant(["Paris is in France."]))["text"]  # doctest: +SKIP
"""

import os
import tempfile

import tensorflow as tf

from bert_tf.checkpoints.google import VOCAB_NAME
from bert_tf.checkpoints.squad_info import SQUAD_INFO_NAME, SquadInfo
from bert_tf.export.squad_graph import SquadGraph
from bert_tf.modeling.portable import portable_ops
from bert_tf.tokenization.preprocessor import BertPreprocessor
from bert_tf.tokenization.vocab import load_vocab

AutoTrackable = tf.__internal__.tracking.AutoTrackable


def id_to_token(vocab_file):
    """The vocabulary as a list indexed by id (ids no token maps to hold "")."""
    vocab = load_vocab(vocab_file)
    tokens = [""] * (max(vocab.values()) + 1)
    for token, index in vocab.items():
        tokens[index] = token
    return tokens


def answer_fn(model, info: SquadInfo, vocab_file):
    """(question [B], context [B]) -> the output dict of the module docstring, as TF ops."""
    model.ensure_built()
    preprocessor = BertPreprocessor(vocab_file, do_lower_case=info.do_lower_case,
                                    seq_length=info.max_seq_length)
    graph = SquadGraph(preprocessor, id_to_token(vocab_file), info)

    def answer(question, context):
        tf.debugging.assert_equal(tf.size(question), tf.size(context),
                                  message="question and context need the same batch size")
        inputs, windows = graph.windows(question, context)
        logits = model(inputs, training=False)  # [windows, seq, 2] float32
        span = graph.best_spans(logits, windows)
        text, start, end = graph.answer_text(span, windows)
        answered = span["has"]
        out = {}
        if info.version_2_with_negative:
            answered &= span["null_odds"] <= info.null_score_diff_threshold
            out["has_answer"] = answered
            out["null_odds"] = tf.cast(span["null_odds"], tf.float32)
        out.update(text=tf.where(answered, text, ""), start=tf.where(answered, start, -1),
                   end=tf.where(answered, end, -1), score=tf.cast(span["score"], tf.float32))
        return out

    return answer


def build_question_answerer_module(model, info: SquadInfo, vocab_file, asset_dir=None):
    """The trackable question answerer object (see the module docstring)."""
    answer = answer_fn(model, info, vocab_file)
    spec = lambda name: tf.TensorSpec([None], tf.string, name=name)  # noqa: E731

    @tf.function(input_signature=[spec("question"), spec("context")])
    def serve(question, context):
        return answer(question, context)

    obj = AutoTrackable()
    obj.__call__ = serve
    obj.variables = list(model.variables)
    obj.trainable_variables = list(model.trainable_variables)
    obj.regularization_losses = []
    asset_dir = asset_dir or tempfile.mkdtemp(prefix="bert_tf_export_")
    info_path = os.path.join(asset_dir, SQUAD_INFO_NAME)
    with open(info_path, "w", encoding="utf-8") as f:
        f.write(info.to_json())
    obj.info = tf.saved_model.Asset(info_path)
    staged_vocab = os.path.join(asset_dir, VOCAB_NAME)
    if os.path.abspath(vocab_file) != os.path.abspath(staged_vocab):
        tf.io.gfile.copy(vocab_file, staged_vocab, overwrite=True)
    obj.vocab_file = tf.saved_model.Asset(staged_vocab)
    return obj


def save_question_answerer(model, info: SquadInfo, path, vocab_file):
    """Writes the question answerer SavedModel to `path`."""
    # Plain ops (no XLA kernels): the SavedModel may be served where XLA's JIT is not built in.
    with tempfile.TemporaryDirectory(prefix="bert_tf_assets_") as assets, portable_ops():
        obj = build_question_answerer_module(model, info, vocab_file, assets)
        tf.saved_model.save(obj, path, signatures={"serving_default": obj.__call__})
    return path
