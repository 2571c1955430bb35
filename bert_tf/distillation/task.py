"""run_distillation's workflow: a fine-tuned classifier teaches a smaller one.

`run_distillation(params)` takes any object with the flag attributes (absl FLAGS, or a
`types.SimpleNamespace` in tests), runs on the shared task workflow
(`bert_tf.training.workflow`), and reads and writes what run_classifier does: the same tasks,
data formats and flags, and `eval_results.txt`, `test_results.tsv`, `final_model/` (a Google
folder with `classifier_info.json`: export and serving take it unchanged), `best/`,
TensorBoard events and resumable checkpoints. Added: `--teacher_model` (teacher.py), the
student flags (student.py), the loss flags (losses.py) and `--unlabeled_file` (records.py).

The teacher's logits on the training rows never change, so they are computed once, written
into `distill_train.tf_record` beside the features, and reused while the fingerprint of the
rows, the teacher's files and its settings stays the same.
"""

import types

from bert_tf.checkpoints import assign_weights, model_tensors
from bert_tf.checkpoints.hf import DictReader
from bert_tf.data.features import examples_to_features, file_digest, fingerprint
from bert_tf.distillation.losses import make_loss_fn
from bert_tf.distillation.model import DistillationModel
from bert_tf.distillation.records import (distillation_dataset, label_unlabeled,
                                          read_unlabeled, write_distillation_records)
from bert_tf.distillation.student import check_intermediate, initialise_student, plan_student
from bert_tf.distillation.teacher import check_teacher_labels, load_teacher, teacher_logits
from bert_tf.modeling import BertClassifier
from bert_tf.tokenization import FullTokenizer, validate_case_matches_checkpoint
from bert_tf.training.fine_tune import (ClassifierOutputs, check_run_flags, class_weights,
                                        classifier_info, features_key, head_dropout,
                                        read_classifier_data, train_steps)
from bert_tf.training.flag_checks import check_number
from bert_tf.training.model_files import UsageError
from bert_tf.training.workflow import TaskWorkflow, flag_values

RECORDS_NAME = "distill_train"


def check_distillation_params(p):
    """run_distillation's flags, before anything is read or written."""
    check_run_flags(p)
    check_number(p, "temperature", low=0, low_open=True)
    check_number(p, "alpha", low=0, high=1)
    check_number(p, "intermediate_loss_weight", low=0)
    check_number(p, "student_layers", low=1, integer=True)
    if getattr(p, "init_checkpoint", None):
        raise UsageError("--init_checkpoint: a distillation run starts from --teacher_model "
                         "(cut with --student_layers) or --student_init")


def resolved_params(p, teacher):
    """A copy of the flags with the teacher's settings where a flag is unset:
    --max_seq_length, --do_lower_case and --pooling."""
    q = types.SimpleNamespace(**flag_values(p))
    if getattr(q, "max_seq_length", None) is None:
        q.max_seq_length = teacher.info.max_seq_length
    if getattr(q, "do_lower_case", None) is None:
        q.do_lower_case = teacher.info.do_lower_case
    if not getattr(q, "pooling", None):
        q.pooling = teacher.info.pooling
    for name, default in (("temperature", 2.0), ("alpha", 0.9), ("intermediate_loss_weight", 0.0)):
        if getattr(q, name, None) is None:
            setattr(q, name, default)
    q.init_checkpoint = None
    return q


def training_records(wf, p, data, unlabeled, tokenizer, plan, teacher, same_tokens):
    """`distill_train.tf_record`: the training rows (labelled, then unlabelled) with the
    teacher's logits; the teacher runs only when the file's fingerprint does not match."""
    labeled = data.train_examples
    examples = labeled + unlabeled
    key = fingerprint(
        name=RECORDS_NAME,
        rows=features_key(RECORDS_NAME, labeled, data.label_list, p, tokenizer, plan.vocab_file, 1),
        unlabeled=[(e.guid, e.text_a, e.text_b) for e in unlabeled],
        teacher=teacher.digest(), teacher_info=teacher.info.to_json())

    def write(target):
        features = examples_to_features(examples, data.label_list, p.max_seq_length, tokenizer)
        if same_tokens and p.max_seq_length == teacher.info.max_seq_length:
            teacher_features = features
        else:  # the teacher reads the texts as it was trained to
            teacher_tokenizer = FullTokenizer(teacher.vocab_file, teacher.info.do_lower_case)
            teacher_features = examples_to_features(examples, data.label_list,
                                                    teacher.info.max_seq_length,
                                                    teacher_tokenizer)
        logits = teacher_logits(teacher, teacher_features, p.eval_batch_size, wf.log)
        label_unlabeled(features[len(labeled):], logits[len(labeled):], data.is_regression)
        rows = write_distillation_records(target, features, logits, data.is_regression)
        return rows, len(features), {"name": RECORDS_NAME, "teacher": teacher.path,
                                     "labeled": len(labeled), "unlabeled": len(unlabeled)}

    return wf.cached_records(RECORDS_NAME, key, write)


