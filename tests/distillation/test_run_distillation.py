"""run_distillation.py end to end, as a subprocess, on the tiny MRPC fixture: run_classifier's
outputs, the teacher's logits computed once into distill_train.tf_record, unlabelled text
labelled by the teacher, resume after a kill, layer transfer, and bad input."""

import json
import shutil

import numpy as np
import pytest
from distillation.conftest import (TEACHER_CONFIG, TEACHER_INFO, distill_args,
                                   kill_distill_after_first_checkpoint, run_distill,
                                   run_distill_ok, write_teacher)
from training.conftest import (MAX_SEQ, N_DEV, N_TEST, N_TRAIN, TRAIN_BATCH, read_tsv_rows,
                               scalar_series, script_env)

N_UNLABELED = 6
STEPS = int((N_TRAIN + N_UNLABELED) / TRAIN_BATCH * 3.0)


@pytest.fixture
def unlabeled_file(tiny_model, tmp_path_factory, _session_cache):
    """Sentence pairs (MRPC is a pair task), one per line, from the fixture's words."""
    if "unlabeled" not in _session_cache:
        words = tiny_model.words
        lines = [f"{words[i]} {words[i + 1]} {words[i + 2]}\t{words[i + 3]} {words[i + 4]}"
                 for i in range(0, 6 * N_UNLABELED, 6)]
        path = tmp_path_factory.mktemp("unlabeled") / "extra.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _session_cache["unlabeled"] = path
    return _session_cache["unlabeled"]


def _args(teacher_dir, mrpc_dir, unlabeled_file, out, **extra):
    return distill_args(teacher_dir, mrpc_dir, out, do_predict="true",
                        unlabeled_file=unlabeled_file, deterministic="true",
                        save_checkpoints_steps=5, log_every_steps=1, **extra)


@pytest.fixture
def main_run(distill_runs, teacher_dir, mrpc_dir, unlabeled_file):
    return distill_runs("distill_main", lambda out: _args(
        teacher_dir, mrpc_dir, unlabeled_file, out, export_dir=out.parent / "export"))


def test_outputs_are_run_classifiers(main_run):
    out = main_run.output_dir
    results = main_run.eval_results()
    assert sorted(results) == ["eval_accuracy", "eval_f1", "eval_loss", "global_step", "loss"]
    assert results["global_step"] == STEPS
    assert abs(results["eval_accuracy"] * N_DEV - round(results["eval_accuracy"] * N_DEV)) < 1e-4
    probs = np.loadtxt(out / "test_results.tsv")
    assert probs.shape == (N_TEST, 2) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert len((out / "MRPC.tsv").read_text().splitlines()) == N_TEST + 1  # GLUE's file
    model = out / "final_model"
    info = json.loads((model / "classifier_info.json").read_text())
    assert info == TEACHER_INFO  # the student reads and answers as the teacher did
    assert json.loads((model / "bert_config.json").read_text())["num_hidden_layers"] == 2
    report = json.loads((out.parent / "export" / "export_report.json").read_text())
    assert report["kind"] == "classifier"
    assert (out.parent / "export" / "classifier" / "saved_model.pb").exists()
    losses = scalar_series(out / "train", "train/loss")
    assert sorted(losses) == list(range(1, STEPS + 1))
    assert (out / "eval").is_dir()


def _teacher_reference(teacher_dir, mrpc_dir, unlabeled_file):
    """The teacher's logits on the training rows then the unlabelled ones, computed here."""
    from bert_tf.data.features import examples_to_features
    from bert_tf.distillation.records import read_unlabeled
    from bert_tf.modeling import BertClassifier
    from bert_tf.tokenization import FullTokenizer, InputExample

    rows = read_tsv_rows(mrpc_dir / "train.tsv")
    examples = [InputExample(f"t{i}", r[3], r[4], r[0]) for i, r in enumerate(rows)]
    examples += read_unlabeled(str(unlabeled_file), 2)
    tokenizer = FullTokenizer(str(teacher_dir / "vocab.txt"), do_lower_case=True)
    features = examples_to_features(examples, ["0", "1"], MAX_SEQ, tokenizer)
    teacher = BertClassifier.from_pretrained(str(teacher_dir), num_labels=2)
    ids = {"input_word_ids": np.array([f.input_ids for f in features], np.int32),
           "input_mask": np.array([f.input_mask for f in features], np.int32),
           "input_type_ids": np.array([f.segment_ids for f in features], np.int32)}
    return teacher(ids).numpy(), [int(r[0]) for r in rows]


