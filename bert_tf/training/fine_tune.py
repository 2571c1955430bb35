"""run_classifier's workflow: flags in, eval_results.txt / test_results.tsv out (and, for GLUE
tasks, the GLUE metrics and leaderboard files: see glue_outputs.py and docs/glue.md).

`run_classifier(params)` takes any object with the flag attributes (absl FLAGS, or a
`types.SimpleNamespace` in tests) so the entry script only parses flags.

The pieces other classifier tasks reuse (run_distillation trains another model on the same
data and writes the same outputs) are public:
    data = read_classifier_data(p)                  # every split read and checked, no writes
    outputs = ClassifierOutputs(wf, p, data, tokenizer, vocab, info)
    path, meta = outputs.features("eval", data.eval_examples, pad_to=p.eval_batch_size)
    wf.train(dataset_fn, on_eval=outputs.best_model_saver(eval_path, model))
    outputs.save_final_model(model)                 # final_model/ (+ export)
    results = outputs.evaluate_and_predict(eval_path)   # eval_results.txt, test_results.tsv
"""

import dataclasses
import os
from typing import List, Optional

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.classifier_info import ClassifierInfo
from bert_tf.data.features import (classifier_dataset, examples_to_features, file_digest,
                                   fingerprint, write_tfrecord)
from bert_tf.data.processors import DataFormatError, get_processor
from bert_tf.modeling import BertClassifier
from bert_tf.tokenization import FullTokenizer, validate_case_matches_checkpoint
from bert_tf.training.glue_outputs import GluePlan, submission_values
from bert_tf.training.flag_checks import check_classifier_params, parse_label_list
from bert_tf.training.model_files import UsageError, resolve_model_files
from bert_tf.training.metrics import (classification_metrics, confusion_matrix,
                                      regression_metrics, softmax)
from bert_tf.training.results import (EVAL_RESULTS_FILENAME, TEST_RESULTS_FILENAME,
                                      write_eval_results, write_submission, write_test_results)
from bert_tf.training.workflow import TaskWorkflow


def classifier_processor(p):
    """The data processor that `--task_name` (and the tsv/csv column flags) name."""
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


def check_labels(label_list, train_examples, data_dir):
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


def _column(value):
    if value is None or value == "":
        return None
    return int(value) if str(value).lstrip("-").isdigit() else value


@dataclasses.dataclass
class ClassifierData:
    """Everything a classifier run reads from `--data_dir`, read and checked up front.

    Attributes:
        processor: the task's data processor.
        glue: the GLUE plan (extra eval sets, leaderboard files), None for other tasks.
        train_examples: [] without --do_train.
        eval_examples: None without --do_eval or --eval_every_steps.
        predict_examples: None without --do_predict.
        label_list: label names in class-id order (None: regression).
        extra_metrics: the processor's extra eval metrics (e.g. GLUE's MCC for CoLA).
    """

    processor: object
    glue: Optional[GluePlan]
    train_examples: List
    eval_examples: Optional[List]
    predict_examples: Optional[List]
    label_list: Optional[List[str]]
    extra_metrics: tuple = ()

    @property
    def is_regression(self) -> bool:
        return self.label_list is None

    @property
    def num_labels(self) -> int:
        return 1 if self.label_list is None else len(self.label_list)

    @property
    def num_segments(self) -> int:
        return 2 if any(e.text_b is not None for e in self.train_examples) else 1

    def result_files(self, p) -> List[str]:
        """The result files this run writes (a previous run's are removed when it starts)."""
        names = []
        if p.do_eval:
            names.append(EVAL_RESULTS_FILENAME)
        if p.do_predict:
            names.append(TEST_RESULTS_FILENAME)
            names += [s.submission for s in self.glue.predict_sets] if self.glue else []
        return names


