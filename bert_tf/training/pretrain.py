"""run_pretraining's workflow: masked-LM + next-sentence pretraining from TFRecords.

`run_pretraining(params)` takes any object with the flag attributes (absl FLAGS, or a
`types.SimpleNamespace` in tests), as `fine_tune.run_classifier` does.

Loss, as the original `get_masked_lm_output` / `get_next_sentence_output`:
    masked LM:     sum(w * ce) / (sum(w) + 1e-5) over the batch's prediction slots
                   (w = masked_lm_weights: 1 real, 0 padding), a token-weighted mean;
    next sentence: mean over the batch of ce(nsp_logits, next_sentence_labels), each example
                   weighted by next_sentence_weights (all 0 with --no_nsp).
The Trainer's contract is a per-example loss summed over the global batch, so each example
carries its masked-LM numerator scaled by `batch / (sum(w) + 1e-5)` of its own (per replica,
per micro-batch) batch. On one device this is exactly the original; with N replicas or
accumulation the update is the mean of the N per-shard means, which is what the original's
CrossShardOptimizer computed on TPU.

Evaluation (at most `max_eval_steps` batches of `eval_batch_size`) writes the original's
`eval_results.txt` keys: masked_lm_accuracy / masked_lm_loss (weighted by masked_lm_weights),
next_sentence_accuracy / next_sentence_loss (per example), global_step, and loss (the mean of
the per-batch training losses, as the Estimator reported it).

Example:
    >>> run_pretraining(types.SimpleNamespace(input_file="out/*.tfrecord", ...))  # doctest: +SKIP
"""

import numpy as np
import tensorflow as tf

from bert_tf.data.pretraining_dataset import (pretraining_dataset, resolve_record_files,
                                              validate_record_file)
from bert_tf.data.pretraining_instances import PretrainingDataError
from bert_tf.data.pretraining_masking import special_ids_from_vocab
from bert_tf.modeling.pretrainer import BertPretrainer
from bert_tf.training.flag_checks import check_pretraining_params
from bert_tf.training.model_files import UsageError, resolve_model_files
from bert_tf.training.results import EVAL_RESULTS_FILENAME
from bert_tf.training.trainer import without_autotune
from bert_tf.training.workflow import TaskWorkflow

PRETRAINED_MODEL_DIR = "pretrained_model"
_EPSILON = 1e-5  # the original's denominator guard


def pretraining_loss(outputs, labels):
    """Per-example loss [batch] whose batch sum / batch size is the original's total loss.

    Args:
        outputs: BertPretrainer outputs (`mlm_logits` [b, P, V], `nsp_logits` [b, 2]).
        labels: the labels dict of `pretraining_dataset`.
    """
    weights = labels["masked_lm_weights"]
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels["masked_lm_ids"], logits=tf.cast(outputs["mlm_logits"], tf.float32))
    batch = tf.cast(tf.shape(ce)[0], tf.float32)
    # Scaling each example's numerator by batch / sum(w) turns the Trainer's per-example mean
    # into the token-weighted mean of the original.
    mlm = tf.reduce_sum(weights * ce, axis=-1) * batch / (tf.reduce_sum(weights) + _EPSILON)
    nsp = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels["next_sentence_labels"], logits=tf.cast(outputs["nsp_logits"], tf.float32))
    return mlm + nsp * labels["next_sentence_weights"]


