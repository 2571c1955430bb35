"""run_classifier's workflow: flags in, eval_results.txt / test_results.tsv out (and, for GLUE
tasks, the GLUE metrics and leaderboard files: see glue_outputs.py and docs/glue.md).

`run_classifier(params)` takes any object with the flag attributes (absl FLAGS, or a
`types.SimpleNamespace` in tests) so the entry script only parses flags.
"""

import os

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints import load_weights_into, save_google_checkpoint
from bert_tf.checkpoints.classifier_info import ClassifierInfo
from bert_tf.data.features import (cached_tfrecord, classifier_dataset, examples_to_features,
                                   file_digest, fingerprint)
from bert_tf.data.processors import DataFormatError, get_processor
from bert_tf.export import export_model
from bert_tf.modeling import BertClassifier
from bert_tf.tokenization import FullTokenizer, validate_case_matches_checkpoint
from bert_tf.training.glue_outputs import GluePlan, submission_values
from bert_tf.training.flag_checks import check_classifier_params, parse_label_list
from bert_tf.training.model_files import UsageError, resolve_model_files
from bert_tf.training.metrics import (classification_metrics, confusion_matrix,
                                      regression_metrics, softmax)
from bert_tf.training.optimization import create_optimizer
from bert_tf.training.results import (EVAL_RESULTS_FILENAME, TEST_RESULTS_FILENAME,
                                      remove_results, write_eval_results, write_submission,
                                      write_test_results)
from bert_tf.training.runtime import configure_runtime, remove_worker_dir, worker_dirs
from bert_tf.training.summaries import SummaryLogger
from bert_tf.training.trainer import LoopConfig, Trainer


def _processor(p):
    custom = {}
    if p.task_name.lower() in ("tsv", "csv"):
        custom = dict(text_a_column=_column(getattr(p, "text_a_column", None)),
                      text_b_column=_column(getattr(p, "text_b_column", None)),
                      label_column=_column(getattr(p, "label_column", None)),
                      label_list=parse_label_list(getattr(p, "label_list", None)),
                      has_header=getattr(p, "has_header", False))
    elif getattr(p, "use_tfds", False):
        custom = None
    try:
        if custom is None:
            return get_processor(p.task_name if p.task_name.startswith("glue/")
                                 else "glue/" + p.task_name.lower().replace("-", ""))
        return get_processor(p.task_name, **custom)
    except DataFormatError:
        raise
    except ValueError as e:  # an unknown task or option: the flags' fault
        raise UsageError(str(e)) from None


def _check_labels(label_list, train_examples, data_dir):
    """A classifier needs two classes, and training needs examples of more than one."""
    if label_list is None:
        return
    if len(label_list) < 2:
        raise DataFormatError(f"{data_dir}: only one label ({label_list[0]!r}); a classifier "
                              "needs at least two (give them with --label_list)")
    seen = {e.label for e in train_examples}
    if len(seen) == 1:
        raise DataFormatError(f"{data_dir}: every training example has label {seen.pop()!r}; "
                              "there is nothing to learn")


def _clear_previous_results(p, runtime, glue, restored):
    """Removes the previous run's result files of the kinds this run writes, so none of them
    sits beside the new ones looking current if this run stops half-way."""
    if not runtime.chief:
        return
    stale = []
    if p.do_eval:
        stale.append(os.path.join(p.output_dir, EVAL_RESULTS_FILENAME))
    if p.do_predict:
        stale.append(os.path.join(p.output_dir, TEST_RESULTS_FILENAME))
        stale += [os.path.join(p.output_dir, s.submission) for s in glue.predict_sets] if glue \
            else []
    removed = remove_results(stale)
    best_dir = os.path.join(p.output_dir, "best")
    if p.do_train and not restored and tf.io.gfile.exists(best_dir):
        tf.io.gfile.rmtree(best_dir)  # an earlier run's best model, not this run's
        removed.append(best_dir)
    if removed:
        print("Removed the previous run's " + ", ".join(os.path.basename(r) for r in removed),
              flush=True)


def _column(value):
    if value is None or value == "":
        return None
    return int(value) if str(value).lstrip("-").isdigit() else value


def _features(work_dir, name, examples, label_list, p, tokenizer, vocab, pad_to):
    data_dir = p.data_dir if not p.data_dir or "://" in p.data_dir else os.path.abspath(p.data_dir)
    key = fingerprint(name=name, task=p.task_name, data_dir=data_dir,
                      data=[(e.guid, e.text_a, e.text_b, e.label) for e in examples],
                      labels=label_list, seq=p.max_seq_length, lower=tokenizer.do_lower_case,
                      vocab=file_digest(vocab), pad_to=pad_to)
    path = os.path.join(work_dir, f"{name}.tf_record")

    def build():
        feats = examples_to_features(examples, label_list, p.max_seq_length, tokenizer)
        return feats, label_list is None, pad_to, p.max_seq_length, {"name": name}

    meta = cached_tfrecord(path, key, build)
    print(f"{name}.tf_record: {meta['num_real']} examples"
          f"{' (reused)' if meta['reused'] else ''}", flush=True)
    return path, meta