def read_classifier_data(p) -> ClassifierData:
    """Reads every split the flags ask for (train, dev, test), so that a bad row in test.tsv
    fails in seconds, before anything is written; GLUE tasks also check every file they read."""
    processor = classifier_processor(p)
    glue = GluePlan.for_run(p, processor)
    if glue:
        glue.check()
    train_examples = processor.get_train_examples(p.data_dir) if p.do_train else []
    eval_examples = processor.get_dev_examples(p.data_dir) \
        if p.do_eval or getattr(p, "eval_every_steps", 0) else None
    predict_examples = processor.get_test_examples(p.data_dir) if p.do_predict else None
    label_list = None if processor.is_regression else processor.get_labels(p.data_dir)
    check_labels(label_list, train_examples, p.data_dir)
    return ClassifierData(processor, glue, train_examples, eval_examples, predict_examples,
                          label_list, getattr(processor, "extra_metrics", ()))


def features_key(name, examples, label_list, p, tokenizer, vocab, pad_to) -> str:
    """The fingerprint of a classifier records file: what its rows depend on."""
    data_dir = p.data_dir if not p.data_dir or "://" in p.data_dir else os.path.abspath(p.data_dir)
    return fingerprint(name=name, task=p.task_name, data_dir=data_dir,
                       data=[(e.guid, e.text_a, e.text_b, e.label) for e in examples],
                       labels=label_list, seq=p.max_seq_length, lower=tokenizer.do_lower_case,
                       vocab=file_digest(vocab), pad_to=pad_to)


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


def classifier_loss(is_regression, weights=None):
    """run_classifier's per-example loss: (class-weighted) cross-entropy, or squared error."""
    if is_regression:
        return lambda logits, labels: tf.square(logits[:, 0] - tf.cast(labels, tf.float32))
    table = None if weights is None else tf.constant(weights, tf.float32)

    def loss(logits, labels):
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.cast(logits, tf.float32))
        return ce if table is None else ce * tf.gather(table, labels)

    return loss


_loss_fn = classifier_loss  # the name the trainer tests and the bench import


def primary_metric(results):
    """The eval result `best/` is chosen by (higher is better)."""
    for key in ("eval_mcc", "eval_accuracy", "eval_pearson"):
        if key in results:
            return results[key]
    return -results["eval_loss"]


