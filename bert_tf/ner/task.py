"""run_ner's workflow: token classification (NER) on CoNLL files.

`run_ner(params)` takes any object with the flag attributes (absl FLAGS, or a
`types.SimpleNamespace` in tests) and runs on the shared task workflow
(`bert_tf.training.workflow`), as run_classifier does.

Data: `train.txt`, `dev.txt` and `test.txt` in --data_dir, CoNLL columns (see
`bert_tf.data.conll`), tags converted to IOB2. Each word's first WordPiece carries its label;
long sentences are split into windows and every word is scored exactly once
(`bert_tf.data.ner_features`).

Loss: the cross-entropy of the scored positions, averaged over the scored positions of the
batch (per replica and micro-batch, as run_pretraining's masked-LM loss), which is what HF's
`BertForTokenClassification` computes.

Outputs in --output_dir: `eval_results.txt` (conlleval's entity precision / recall / F1, micro
and per type, token accuracy, loss, global_step) and `eval_predictions.txt` for dev.txt;
`test_results.txt` and `test_predictions.txt` for test.txt; `final_model/` (a Google folder
with the tagging head and `ner_info.json`).
"""

import os

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.ner_info import NerInfo, read_ner_info
from bert_tf.checkpoints.pretrained import model_folder
from bert_tf.data.conll import iob2_labels, labels_from_sentences, read_conll
from bert_tf.data.features import file_digest, fingerprint
from bert_tf.data.ner_features import (convert_sentences_to_features, ner_dataset,
                                       read_ner_tfrecord, validate_window_settings,
                                       words_from_tokens, write_ner_tfrecord)
from bert_tf.modeling import BertTokenClassifier
from bert_tf.ner.metrics import format_report, score_sentences
from bert_tf.ner.predictions import tags_from_ids, write_predictions
from bert_tf.tokenization import FullTokenizer, validate_case_matches_checkpoint
from bert_tf.training.flag_checks import (check_integers, check_number, check_runtime_params,
                                          parse_label_list)
from bert_tf.training.model_files import UsageError, resolve_model_files
from bert_tf.training.results import EVAL_RESULTS_FILENAME
from bert_tf.training.workflow import TaskWorkflow

SPLITS = {"train": "train.txt", "eval": "dev.txt", "test": "test.txt"}
TEST_RESULTS_FILENAME = "test_results.txt"
EVAL_PREDICTIONS_FILENAME = "eval_predictions.txt"
TEST_PREDICTIONS_FILENAME = "test_predictions.txt"
_EPSILON = 1e-5


def token_loss(outputs, labels):
    """Per-example loss [batch] whose batch mean is the mean cross-entropy of the scored tokens.

    Args:
        outputs: logits [batch, seq, num_labels].
        labels: (label ids [batch, seq], token weights [batch, seq]: 1 where a word is scored).
    """
    label_ids, weights = labels
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label_ids,
                                                        logits=tf.cast(outputs, tf.float32))
    batch = tf.cast(tf.shape(ce)[0], tf.float32)
    # Scaling each example's sum by batch / (scored tokens) turns the Trainer's per-example
    # mean into the token mean.
    return tf.reduce_sum(weights * ce, axis=-1) * batch / (tf.reduce_sum(weights) + _EPSILON)


def check_ner_params(p):
    """run_ner's flags, before anything is read or written."""
    if not (p.do_train or p.do_eval or p.do_predict):
        raise UsageError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    if not p.output_dir:
        raise UsageError("--output_dir is required")
    if not p.data_dir:
        raise UsageError("--data_dir is required")
    check_runtime_params(p)
    check_integers(p, ["train_batch_size", "eval_batch_size", "predict_batch_size"], low=1)
    check_number(p, "max_seq_length", low=3, integer=True)
    check_number(p, "learning_rate", low=0, low_open=True)
    if p.do_train:
        check_number(p, "num_train_epochs", low=0, low_open=True)
    check_number(p, "warmup_proportion", low=0, high=1)
    check_number(p, "classifier_dropout", low=0, high=1, high_open=True)
    if getattr(p, "window_stride", None) is not None:
        check_number(p, "window_stride", low=1, integer=True)


def _labels(p, train, init_info):
    """The model's IOB2 labels: --label_list, else the --init_checkpoint tagger's, else the
    training file's."""
    given = parse_label_list(getattr(p, "label_list", None))
    if given:
        labels = iob2_labels(given, p.tag_scheme)
        if init_info and init_info.labels != labels:
            raise UsageError(f"--label_list gives {labels}, but --init_checkpoint was trained "
                             f"with {init_info.labels}")
        return labels
    if init_info:
        return list(init_info.labels)
    if train:
        return labels_from_sentences(train)
    raise UsageError("--label_list is required when not training and --init_checkpoint has no "
                     "ner_info.json")


def _read(p, split, label_list=None):
    return read_conll(os.path.join(p.data_dir, SPLITS[split]), p.tag_scheme,
                      label_list=label_list, tag_column=p.tag_column)


def _records(wf, name, sentences, labels, tokenizer, vocab, p, stride, pad_to):
    key = fingerprint(name=name, data=[(s.words, s.tags) for s in sentences], labels=labels,
                      seq=p.max_seq_length, stride=stride, lower=tokenizer.do_lower_case,
                      vocab=file_digest(vocab), pad_to=pad_to)

    def write(target):
        features = convert_sentences_to_features(sentences, labels, p.max_seq_length,
                                                 tokenizer, stride)
        return write_ner_tfrecord(target, features, pad_to), len(features), {}

    path, _ = wf.cached_records(name, key, write, what="windows")
    return path