def test_teacher_logits_are_computed_once_into_the_records(main_run, teacher_dir, mrpc_dir,
                                                           unlabeled_file, tmp_path):
    import tensorflow as tf

    out = main_run.output_dir
    assert main_run.stdout.count(f"teacher logits: {N_TRAIN + N_UNLABELED} examples") == 1
    spec = {"teacher_logits": tf.io.FixedLenFeature([2], tf.float32),
            "label_ids": tf.io.FixedLenFeature([], tf.int64)}
    rows = [tf.io.parse_single_example(r, spec)
            for r in tf.data.TFRecordDataset(str(out / "distill_train.tf_record"))]
    logits = np.array([r["teacher_logits"].numpy() for r in rows])
    labels = [int(r["label_ids"]) for r in rows]
    want, true_labels = _teacher_reference(teacher_dir, mrpc_dir, unlabeled_file)
    np.testing.assert_allclose(logits, want, atol=2e-5)
    # Labelled rows keep their label; the teacher labels the unlabelled ones.
    assert labels == true_labels + list(np.argmax(want[N_TRAIN:], axis=1))
    meta = json.loads((out / "distill_train.tf_record.fingerprint").read_text())
    assert (meta["labeled"], meta["unlabeled"]) == (N_TRAIN, N_UNLABELED)

    # The same command again: the records and the teacher's logits are reused, not recomputed.
    again_dir = tmp_path / "out"
    shutil.copytree(out, again_dir)
    again = run_distill_ok(_args(teacher_dir, mrpc_dir, unlabeled_file, again_dir))
    assert "teacher logits:" not in again.stdout, again.describe()
    assert f"distill_train.tf_record: {N_TRAIN + N_UNLABELED} examples (reused)" in again.stdout
    assert again.eval_results() == pytest.approx(main_run.eval_results(), abs=1e-6)


def test_a_random_student_learns_the_teachers_distribution(teacher_dir, mrpc_dir, tmp_path):
    # alpha 1, T 1, no dropout: the training loss is the KL divergence from the teacher.
    import tensorflow as tf

    from bert_tf.distillation.losses import soft_target_loss
    from bert_tf.distillation.records import read_teacher_logits
    from bert_tf.modeling import BertClassifier

    config = dict(TEACHER_CONFIG, num_hidden_layers=2, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    (tmp_path / "student.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    run_distill_ok(distill_args(teacher_dir, mrpc_dir, out, student_layers=None,
                                student_config=tmp_path / "student.json", alpha=1.0,
                                temperature=1.0, classifier_dropout=0, num_train_epochs=8,
                                log_every_steps=1))
    losses = scalar_series(out / "train", "train/loss")
    start = np.mean([losses[s] for s in (1, 2, 3)])
    records = str(out / "distill_train.tf_record")
    spec = {name: tf.io.FixedLenFeature([MAX_SEQ], tf.int64)
            for name in ("input_ids", "input_mask", "segment_ids")}
    rows = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(records)]
    features = {key: np.array([r[name].numpy() for r in rows], np.int32) for key, name in (
        ("input_word_ids", "input_ids"), ("input_mask", "input_mask"),
        ("input_type_ids", "segment_ids"))}
    student = BertClassifier.from_pretrained(str(out / "final_model"), num_labels=2)
    kl = soft_target_loss(student(features), read_teacher_logits(records, 2), 1.0).numpy()
    print("KL at the start", start, "after training", kl.mean())
    assert kl.mean() < 0.3 * start, (kl.mean(), losses)


def test_resume_after_a_kill_gives_the_uninterrupted_result(main_run, teacher_dir, mrpc_dir,
                                                            unlabeled_file, tmp_path):
    out = tmp_path / "out"
    args = _args(teacher_dir, mrpc_dir, unlabeled_file, out)
    killed_at = kill_distill_after_first_checkpoint(args)
    assert 0 < killed_at < STEPS
    assert not (out / "final_model").exists() and not (out / "eval_results.txt").exists()
    resumed = run_distill_ok(args)
    assert f"(global step {killed_at})" in resumed.stdout, resumed.describe()
    assert "(reused)" in resumed.stdout  # the teacher's logits were written before the kill
    assert resumed.eval_results() == pytest.approx(main_run.eval_results(), abs=1e-6)
    np.testing.assert_allclose(np.loadtxt(out / "test_results.tsv"),
                               np.loadtxt(main_run.output_dir / "test_results.tsv"), atol=1e-6)