class ClassifierOutputs:
    """The records, evaluations and result files of a classifier run on a `TaskWorkflow`.

    Args:
        wf: the run's workflow (its trainer built).
        p: the flags.
        data: the run's `ClassifierData`.
        tokenizer: the model's tokenizer.
        vocab: its vocab file (copied into final_model/ and best/).
        info: the `ClassifierInfo` saved beside the weights.
    """

    def __init__(self, wf: TaskWorkflow, p, data: ClassifierData, tokenizer, vocab,
                 info: ClassifierInfo):
        self.wf, self.p, self.data = wf, p, data
        self.tokenizer, self.vocab, self.info = tokenizer, vocab, info

    def features(self, name, examples, pad_to):
        """`work_dir/<name>.tf_record` of `examples` (reused when its fingerprint matches)."""
        p, data, tokenizer = self.p, self.data, self.tokenizer
        key = features_key(name, examples, data.label_list, p, tokenizer, self.vocab, pad_to)

        def write(target):
            feats = examples_to_features(examples, data.label_list, p.max_seq_length, tokenizer)
            rows = write_tfrecord(target, feats, data.is_regression, pad_to, p.max_seq_length)
            return rows, len(feats), {"name": name}

        return self.wf.cached_records(name, key, write)

    def eval_records(self):
        """The dev split's records (None when this run does not evaluate)."""
        if self.data.eval_examples is None:
            return None
        return self.features("eval", self.data.eval_examples, pad_to=self.p.eval_batch_size)[0]

    def evaluate(self, path, prefix="eval_"):
        """(results, confusion matrix or None) of the trainer's model on a records file."""
        p, data, trainer = self.p, self.data, self.wf.trainer
        ds = classifier_dataset(path, p.max_seq_length, p.eval_batch_size, is_training=False,
                                is_regression=data.is_regression,
                                bucket_by_length=getattr(p, "bucket_by_length", False))
        logits, labels, weights = trainer.predict(ds, self.wf.runtime.enable_xla)
        if data.is_regression:
            results = regression_metrics(logits[:, 0], labels, weights, prefix=prefix)
            cm = None
        else:
            results = classification_metrics(logits, labels, weights,
                                              num_labels=len(data.label_list), prefix=prefix,
                                              extra=data.extra_metrics)
            cm = confusion_matrix(np.argmax(logits, -1), labels, len(data.label_list), weights)
        if prefix == "eval_":
            results["global_step"] = trainer.global_step
            results["loss"] = results["eval_loss"]
        return results, cm

    def predict(self, name, examples):
        """Test outputs in input order: [n, labels] probabilities, or [n, 1] regression scores."""
        p = self.p
        path, _ = self.features(name, examples, pad_to=p.predict_batch_size)
        ds = classifier_dataset(path, p.max_seq_length, p.predict_batch_size, is_training=False,
                                is_regression=self.data.is_regression,
                                bucket_by_length=getattr(p, "bucket_by_length", False))
        logits, _, weights = self.wf.trainer.predict(ds, self.wf.runtime.enable_xla)
        real = logits[weights > 0]
        if len(real) != len(examples):
            raise RuntimeError(f"predicted {len(real)} rows for {len(examples)} examples")
        return real[:, :1] if self.data.is_regression else softmax(real)

    def best_model_saver(self, eval_path, model=None):
        """The `on_eval(step)` of `--eval_every_steps`: evaluates, logs, and keeps the best
        evaluation's model (`model`, default the trainer's) in output_dir/best/."""
        wf, label_list = self.wf, self.data.label_list
        best = {"score": None}

        def on_eval(step):
            results, cm = self.evaluate(eval_path)
            wf.log(f"eval at step {step}: " + ", ".join(f"{k2}={v:.4f}"
                                                        for k2, v in sorted(results.items())))
            if wf.logger:
                wf.logger.eval_results(step, results, cm, label_list)
            score = primary_metric(results)
            if not np.isfinite(score):  # a NaN (e.g. constant predictions) never wins, nor blocks
                score = -np.inf
            if wf.chief and (best["score"] is None or score > best["score"]):
                best["score"] = score
                best_dir = wf.save_model("best", self.vocab, self.info.as_extra_file(), model)
                write_eval_results(os.path.join(best_dir, EVAL_RESULTS_FILENAME), results)

        return on_eval

    def save_final_model(self, model=None):
        """final_model/ (a Google folder with classifier_info.json: what --init_checkpoint and
        export take) and, with --export_dir, its export; with eval data, the TFLite models'
        accuracy is measured on it."""
        self.wf.export(self.wf.save_model("final_model", self.vocab, self.info.as_extra_file(),
                                          model),
                       tflite=bool(getattr(self.p, "export_tflite", False)),
                       eval_examples=self.data.eval_examples or None)

    def evaluate_and_predict(self, eval_path) -> dict:
        """--do_eval: eval_results.txt (and GLUE's extra dev sets); --do_predict:
        test_results.tsv (and GLUE's leaderboard files). Returns the eval results."""
        wf, p, data = self.wf, self.p, self.data
        glue, label_list = data.glue, data.label_list
        results = {}
        if p.do_eval:
            results, cm = self.evaluate(eval_path)
            for prefix, other, name in glue.eval_sets if glue else ():
                path, _ = self.features(name, other.get_dev_examples(p.data_dir),
                                        pad_to=p.eval_batch_size)
                results.update(self.evaluate(path, prefix)[0])
            wf.report_results(results, summaries=dict(confusion=cm, label_names=label_list))

        if p.do_predict:
            values = self.predict("predict", data.predict_examples)
            if wf.chief:
                write_test_results(os.path.join(p.output_dir, TEST_RESULTS_FILENAME), values)
                wf.log(f"wrote {os.path.join(p.output_dir, TEST_RESULTS_FILENAME)} "
                       f"({len(values)} rows)")
            for n, s in enumerate(glue.predict_sets if glue else ()):
                if n:  # the main test set is predicted above
                    values = self.predict(s.name, s.processor.get_test_examples(p.data_dir))
                if wf.chief:
                    path = os.path.join(p.output_dir, s.submission)
                    rows = write_submission(path, s.processor.test_index(p.data_dir),
                                            submission_values(values, label_list,
                                                              data.is_regression))
                    wf.log(f"wrote {path} ({rows} rows)")
        return results