def _batch_sums(outputs, labels):
    """The sums one eval batch adds to the metrics (see `evaluate_pretraining`)."""
    weights = labels["masked_lm_weights"]
    mlm_logits = tf.cast(outputs["mlm_logits"], tf.float32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels["masked_lm_ids"],
                                                        logits=mlm_logits)
    correct = tf.cast(tf.equal(tf.argmax(mlm_logits, -1, output_type=tf.int32),
                               labels["masked_lm_ids"]), tf.float32)
    nsp_logits = tf.cast(outputs["nsp_logits"], tf.float32)
    nsp_labels = labels["next_sentence_labels"]
    nsp_ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=nsp_labels, logits=nsp_logits)
    nsp_correct = tf.cast(tf.equal(tf.argmax(nsp_logits, -1, output_type=tf.int32), nsp_labels),
                          tf.float32)
    mlm_sum, mlm_weight = tf.reduce_sum(weights * ce), tf.reduce_sum(weights)
    batch_loss = mlm_sum / (mlm_weight + _EPSILON) + tf.reduce_mean(
        nsp_ce * labels["next_sentence_weights"])
    return {"mlm_loss": mlm_sum, "mlm_correct": tf.reduce_sum(weights * correct),
            "mlm_weight": mlm_weight, "nsp_loss": tf.reduce_sum(nsp_ce),
            "nsp_correct": tf.reduce_sum(nsp_correct),
            "examples": tf.cast(tf.shape(nsp_ce)[0], tf.float32), "batch_loss": batch_loss}


def evaluate_pretraining(model, dataset, max_steps=None, strategy=None) -> dict:
    """The original's eval metrics of `model` over (at most `max_steps` batches of) `dataset`.

    Next-sentence metrics count every example (also with --no_nsp, where they show the untrained
    head); `loss` is the mean over batches of the training loss, as the Estimator reported it.

    Args:
        model: a BertPretrainer.
        dataset: `pretraining_dataset(..., is_training=False)` batches.
        max_steps: batches to evaluate (None or <= 0: all).
        strategy: the training strategy (TPU variables are read through it).

    Example:
        >>> evaluate_pretraining(model, ds, max_steps=100)["masked_lm_accuracy"]  # doctest: +SKIP
    """
    def step(features, labels):
        return _batch_sums(model(features, training=False), labels)

    if isinstance(strategy, tf.distribute.TPUStrategy):
        inner = tf.function(step)

        @tf.function
        def run(features, labels):
            # Every core gets the whole batch; one core's sums are the batch's sums.
            per_replica = strategy.run(inner, args=(features, labels))
            return strategy.experimental_local_results(per_replica)[0]
    else:
        run = tf.function(step)
    if max_steps and max_steps > 0:
        dataset = dataset.take(max_steps)
    totals, batches, loss_total = {}, 0, 0.0
    for features, labels, _ in without_autotune(dataset):
        sums = {k: float(v) for k, v in run(features, labels).items()}
        loss_total += sums.pop("batch_loss")
        for key, value in sums.items():
            totals[key] = totals.get(key, 0.0) + value
        batches += 1
    if not batches:
        raise PretrainingDataError("--input_file: no evaluation batch")
    return {
        "masked_lm_accuracy": np.float32(totals["mlm_correct"] / max(totals["mlm_weight"], 1e-12)),
        "masked_lm_loss": np.float32(totals["mlm_loss"] / max(totals["mlm_weight"], 1e-12)),
        "next_sentence_accuracy": np.float32(totals["nsp_correct"] / totals["examples"]),
        "next_sentence_loss": np.float32(totals["nsp_loss"] / totals["examples"]),
        "loss": np.float32(loss_total / batches),
    }


def resolve_pretraining_files(p):
    """(BertConfig, vocab_file or None); dynamic masking needs the vocab's special ids."""
    config, vocab = resolve_model_files(p, vocab_required=False)
    if getattr(p, "dynamic_masking", False) and not vocab:
        raise UsageError("--dynamic_masking needs --vocab_file (no vocab.txt beside "
                         "--init_checkpoint or --bert_config_file)")
    return config, vocab


def _eval_input_file(p):
    """--eval_input_file, or --input_file as in the original (which evaluates on its training data)."""
    return getattr(p, "eval_input_file", None) or p.input_file