def test_layer_transfer_to_a_narrower_student(teacher_dir, mrpc_dir, tmp_path):
    config = json.loads((teacher_dir / "bert_config.json").read_text())
    config.update(hidden_size=16, num_attention_heads=2, num_hidden_layers=2,
                  intermediate_size=24)
    (tmp_path / "small.json").write_text(json.dumps(config))
    run = run_distill_ok(distill_args(
        teacher_dir, mrpc_dir, tmp_path / "out", student_layers=None,
        student_config=tmp_path / "small.json", intermediate_loss_weight=1.0,
        log_every_steps=1))
    assert "Student: 2 layers, hidden 16, 2 heads, random initialisation" in run.stdout
    losses = scalar_series(tmp_path / "out" / "train", "train/loss")
    assert losses[max(losses)] < losses[1], losses
    saved = json.loads((tmp_path / "out" / "final_model" / "bert_config.json").read_text())
    assert saved["hidden_size"] == 16 and saved["num_hidden_layers"] == 2
    import tensorflow as tf
    names = dict(tf.train.list_variables(str(tmp_path / "out" / "final_model" / "bert_model.ckpt")))
    assert names["bert/encoder/layer_1/output/dense/kernel"] == [24, 16]
    assert not any("projection" in name for name in names)  # a training-time part only


def test_mirrored_with_layer_transfer_matches_one_device(tiny_model, mrpc_dir, tmp_path):
    # No dropout anywhere: the two set-ups then differ only in float32 summation order.
    teacher = write_teacher(tmp_path / "teacher", tiny_model.vocab_file, config=dict(
        TEACHER_CONFIG, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))

    def args(out, **extra):
        return distill_args(teacher, mrpc_dir, out, classifier_dropout=0, log_every_steps=1,
                            intermediate_loss_weight=1.0, **extra)

    one = run_distill_ok(args(tmp_path / "one"))
    two = run_distill_ok(args(tmp_path / "two", distribution_strategy="mirrored"),
                         env=script_env(BERT_TF_LOGICAL_CPUS="2"))
    assert "MirroredStrategy with 2 replica(s)" in two.stdout, two.describe()
    assert two.eval_results() == pytest.approx(one.eval_results(), abs=1e-5)
    for tag in ("train/loss", "train/grad_norm"):
        a, b = (scalar_series(run.output_dir / "train", tag) for run in (two, one))
        assert sorted(a) == sorted(b) and a == pytest.approx(b, abs=1e-5), tag


def _no_classifier_info(teacher, data, tmp):
    folder = tmp / "plain"
    shutil.copytree(teacher, folder)
    (folder / "classifier_info.json").unlink()
    return {"teacher_model": folder}, f"--teacher_model={folder}: not a fine-tuned classifier"


def _other_labels(teacher, data, tmp):
    folder = write_teacher(tmp / "other", teacher / "vocab.txt",
                           info=dict(TEACHER_INFO, labels=["neg", "pos"]))
    return {"teacher_model": folder}, "the teacher's labels (neg, pos) are not the task's (0, 1"


def _wider_student(teacher, data, tmp):
    config = dict(json.loads((teacher / "bert_config.json").read_text()), hidden_size=64)
    (tmp / "wide.json").write_text(json.dumps(config))
    return ({"student_layers": None, "student_config": tmp / "wide.json",
             "intermediate_loss_weight": 1},
            "--intermediate_loss_weight=1.0: the student (hidden_size 64) is wider than the "
            "teacher (32)")


def _too_deep(teacher, data, tmp):
    return {"student_layers": 5}, "--student_layers=5: the teacher has only 4 layers"


def _init_of_another_head(teacher, data, tmp):
    folder = write_teacher(tmp / "three_labels", teacher / "vocab.txt", num_labels=3,
                           config=dict(TEACHER_CONFIG, num_hidden_layers=1))
    return ({"student_layers": None, "student_init": folder},
            "variable 'output_weights' has shape [3, 32] in the checkpoint but the model expects "
            "[2, 32]")


@pytest.mark.parametrize("case, status", [(_no_classifier_info, 2), (_other_labels, 2),
                                          (_wider_student, 2), (_too_deep, 2),
                                          (_init_of_another_head, 1)])
def test_bad_input_is_one_line_and_nothing_written(case, status, teacher_dir, mrpc_dir,
                                                   tmp_path):
    overrides, says = case(teacher_dir, mrpc_dir, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "eval_results.txt").write_text("an earlier run's\n")
    run = run_distill(distill_args(teacher_dir, mrpc_dir, out, **overrides))
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert run.returncode == status and len(errors) == 1, run.describe()
    assert says in errors[0], run.describe()
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["eval_results.txt"]
    assert (out / "eval_results.txt").read_text() == "an earlier run's\n"
