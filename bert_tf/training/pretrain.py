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

import os

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints import load_weights_into, save_google_checkpoint
from bert_tf.data.pretraining_dataset import (pretraining_dataset, resolve_record_files,
                                              validate_record_file)
from bert_tf.data.pretraining_instances import PretrainingDataError
from bert_tf.data.pretraining_masking import special_ids_from_vocab
from bert_tf.export import export_model
from bert_tf.modeling.pretrainer import BertPretrainer
from bert_tf.training.fine_tune import vars_of
from bert_tf.training.flag_checks import check_pretraining_params
from bert_tf.training.model_files import UsageError, resolve_model_files
from bert_tf.training.optimization import create_optimizer
from bert_tf.training.results import write_eval_results
from bert_tf.training.runtime import configure_runtime, remove_worker_dir, worker_dirs
from bert_tf.training.summaries import SummaryLogger
from bert_tf.training.trainer import LoopConfig, Trainer, without_autotune

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


def _initialise(trainer, p, log):
    """Resume from output_dir, else load --init_checkpoint (heads too when it has them)."""
    restored = trainer.restore()
    if restored:
        log(f"Resuming from {restored} (global step {trainer.global_step})")
    elif getattr(p, "init_checkpoint", None):
        report = load_weights_into(trainer.model, p.init_checkpoint, required_prefixes=("bert/",))
        log(report.summary())
        fresh = [n for n in report.missing if n.startswith("cls/")]
        log("Pretraining heads (cls/*): " + (
            f"freshly initialised ({len(fresh)} variables not in --init_checkpoint)" if fresh
            else "loaded from --init_checkpoint"))
    else:
        log("No --init_checkpoint: pretraining from random initialisation")


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
    # The strategy must exist before any TF op runs (multi-worker / logical-device set-up).
    runtime = configure_runtime(p)
    strategy = runtime.strategy
    _check_records(p)  # before output_dir exists: a bad input leaves nothing behind
    log(f"Distribution: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)")
    k = max(1, int(getattr(p, "gradient_accumulation_steps", 1) or 1))
    if p.train_batch_size % (k * strategy.num_replicas_in_sync):
        raise UsageError(f"--train_batch_size={p.train_batch_size} must be divisible by "
                         f"--gradient_accumulation_steps x replicas = "
                         f"{k * strategy.num_replicas_in_sync}")
    tf.io.gfile.makedirs(p.output_dir)
    work_dir, ckpt_dir = worker_dirs(p.output_dir, strategy)
    if not runtime.chief:
        runtime.cleanups.append(lambda: remove_worker_dir(work_dir))

    loop = LoopConfig(
        train_batch_size=p.train_batch_size, num_train_steps=p.num_train_steps,
        gradient_accumulation_steps=k, clip_norm=getattr(p, "clip_norm", 1.0) or None,
        iterations_per_loop=p.iterations_per_loop, log_every_steps=getattr(p, "log_every_steps", 10),
        save_checkpoints_steps=p.save_checkpoints_steps,
        keep_checkpoint_max=getattr(p, "keep_checkpoint_max", 5), enable_xla=runtime.enable_xla,
        loss_scaling=runtime.dtype == "float16")
    trainer = Trainer(
        strategy, build_model=lambda: BertPretrainer(config).ensure_built(),
        build_optimizer=lambda: create_optimizer(
            getattr(p, "optimizer", "adamw_google"), p.learning_rate, p.num_train_steps,
            p.num_warmup_steps, weight_decay=getattr(p, "weight_decay", 0.01), clip_norm=None),
        loss_fn=pretraining_loss, output_dir=p.output_dir, config=loop, checkpoint_dir=ckpt_dir)
    logger = SummaryLogger(work_dir) if runtime.chief else None
    if logger:
        logger.hparams({key: v for key, v in vars_of(p).items() if v is not None})
    _initialise(trainer, p, log)

    def dataset(batch_size, is_training, ctx=None):
        return pretraining_dataset(
            p.input_file if is_training else _eval_input_file(p), p.max_seq_length, p.max_predictions_per_seq, batch_size,
            is_training=is_training, seed=getattr(p, "seed", 12345), input_context=ctx,
            no_nsp=getattr(p, "no_nsp", False), **masking)

    if p.do_train:
        log(f"***** Running training *****\n  Batch size = {p.train_batch_size}\n"
            f"  Num steps = {p.num_train_steps}")
        micro = p.train_batch_size // k
        trainer.train(
            lambda ctx, skip: dataset(micro, True, ctx).skip(skip),
            on_log=(lambda step, scalars: logger.train_scalars(step, **scalars)) if logger else None,
            log=log)
        if runtime.chief:
            folder = os.path.join(p.output_dir, PRETRAINED_MODEL_DIR)
            save_google_checkpoint(trainer.model, folder, vocab_file=vocab)
            log(f"wrote {folder} (Google format, with cls/* heads)")
            if getattr(p, "export_dir", None):
                export_model(folder, p.export_dir, log=log)

    results = {}
    if p.do_eval:
        results = evaluate_pretraining(trainer.model, dataset(p.eval_batch_size, False),
                                       p.max_eval_steps, strategy)
        results["global_step"] = trainer.global_step
        log("***** Eval results *****")
        for key in sorted(results):
            log(f"  {key} = {results[key]}")
        if runtime.chief:
            write_eval_results(os.path.join(p.output_dir, "eval_results.txt"), results)
            if logger:
                logger.eval_results(trainer.global_step, results)
    if logger:
        logger.close()
    runtime.cleanup()
    return results
