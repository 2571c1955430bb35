"""run_squad's workflow: SQuAD v1.1 / v2.0 training and prediction.

`run_squad(params)` takes any object with the flag attributes (absl FLAGS, or a
`types.SimpleNamespace` in tests), as `bert_tf.training.fine_tune.run_classifier` does, and
runs on the shared task workflow (`bert_tf.training.workflow`).

Loss, as the original `model_fn`: the mean over the batch of
    (CE(start_logits, start_position) + CE(end_logits, end_position)) / 2,
the cross-entropies taken over all `max_seq_length` positions of the window; a window that
does not hold its example's answer (and a v2.0 impossible question) points at [CLS], position 0.

Outputs in --output_dir: `predictions.json`, `nbest_predictions.json`, `null_odds.json` (v2.0)
in the original formats; `eval_results.txt` with the official SQuAD metrics when the predict
file has gold answers; after training `final_model/` (a Google folder with `cls/squad/*` and
`squad_info.json`) and, with --export_dir, the exported question answerer.
"""

import random

import tensorflow as tf

from bert_tf.checkpoints.squad_info import SquadInfo
from bert_tf.data.features import file_digest, fingerprint
from bert_tf.data.squad import load_squad_json, read_squad_examples
from bert_tf.data.squad_features import (SquadFlagError, convert_examples_to_features,
                                         validate_window_flags)
from bert_tf.data.squad_records import squad_dataset, write_squad_tfrecord
from bert_tf.modeling import BertQuestionAnswerer
from bert_tf.squad.evaluate import evaluate_v1, evaluate_v2
from bert_tf.squad.postprocess import (NBEST_FILENAME, NULL_ODDS_FILENAME, PREDICTIONS_FILENAME,
                                       compute_predictions, raw_results, write_predictions)
from bert_tf.tokenization import FullTokenizer, validate_case_matches_checkpoint
from bert_tf.training.flag_checks import check_integers, check_number, check_runtime_params
from bert_tf.training.model_files import UsageError, resolve_model_files
from bert_tf.training.results import EVAL_RESULTS_FILENAME
from bert_tf.training.workflow import TaskWorkflow

SHUFFLE_SEED = 12345  # the original shuffles the training examples with random.Random(12345)


def span_loss(outputs, labels):
    """Per-example loss [batch]: the mean of the start and end cross-entropies.

    Args:
        outputs: span logits [batch, seq, 2] (start, end).
        labels: [batch, 2] int32 start and end positions.
    """
    logits = tf.cast(outputs, tf.float32)
    start = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels[:, 0],
                                                           logits=logits[:, :, 0])
    end = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels[:, 1],
                                                         logits=logits[:, :, 1])
    return (start + end) / 2.0


def check_squad_params(p):
    """run_squad's flags, before anything is read or written."""
    if not (p.do_train or p.do_predict):
        raise UsageError("At least one of `do_train` or `do_predict` must be True.")
    if not p.output_dir:
        raise UsageError("--output_dir is required")
    if p.do_train and not p.train_file:
        raise UsageError("If `do_train` is True, then `train_file` must be specified.")
    if p.do_predict and not p.predict_file:
        raise UsageError("If `do_predict` is True, then `predict_file` must be specified.")
    check_runtime_params(p)
    check_integers(p, ["train_batch_size", "predict_batch_size", "n_best_size",
                       "max_answer_length"], low=1)
    check_number(p, "learning_rate", low=0, low_open=True)
    if p.do_train:
        check_number(p, "num_train_epochs", low=0, low_open=True)
    check_number(p, "warmup_proportion", low=0, high=1)
    check_number(p, "null_score_diff_threshold")
    try:
        validate_window_flags(p.max_seq_length, p.doc_stride, p.max_query_length)
    except SquadFlagError as e:
        raise UsageError(str(e)) from None


def squad_info(p, tokenizer) -> SquadInfo:
    """What export and serving need to answer as this run's --do_predict does."""
    return SquadInfo(
        do_lower_case=bool(tokenizer.do_lower_case), max_seq_length=p.max_seq_length,
        doc_stride=p.doc_stride, max_query_length=p.max_query_length,
        max_answer_length=p.max_answer_length, n_best_size=p.n_best_size,
        version_2_with_negative=bool(p.version_2_with_negative),
        null_score_diff_threshold=float(p.null_score_diff_threshold))


def _read(path, flag, is_training, p, log):
    read = read_squad_examples(path, is_training, p.version_2_with_negative)
    if read.num_skipped:
        log(f"warning: --{flag}: skipped {read.num_skipped} of {read.num_questions} questions "
            f"whose answer text is not where answer_start points (as the original does), "
            f"e.g. {read.skipped_ids[0]!r}")
    if not read.examples:
        raise UsageError(f"--{flag}: {path} has no usable question")
    return read.examples