def check_run_flags(p):
    """The flags every classifier-style run needs, before anything is read."""
    check_classifier_params(p)
    if not (p.do_train or p.do_eval or p.do_predict):
        raise UsageError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    if not p.output_dir:
        raise UsageError("--output_dir is required")
    if not p.task_name:
        raise UsageError("--task_name is required")


def train_steps(p, num_examples) -> (int, int):
    """(training steps, warmup steps) as the original counts them; no step is a UsageError."""
    num_train_steps = int(num_examples / p.train_batch_size * p.num_train_epochs)
    if p.do_train and num_train_steps < 1:
        raise UsageError(f"--num_train_epochs={p.num_train_epochs} with {num_examples} "
                         f"examples and --train_batch_size={p.train_batch_size} gives no training step")
    return num_train_steps, int(num_train_steps * p.warmup_proportion)


def head_dropout(p) -> float:
    value = getattr(p, "classifier_dropout", 0.1)
    return 0.1 if value is None else value


def run_classifier(p) -> dict:
    """Runs training / evaluation / prediction as the flags say. Returns the eval results.

    Every flag and every split the run will read is checked before anything is written, so
    bad input fails in seconds with one UsageError / DataFormatError and leaves output_dir as
    it was.
    """
    check_run_flags(p)
    wf = TaskWorkflow(p)
    wf.describe_strategy()
    config, vocab = resolve_model_files(p)
    try:
        validate_case_matches_checkpoint(p.do_lower_case, getattr(p, "init_checkpoint", None))
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    tokenizer = FullTokenizer(vocab, do_lower_case=p.do_lower_case)
    data = read_classifier_data(p)
    k = wf.check_batch_size()
    num_train_steps, num_warmup_steps = train_steps(p, len(data.train_examples))
    pooling = getattr(p, "pooling", "cls") or "cls"
    weights = None if data.is_regression or not p.do_train else class_weights(
        getattr(p, "class_weights", "none"), data.train_examples, data.label_list)
    wf.prepare_output()
    wf.build_trainer(
        lambda: BertClassifier(config, num_labels=data.num_labels, pooling=pooling,
                               dropout_rate=head_dropout(p)).ensure_built(),
        classifier_loss(data.is_regression, weights), max(num_train_steps, 1), num_warmup_steps)
    # Saved beside final_model/ (and best/) so that export and serving know what outputs mean.
    info = classifier_info(p, data, tokenizer, pooling)
    outputs = ClassifierOutputs(wf, p, data, tokenizer, vocab, info)
    wf.initialise(results=data.result_files(p), fresh_folders=("best",) if p.do_train else (),
                  from_scratch="training" if p.do_train else None)
    eval_path = outputs.eval_records()

    if p.do_train:
        train_path, _ = outputs.features("train", data.train_examples, pad_to=1)
        wf.log(f"***** Running training *****\n  Num examples = {len(data.train_examples)}\n"
               f"  Batch size = {p.train_batch_size}\n  Num steps = {num_train_steps}")
        micro = p.train_batch_size // k

        def dataset_fn(ctx, skip):
            return classifier_dataset(train_path, p.max_seq_length, micro, is_training=True,
                                      is_regression=data.is_regression, seed=p.seed,
                                      input_context=ctx,
                                      bucket_by_length=getattr(p, "bucket_by_length", False)
                                      ).skip(skip)

        wf.train(dataset_fn, on_eval=outputs.best_model_saver(eval_path) if eval_path else None,
                 eval_every_steps=getattr(p, "eval_every_steps", 0) or 0)
        outputs.save_final_model()

    results = outputs.evaluate_and_predict(eval_path)
    wf.close()
    return results


def classifier_info(p, data: ClassifierData, tokenizer, pooling) -> ClassifierInfo:
    """What export and serving need beyond the weights (classifier_info.json)."""
    return ClassifierInfo(
        labels=None if data.is_regression else [str(x) for x in data.label_list],
        pooling=pooling, do_lower_case=bool(tokenizer.do_lower_case),
        max_seq_length=p.max_seq_length, num_segments=data.num_segments,
        task_name=str(p.task_name or "").lower())