def _tag(wf, path, sentences, labels, p, batch_size):
    """(per-sentence predicted tags, mean loss of the scored tokens) of a records file."""
    logits, label_ids, weights = wf.trainer.predict(
        ner_dataset(path, p.max_seq_length, batch_size, is_training=False),
        wf.runtime.enable_xla)
    log_probs = logits - np.log(np.sum(np.exp(logits - logits.max(-1, keepdims=True)), -1,
                                       keepdims=True)) - logits.max(-1, keepdims=True)
    ce = -np.take_along_axis(log_probs, label_ids[..., None].astype(np.int64), -1)[..., 0]
    loss = float(np.sum(ce * weights) / max(np.sum(weights), 1.0))
    rows = read_ner_tfrecord(path, p.max_seq_length)
    ids = words_from_tokens(rows["sentence_ids"], rows["word_ids"], np.argmax(logits, -1),
                            [len(s.words) for s in sentences])
    return tags_from_ids(ids, labels), loss


def _score(wf, sentences, predicted, loss, prefix):
    scores = score_sentences([s.tags for s in sentences], predicted)
    results = {f"{prefix}{key}": value for key, value in scores.as_dict().items()}
    results[f"{prefix}loss"] = loss
    results["global_step"] = wf.trainer.global_step
    wf.log(format_report(scores).rstrip())
    return results


def run_ner(p) -> dict:
    """Trains / evaluates / predicts as the flags say; returns the eval results.

    Every flag and file the run reads is checked before anything is written.
    """
    check_ner_params(p)
    wf = TaskWorkflow(p)
    wf.describe_strategy()
    config, vocab = resolve_model_files(p)
    try:
        validate_case_matches_checkpoint(p.do_lower_case, getattr(p, "init_checkpoint", None))
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    tokenizer = FullTokenizer(vocab, do_lower_case=p.do_lower_case)
    stride = validate_window_settings(p.max_seq_length, getattr(p, "window_stride", None))
    init = getattr(p, "init_checkpoint", None)
    init_info = read_ner_info(model_folder(init)) if init else None
    raw_labels = parse_label_list(getattr(p, "label_list", None))
    train = _read(p, "train", raw_labels) if p.do_train else []
    labels = _labels(p, train, init_info)
    # Files are checked against the raw labels (as written, before IOB2 conversion).
    check = raw_labels or None
    dev = _read(p, "eval", check) if p.do_eval else None
    test = _read(p, "test", check) if p.do_predict else None
    unknown = sorted({t for s in (dev or []) + (test or []) + train for t in s.tags} - set(labels))
    if unknown:
        raise UsageError(f"{p.data_dir}: tag(s) {unknown} are not among the model's labels "
                         f"{labels}; give them all with --label_list")
    k = wf.check_batch_size()
    num_train_steps = int(len(train) / p.train_batch_size * p.num_train_epochs)
    if p.do_train and num_train_steps < 1:
        raise UsageError(f"--num_train_epochs={p.num_train_epochs} with {len(train)} sentences "
                         f"and --train_batch_size={p.train_batch_size} gives no training step")
    wf.prepare_output()
    dropout = getattr(p, "classifier_dropout", 0.1)
    wf.build_trainer(
        lambda: BertTokenClassifier(config, num_labels=len(labels),
                                    dropout_rate=0.1 if dropout is None else dropout
                                    ).ensure_built(),
        token_loss, max(num_train_steps, 1), int(num_train_steps * p.warmup_proportion))
    results_files = ([EVAL_RESULTS_FILENAME, EVAL_PREDICTIONS_FILENAME] if p.do_eval else []) + \
        ([TEST_RESULTS_FILENAME, TEST_PREDICTIONS_FILENAME] if p.do_predict else [])
    wf.initialise(results=results_files, from_scratch="training" if p.do_train else None)
    info = NerInfo(labels=labels, do_lower_case=bool(tokenizer.do_lower_case),
                   max_seq_length=p.max_seq_length, stride=stride)

    if p.do_train:
        path = _records(wf, "train", train, labels, tokenizer, vocab, p, stride, 1)
        wf.log(f"***** Running training *****\n  Num sentences = {len(train)}\n"
               f"  Batch size = {p.train_batch_size}\n  Num steps = {num_train_steps}")
        micro = p.train_batch_size // k

        def dataset_fn(ctx, skip):
            ds = ner_dataset(path, p.max_seq_length, micro, is_training=True, seed=p.seed,
                             input_context=ctx)
            # Token weights go with the labels; the Trainer's per-example weights are 1.
            return ds.map(lambda f, y, w: (f, (y, w), tf.ones_like(w[:, 0]))).skip(skip)

        wf.train(dataset_fn)
        wf.export(wf.save_model("final_model", vocab, info.as_extra_file()))

    results = {}
    for split, sentences, batch, scores_name, predictions_name, prefix in (
            ("eval", dev, p.eval_batch_size, EVAL_RESULTS_FILENAME, EVAL_PREDICTIONS_FILENAME,
             "eval_"),
            ("test", test, p.predict_batch_size, TEST_RESULTS_FILENAME,
             TEST_PREDICTIONS_FILENAME, "test_")):
        if sentences is None:
            continue
        path = _records(wf, split, sentences, labels, tokenizer, vocab, p, stride, batch)
        predicted, loss = _tag(wf, path, sentences, labels, p, batch)
        scores = _score(wf, sentences, predicted, loss, prefix)
        if split == "eval":
            scores["loss"] = loss
            results = scores
        wf.report_results(scores, filename=scores_name,
                          title="Eval results" if split == "eval" else "Test results")
        if wf.chief:
            target = write_predictions(os.path.join(p.output_dir, predictions_name),
                                       sentences, predicted)
            wf.log(f"wrote {target}")
    wf.close()
    return results