def _windows(wf, name, path, examples, tokenizer, vocab, p, is_training, pad_to):
    """The examples' windows (kept in memory: decoding needs them) and their records file."""
    features = convert_examples_to_features(
        examples, tokenizer, p.max_seq_length, p.doc_stride, p.max_query_length, is_training)
    key = fingerprint(name=name, data=file_digest(path), v2=bool(p.version_2_with_negative),
                      seq=p.max_seq_length, stride=p.doc_stride, query=p.max_query_length,
                      lower=tokenizer.do_lower_case, vocab=file_digest(vocab), pad_to=pad_to,
                      shuffle=SHUFFLE_SEED if is_training else None)

    def write(target):
        return write_squad_tfrecord(target, features, is_training, pad_to), len(features), {}

    records, _ = wf.cached_records(name, key, write, what="windows")
    return features, records


def _gold_answers(path, version_2_with_negative):
    """The predict file's SQuAD `data` list when it can be scored (else None): v1.1 needs gold
    answers for every question, v2.0 an `answers` list on every question and one answer."""
    data = load_squad_json(path)
    qas = [qa for article in data for paragraph in article["paragraphs"]
           for qa in paragraph["qas"]]
    answers = [qa.get("answers") for qa in qas]
    if not all(isinstance(a, list) for a in answers) or not any(answers):
        return None
    if not version_2_with_negative and not all(answers):
        return None
    return data


def evaluate_predictions(data, answers, version_2_with_negative) -> dict:
    """The official metrics of `answers` (SquadPredictions) against the file's gold answers."""
    if version_2_with_negative:
        return dict(evaluate_v2(data, answers.predictions, answers.null_odds))
    return evaluate_v1(data, answers.predictions)


def run_squad(p) -> dict:
    """Trains and/or predicts as the flags say; returns the eval results ({} without gold
    answers or --do_predict).

    Every flag and input file is checked before anything is written.
    """
    check_squad_params(p)
    wf = TaskWorkflow(p)
    wf.describe_strategy()
    config, vocab = resolve_model_files(p)
    try:
        validate_case_matches_checkpoint(p.do_lower_case, getattr(p, "init_checkpoint", None))
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    tokenizer = FullTokenizer(vocab, do_lower_case=p.do_lower_case)
    train_examples = _read(p.train_file, "train_file", True, p, wf.log) if p.do_train else []
    predict_examples = _read(p.predict_file, "predict_file", False, p, wf.log) \
        if p.do_predict else []
    gold = _gold_answers(p.predict_file, p.version_2_with_negative) if p.do_predict else None
    k = wf.check_batch_size()
    num_train_steps = int(len(train_examples) / p.train_batch_size * p.num_train_epochs)
    if p.do_train and num_train_steps < 1:
        raise UsageError(f"--num_train_epochs={p.num_train_epochs} with {len(train_examples)} "
                         f"examples and --train_batch_size={p.train_batch_size} gives no "
                         "training step")
    num_warmup_steps = int(num_train_steps * p.warmup_proportion)
    wf.prepare_output()
    trainer = wf.build_trainer(lambda: BertQuestionAnswerer(config).ensure_built(), span_loss,
                               max(num_train_steps, 1), num_warmup_steps)
    results_files = [PREDICTIONS_FILENAME, NBEST_FILENAME, NULL_ODDS_FILENAME,
                     EVAL_RESULTS_FILENAME] if p.do_predict else []
    wf.initialise(results=results_files, from_scratch="training" if p.do_train else None)
    info = squad_info(p, tokenizer)

    if p.do_train:
        # As the original: the examples shuffled once, before their windows are made.
        shuffled = list(train_examples)
        random.Random(SHUFFLE_SEED).shuffle(shuffled)
        features, train_path = _windows(wf, "train", p.train_file, shuffled, tokenizer, vocab,
                                        p, True, 1)
        wf.log(f"***** Running training *****\n  Num orig examples = {len(train_examples)}\n"
               f"  Num split examples = {len(features)}\n  Batch size = {p.train_batch_size}\n"
               f"  Num steps = {num_train_steps}")
        micro = p.train_batch_size // k
        del features
        wf.train(lambda ctx, skip: squad_dataset(train_path, p.max_seq_length, micro, True,
                                                 seed=p.seed, input_context=ctx).skip(skip))
        wf.export(wf.save_model("final_model", vocab, info.as_extra_file()))

    results = {}
    if p.do_predict:
        features, path = _windows(wf, "predict", p.predict_file, predict_examples, tokenizer,
                                  vocab, p, False, p.predict_batch_size)
        wf.log(f"***** Running predictions *****\n  Num orig examples = "
               f"{len(predict_examples)}\n  Num split examples = {len(features)}\n"
               f"  Batch size = {p.predict_batch_size}")
        logits, unique_ids, _ = trainer.predict(
            squad_dataset(path, p.max_seq_length, p.predict_batch_size, False),
            wf.runtime.enable_xla)
        answers = compute_predictions(
            predict_examples, features, raw_results(unique_ids, logits[..., 0], logits[..., 1]),
            p.n_best_size, p.max_answer_length, tokenizer.do_lower_case,
            p.version_2_with_negative, p.null_score_diff_threshold,
            getattr(p, "verbose_logging", False))
        if wf.chief:
            for written in write_predictions(p.output_dir, answers).values():
                wf.log(f"wrote {written}")
        if gold is not None:
            results = evaluate_predictions(gold, answers, p.version_2_with_negative)
            results["global_step"] = trainer.global_step
            wf.report_results(results)
    wf.close()
    return results