def class_weights(spec, examples, label_list):
    """Per-class loss weights from `--class_weights`: none, balanced, sqrt_balanced or a list.

    balanced = n / (k * n_c), the usual inverse-frequency weights; sqrt_balanced is their
    square root, a milder push towards rare classes. Counts come from the training examples.
    """
    spec = (spec or "none").strip().lower()
    if spec == "none":
        return None
    k = len(label_list)
    if spec in ("balanced", "sqrt_balanced"):
        counts = np.array([sum(1 for e in examples if e.label == label) for label in label_list],
                          np.float64)
        if (counts == 0).any():
            missing = [label_list[i] for i in np.flatnonzero(counts == 0)]
            raise UsageError(f"--class_weights={spec}: no training example has label(s) {missing}")
        weights = counts.sum() / (k * counts)
        return np.sqrt(weights) if spec == "sqrt_balanced" else weights
    try:
        weights = np.array([float(w) for w in spec.split(",")], np.float64)
    except ValueError:
        weights = np.array([])
    if len(weights) != k or not np.isfinite(weights).all() or (weights <= 0).any():
        raise UsageError(f"--class_weights={spec!r}: expected none, balanced, sqrt_balanced or "
                         f"{k} positive finite comma-separated numbers (one per label)")
    return weights


def _loss_fn(is_regression, weights=None):
    if is_regression:
        return lambda logits, labels: tf.square(logits[:, 0] - tf.cast(labels, tf.float32))
    table = None if weights is None else tf.constant(weights, tf.float32)

    def loss(logits, labels):
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.cast(logits, tf.float32))
        return ce if table is None else ce * tf.gather(table, labels)

    return loss


def _evaluate(trainer, path, p, label_list, is_regression, enable_xla, extra=(),
              prefix="eval_"):
    ds = classifier_dataset(path, p.max_seq_length, p.eval_batch_size, is_training=False,
                            is_regression=is_regression,
                            bucket_by_length=getattr(p, "bucket_by_length", False))
    logits, labels, weights = trainer.predict(ds, enable_xla)
    if is_regression:
        results = regression_metrics(logits[:, 0], labels, weights, prefix=prefix)
        cm = None
    else:
        results = classification_metrics(logits, labels, weights, num_labels=len(label_list),
                                         prefix=prefix, extra=extra)
        cm = confusion_matrix(np.argmax(logits, -1), labels, len(label_list), weights)
    if prefix == "eval_":
        results["global_step"] = trainer.global_step
        results["loss"] = results["eval_loss"]
    return results, cm


def _predict(trainer, work_dir, name, examples, label_list, p, tokenizer, vocab, is_regression,
             enable_xla):
    """Test outputs in input order: [n, labels] probabilities, or [n, 1] regression scores."""
    path, _ = _features(work_dir, name, examples, label_list, p, tokenizer, vocab,
                        pad_to=p.predict_batch_size)
    ds = classifier_dataset(path, p.max_seq_length, p.predict_batch_size, is_training=False,
                            is_regression=is_regression,
                            bucket_by_length=getattr(p, "bucket_by_length", False))
    logits, _, weights = trainer.predict(ds, enable_xla)
    real = logits[weights > 0]
    if len(real) != len(examples):
        raise RuntimeError(f"predicted {len(real)} rows for {len(examples)} examples")
    return real[:, :1] if is_regression else softmax(real)


def _primary_metric(results):
    for key in ("eval_mcc", "eval_accuracy", "eval_pearson"):
        if key in results:
            return results[key]
    return -results["eval_loss"]