def run_distillation(p) -> dict:
    """Distils the teacher into the student as the flags say; returns the eval results.

    Every flag, the teacher, the student and every split the run reads are checked before
    anything is written: bad input fails with one UsageError / DataFormatError line and
    leaves output_dir as it was.
    """
    check_distillation_params(p)
    teacher = load_teacher(getattr(p, "teacher_model", None))
    p = resolved_params(p, teacher)
    wf = TaskWorkflow(p)
    wf.describe_strategy()
    plan = plan_student(p, teacher)
    if p.max_seq_length > plan.config.max_position_embeddings:
        raise UsageError(f"--max_seq_length={p.max_seq_length} is longer than the student's "
                         f"max_position_embeddings={plan.config.max_position_embeddings}")
    try:
        validate_case_matches_checkpoint(p.do_lower_case, getattr(p, "student_init", None))
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    tokenizer = FullTokenizer(plan.vocab_file, do_lower_case=p.do_lower_case)
    data = read_classifier_data(p)
    check_teacher_labels(teacher, data.label_list, p.data_dir)
    unlabeled = []
    if p.do_train and getattr(p, "unlabeled_file", None):
        unlabeled = read_unlabeled(p.unlabeled_file, teacher.info.num_segments)
    same_tokens = (bool(p.do_lower_case) == bool(teacher.info.do_lower_case)
                   and file_digest(plan.vocab_file) == file_digest(teacher.vocab_file))
    weight = float(p.intermediate_loss_weight)
    check_intermediate(plan, teacher, weight, same_tokens, p.max_seq_length)
    k = wf.check_batch_size()
    num_examples = len(data.train_examples) + len(unlabeled)
    num_train_steps, num_warmup_steps = train_steps(p, num_examples)
    weights = None if data.is_regression or not p.do_train else class_weights(
        getattr(p, "class_weights", "none"), data.train_examples, data.label_list)

    def build_student():
        return BertClassifier(plan.config, num_labels=data.num_labels, pooling=p.pooling,
                              dropout_rate=head_dropout(p)).ensure_built()

    # The starting weights are read now, into a copy of the student: a checkpoint that does not
    # fit fails before anything is written.
    initial = build_student()
    report = initialise_student(initial, plan, teacher)
    wf.prepare_output()

    def build_model():
        if not weight:
            return build_student()
        return DistillationModel(build_student(), teacher.build(), plan.targets).ensure_built()

    loss = make_loss_fn(p.temperature, p.alpha, weights, data.is_regression, weight)
    trainer = wf.build_trainer(build_model, loss, max(num_train_steps, 1), num_warmup_steps)
    student = trainer.model.student if weight else trainer.model
    info = classifier_info(p, data, tokenizer, p.pooling)
    outputs = ClassifierOutputs(wf, p, data, tokenizer, plan.vocab_file, info)
    restored, _ = wf.initialise(results=data.result_files(p),
                                fresh_folders=("best",) if p.do_train else (), from_scratch=None)
    wf.log(f"Teacher: {teacher.path} ({teacher.num_layers} layers)\nStudent: {plan.describe()}")
    if not restored and report is not None:
        assign_weights(student, DictReader(model_tensors(initial), report.source, report.format))
        wf.log(report.summary())
    del initial
    eval_path = outputs.eval_records()

    if p.do_train:
        train_path, _ = training_records(wf, p, data, unlabeled, tokenizer, plan, teacher,
                                         same_tokens)
        wf.log(f"***** Running distillation *****\n  Num examples = {num_examples} "
               f"({len(data.train_examples)} labelled, {len(unlabeled)} unlabelled)\n"
               f"  Batch size = {p.train_batch_size}\n  Num steps = {num_train_steps}\n"
               f"  Temperature = {p.temperature}, alpha = {p.alpha}, "
               f"intermediate loss weight = {weight}")
        micro = p.train_batch_size // k

        def dataset_fn(ctx, skip):
            return distillation_dataset(
                train_path, p.max_seq_length, data.num_labels, micro,
                is_regression=data.is_regression, seed=p.seed, input_context=ctx,
                bucket_by_length=getattr(p, "bucket_by_length", False)).skip(skip)

        on_eval = outputs.best_model_saver(eval_path, student) if eval_path else None
        wf.train(dataset_fn, on_eval=on_eval,
                 eval_every_steps=getattr(p, "eval_every_steps", 0) or 0)
        outputs.save_final_model(student)

    results = outputs.evaluate_and_predict(eval_path)
    wf.close()
    return results