def _check_records(p):
    """Validates every input file before anything is written (errors name file and flag)."""
    flags = [("input_file", p.input_file)]
    if p.do_eval and getattr(p, "eval_input_file", None):
        flags.append(("eval_input_file", p.eval_input_file))
    for flag, pattern in flags:
        files = resolve_record_files(pattern, flag=flag)
        if not any([validate_record_file(f, p.max_seq_length, p.max_predictions_per_seq)
                    for f in files]):
            raise PretrainingDataError(f"--{flag}: no records in {', '.join(files)}")


def _masking_kwargs(p, vocab):
    if not getattr(p, "dynamic_masking", False):
        return {}
    from bert_tf.tokenization import load_vocab
    try:
        ids = special_ids_from_vocab(load_vocab(vocab))
    except KeyError as e:
        raise UsageError(f"--vocab_file: {vocab}: {e.args[0]}") from None
    return dict(dynamic_masking=True, **ids)


def _check_flags(p):
    if not (p.do_train or p.do_eval):
        raise UsageError("At least one of `do_train` or `do_eval` must be True.")
    if not p.output_dir:
        raise UsageError("--output_dir is required")
    if not p.input_file:
        raise UsageError("--input_file is required")
    check_pretraining_params(p)


def _describe_heads(report, log):
    fresh = [n for n in report.missing if n.startswith("cls/")]
    log("Pretraining heads (cls/*): " + (
        f"freshly initialised ({len(fresh)} variables not in --init_checkpoint)" if fresh
        else "loaded from --init_checkpoint"))


def run_pretraining(p, log=None) -> dict:
    """Trains and/or evaluates as the flags say; returns the eval results ({} without do_eval).

    Writes, in --output_dir: TF checkpoints `model.ckpt-N` (resumed on a rerun), TensorBoard
    events, `eval_results.txt`, and after training `pretrained_model/`, a Google folder
    (bert_config.json, vocab.txt, bert_model.ckpt.* with cls/*) that --init_checkpoint takes.
    """
    log = log or (lambda text: print(text, flush=True))
    _check_flags(p)
    config, vocab = resolve_pretraining_files(p)
    masking = _masking_kwargs(p, vocab)
    wf = TaskWorkflow(p, log)
    _check_records(p)  # before output_dir exists: a bad input leaves nothing behind
    wf.describe_strategy()
    k = wf.check_batch_size()
    wf.prepare_output()
    trainer = wf.build_trainer(lambda: BertPretrainer(config).ensure_built(), pretraining_loss,
                               p.num_train_steps, p.num_warmup_steps)
    _, report = wf.initialise(results=[EVAL_RESULTS_FILENAME] if p.do_eval else [],
                              required_prefixes=("bert/",), from_scratch="pretraining")
    if report is not None:
        _describe_heads(report, log)

    def dataset(batch_size, is_training, ctx=None):
        return pretraining_dataset(
            p.input_file if is_training else _eval_input_file(p), p.max_seq_length,
            p.max_predictions_per_seq, batch_size, is_training=is_training,
            seed=getattr(p, "seed", 12345), input_context=ctx,
            no_nsp=getattr(p, "no_nsp", False), static_shapes=wf.runtime.static_shapes,
            **masking)

    if p.do_train:
        log(f"***** Running training *****\n  Batch size = {p.train_batch_size}\n"
            f"  Num steps = {p.num_train_steps}")
        micro = p.train_batch_size // k
        wf.train(lambda ctx, skip: dataset(micro, True, ctx).skip(skip))
        folder = wf.save_model(PRETRAINED_MODEL_DIR, vocab)
        if folder:
            log(f"wrote {folder} (Google format, with cls/* heads)")
            wf.export(folder, log=log)

    results = {}
    if p.do_eval:
        results = evaluate_pretraining(trainer.model, dataset(p.eval_batch_size, False),
                                       p.max_eval_steps, wf.strategy)
        results["global_step"] = trainer.global_step
        wf.report_results(results)
    wf.close()
    return results