def run_classifier(p) -> dict:
    """Runs training / evaluation / prediction as the flags say. Returns the eval results.

    Every flag and every split the run will read is checked before anything is written, so
    bad input fails in seconds with one UsageError / DataFormatError and leaves output_dir as
    it was.
    """
    check_classifier_params(p)
    if not (p.do_train or p.do_eval or p.do_predict):
        raise UsageError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    if not p.output_dir:
        raise UsageError("--output_dir is required")
    if not p.task_name:
        raise UsageError("--task_name is required")
    runtime = configure_runtime(p)
    strategy = runtime.strategy
    print(f"Distribution: {type(strategy).__name__} with {strategy.num_replicas_in_sync} "
          f"replica(s)", flush=True)
    config, vocab = resolve_model_files(p)
    try:
        validate_case_matches_checkpoint(p.do_lower_case, getattr(p, "init_checkpoint", None))
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    tokenizer = FullTokenizer(vocab, do_lower_case=p.do_lower_case)
    processor = _processor(p)
    # GLUE: every file the run will read is checked now, not after an hour of training.
    glue = GluePlan.for_run(p, processor)
    if glue:
        glue.check()
    extra_metrics = getattr(processor, "extra_metrics", ())
    # Every split this run reads, read now: a bad row in test.tsv fails before training.
    train_examples = processor.get_train_examples(p.data_dir) if p.do_train else []
    eval_examples = processor.get_dev_examples(p.data_dir) \
        if p.do_eval or getattr(p, "eval_every_steps", 0) else None
    predict_examples = processor.get_test_examples(p.data_dir) if p.do_predict else None
    label_list = None if processor.is_regression else processor.get_labels(p.data_dir)
    _check_labels(label_list, train_examples, p.data_dir)
    num_labels = 1 if label_list is None else len(label_list)
    k = max(1, int(getattr(p, "gradient_accumulation_steps", 1) or 1))
    if p.train_batch_size % (k * strategy.num_replicas_in_sync):
        raise UsageError(f"--train_batch_size={p.train_batch_size} must be divisible by "
                         f"--gradient_accumulation_steps x replicas = {k * strategy.num_replicas_in_sync}")
    num_train_steps = int(len(train_examples) / p.train_batch_size * p.num_train_epochs)
    if p.do_train and num_train_steps < 1:
        raise UsageError(f"--num_train_epochs={p.num_train_epochs} with {len(train_examples)} "
                         f"examples and --train_batch_size={p.train_batch_size} gives no training step")
    num_warmup_steps = int(num_train_steps * p.warmup_proportion)
    pooling = getattr(p, "pooling", "cls") or "cls"
    is_regression = label_list is None
    head_dropout = getattr(p, "classifier_dropout", 0.1)
    if head_dropout is None:
        head_dropout = 0.1
    weights = None if is_regression or not p.do_train else class_weights(
        getattr(p, "class_weights", "none"), train_examples, label_list)
    tf.io.gfile.makedirs(p.output_dir)
    work_dir, ckpt_dir = worker_dirs(p.output_dir, strategy)
    if not runtime.chief:
        runtime.cleanups.append(lambda: remove_worker_dir(work_dir))

    loop = LoopConfig(
        train_batch_size=p.train_batch_size, num_train_steps=max(num_train_steps, 1),
        gradient_accumulation_steps=k, clip_norm=getattr(p, "clip_norm", 1.0) or None,
        iterations_per_loop=p.iterations_per_loop, log_every_steps=getattr(p, "log_every_steps", 10),
        save_checkpoints_steps=p.save_checkpoints_steps,
        keep_checkpoint_max=getattr(p, "keep_checkpoint_max", 5), enable_xla=runtime.enable_xla,
        loss_scaling=runtime.dtype == "float16")
    trainer = Trainer(
        strategy,
        build_model=lambda: BertClassifier(config, num_labels=num_labels, pooling=pooling,
                                           dropout_rate=head_dropout).ensure_built(),
        build_optimizer=lambda: create_optimizer(
            getattr(p, "optimizer", "adamw_google"), p.learning_rate, max(num_train_steps, 1),
            num_warmup_steps, weight_decay=getattr(p, "weight_decay", 0.01), clip_norm=None),
        loss_fn=_loss_fn(is_regression, weights),
        output_dir=p.output_dir, config=loop,
        checkpoint_dir=ckpt_dir)
    # Saved beside final_model/ (and best/) so that export and serving know what outputs mean.
    info = ClassifierInfo(
        labels=None if is_regression else [str(x) for x in label_list], pooling=pooling,
        do_lower_case=bool(tokenizer.do_lower_case), max_seq_length=p.max_seq_length,
        num_segments=2 if any(e.text_b is not None for e in train_examples) else 1,
        task_name=str(p.task_name or "").lower())
    logger = SummaryLogger(work_dir) if runtime.chief else None
    if logger:
        logger.hparams({k2: v for k2, v in vars_of(p).items() if v is not None})

    restored = trainer.restore()
    _clear_previous_results(p, runtime, glue, restored)
    if restored:
        print(f"Resuming from {restored} (global step {trainer.global_step})", flush=True)
    elif p.init_checkpoint:
        report = load_weights_into(trainer.model, p.init_checkpoint)
        print(report.summary(), flush=True)
    elif p.do_train:
        print("No --init_checkpoint: training from random initialisation", flush=True)

    eval_path = None
    if eval_examples is not None:
        eval_path, _ = _features(work_dir, "eval", eval_examples, label_list, p, tokenizer, vocab,
                                 pad_to=p.eval_batch_size)

    if p.do_train:
        train_path, _ = _features(work_dir, "train", train_examples, label_list, p, tokenizer,
                                  vocab, pad_to=1)
        print(f"***** Running training *****\n  Num examples = {len(train_examples)}\n"
              f"  Batch size = {p.train_batch_size}\n  Num steps = {num_train_steps}", flush=True)
        micro = p.train_batch_size // k

        def dataset_fn(ctx, skip):
            return classifier_dataset(train_path, p.max_seq_length, micro, is_training=True,
                                      is_regression=is_regression, seed=p.seed,
                                      input_context=ctx,
                                      bucket_by_length=getattr(p, "bucket_by_length", False)
                                      ).skip(skip)

        best = {"score": None}

        def on_eval(step):
            results, cm = _evaluate(trainer, eval_path, p, label_list, is_regression,
                                    runtime.enable_xla, extra_metrics)
            print(f"eval at step {step}: " + ", ".join(f"{k2}={v:.4f}" for k2, v in sorted(results.items())),
                  flush=True)
            if logger:
                logger.eval_results(step, results, cm, label_list)
            score = _primary_metric(results)
            if not np.isfinite(score):  # a NaN (e.g. constant predictions) never wins, nor blocks
                score = -np.inf
            if runtime.chief and (best["score"] is None or score > best["score"]):
                best["score"] = score
                best_dir = os.path.join(p.output_dir, "best")
                save_google_checkpoint(trainer.model, best_dir, vocab_file=vocab,
                                       extra_files=info.as_extra_file())
                write_eval_results(os.path.join(best_dir, "eval_results.txt"), results)

        trainer.train(
            dataset_fn,
            on_log=(lambda step, scalars: logger.train_scalars(step, **scalars)) if logger else None,
            on_eval=on_eval if getattr(p, "eval_every_steps", 0) and eval_path else None,
            eval_every_steps=getattr(p, "eval_every_steps", 0) or 0)
        if runtime.chief:
            # The fine-tuned model as a Google folder: what --init_checkpoint and export take.
            save_google_checkpoint(trainer.model, os.path.join(p.output_dir, "final_model"),
                                   vocab_file=vocab, extra_files=info.as_extra_file())
            if getattr(p, "export_dir", None):
                # With eval data, the TFLite models' accuracy is measured on it.
                export_model(os.path.join(p.output_dir, "final_model"), p.export_dir,
                             tflite=bool(getattr(p, "export_tflite", False)),
                             eval_examples=eval_examples or None)

    results = {}
    if p.do_eval:
        results, cm = _evaluate(trainer, eval_path, p, label_list, is_regression,
                                runtime.enable_xla, extra_metrics)
        for prefix, other, name in glue.eval_sets if glue else ():
            path, _ = _features(work_dir, name, other.get_dev_examples(p.data_dir), label_list,
                                p, tokenizer, vocab, pad_to=p.eval_batch_size)
            results.update(_evaluate(trainer, path, p, label_list, is_regression,
                                     runtime.enable_xla, extra_metrics, prefix)[0])
        print("***** Eval results *****", flush=True)
        for key in sorted(results):
            print(f"  {key} = {results[key]}", flush=True)
        if runtime.chief:
            write_eval_results(os.path.join(p.output_dir, "eval_results.txt"), results)
            if logger:
                logger.eval_results(trainer.global_step, results, cm, label_list)

    if p.do_predict:
        values = _predict(trainer, work_dir, "predict", predict_examples, label_list, p,
                          tokenizer, vocab, is_regression, runtime.enable_xla)
        if runtime.chief:
            write_test_results(os.path.join(p.output_dir, "test_results.tsv"), values)
            print(f"wrote {os.path.join(p.output_dir, 'test_results.tsv')} ({len(values)} rows)",
                  flush=True)
        for n, s in enumerate(glue.predict_sets if glue else ()):
            if n:  # the main test set is predicted above
                values = _predict(trainer, work_dir, s.name, s.processor.get_test_examples(
                    p.data_dir), label_list, p, tokenizer, vocab, is_regression,
                    runtime.enable_xla)
            if runtime.chief:
                path = os.path.join(p.output_dir, s.submission)
                rows = write_submission(path, s.processor.test_index(p.data_dir),
                                        submission_values(values, label_list, is_regression))
                print(f"wrote {path} ({rows} rows)", flush=True)
    if logger:
        logger.close()
    runtime.cleanup()
    return results


def vars_of(p) -> dict:
    if hasattr(p, "flag_values_dict"):
        return p.flag_values_dict()
    return dict(vars(p))
