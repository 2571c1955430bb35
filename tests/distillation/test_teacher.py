"""The teacher: the folders --teacher_model takes, its logits pass, and --unlabeled_file."""

import json
import shutil

import numpy as np
import pytest
from distillation.conftest import TEACHER_INFO
from support.builders import random_classifier_features

from bert_tf.data.processors import DataFormatError, MissingDataError
from bert_tf.distillation.records import read_unlabeled
from bert_tf.distillation.teacher import load_teacher, predict_logits
from bert_tf.training.model_files import UsageError


def test_a_run_output_dir_means_its_final_model(teacher_dir):
    by_run = load_teacher(str(teacher_dir.parent))
    assert by_run.path == str(teacher_dir) and by_run.kind == "google"
    assert by_run.info.labels == TEACHER_INFO["labels"] and by_run.num_layers == 4


def test_a_folder_without_classifier_info_is_refused(teacher_dir, tmp_path):
    plain = tmp_path / "encoder_only"
    shutil.copytree(teacher_dir, plain)
    (plain / "classifier_info.json").unlink()
    with pytest.raises(UsageError, match="not a fine-tuned classifier \\(no classifier_info.json"):
        load_teacher(str(plain))
    with pytest.raises(UsageError, match="no such folder"):
        load_teacher(str(tmp_path / "missing"))


def test_an_export_teaches_as_its_folder_does(teacher_dir, tmp_path):
    from bert_tf.export import export_model

    export_model(str(teacher_dir), str(tmp_path / "export"), log=lambda _: None)
    folder = load_teacher(str(teacher_dir))
    for given in (tmp_path / "export", tmp_path / "export" / "classifier"):
        exported = load_teacher(str(given))
        assert exported.kind == "export" and exported.info == folder.info
        assert exported.config.to_dict() == folder.config.to_dict()
        reader, reference = exported.reader(), folder.reader()
        assert sorted(reader.names()) == sorted(
            n for n in reference.names() if not n.startswith("cls/"))
        for name in reader.names():
            np.testing.assert_array_equal(reader.get(name), reference.get(name), err_msg=name)


def test_logits_in_length_order_with_trimmed_batches_equal_the_padded_batch(teacher_dir):
    model = load_teacher(str(teacher_dir)).build()
    features = random_classifier_features(11, 32, seed=4, num_labels=2)
    got = predict_logits(model, features, batch_size=4)
    padded = {"input_word_ids": np.array([f.input_ids for f in features], np.int32),
              "input_mask": np.array([f.input_mask for f in features], np.int32),
              "input_type_ids": np.array([f.segment_ids for f in features], np.int32)}
    np.testing.assert_allclose(got, model(padded).numpy(), atol=2e-5)
    assert np.abs(got[1:] - got[:-1]).max() > 1e-3  # rows differ: the order is checked


def test_unlabeled_file_one_text_per_line(tmp_path):
    path = tmp_path / "extra.txt"
    path.write_bytes(b"\xef\xbb\xbffirst text\n\n  \nsecond\ttext\r\nthird\n")
    examples = read_unlabeled(str(path), num_segments=1)
    assert [(e.guid, e.text_a, e.text_b, e.label) for e in examples] == [
        ("unlabeled-1", "first text", None, None), ("unlabeled-4", "second\ttext", None, None),
        ("unlabeled-5", "third", None, None)]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a b\tc d\ne f\tg\n", encoding="utf-8")
    assert [(e.text_a, e.text_b) for e in read_unlabeled(str(pairs), 2)] == [("a b", "c d"),
                                                                            ("e f", "g")]


@pytest.mark.parametrize("content, segments, says", [
    (b"fine\nnot \xff utf-8\n", 1, "extra.txt, line 2: not valid UTF-8"),
    (b"a\tb\nonly one\n", 2, "extra.txt, line 2: expected two tab-separated texts"),
    (b"\n\n", 1, "no text"),
])
def test_unlabeled_file_errors_name_the_line(tmp_path, content, segments, says):
    path = tmp_path / "extra.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as error:
        read_unlabeled(str(path), segments)
    assert says in str(error.value)
    with pytest.raises(MissingDataError, match="no such file"):
        read_unlabeled(str(tmp_path / "absent.txt"), 1)


def test_classifier_info_with_other_labels_is_refused(teacher_dir, tmp_path):
    from bert_tf.distillation.teacher import check_teacher_labels

    teacher = load_teacher(str(teacher_dir))
    check_teacher_labels(teacher, ["0", "1"], "data")
    with pytest.raises(UsageError, match=r"teacher's labels \(0, 1\) are not the task's "
                                         r"\(neg, pos in data\)"):
        check_teacher_labels(teacher, ["neg", "pos"], "data")
    with pytest.raises(UsageError, match=r"not the task's \(regression"):
        check_teacher_labels(teacher, None, "data")
    info = dict(TEACHER_INFO, pooling="max")
    bad = tmp_path / "bad"
    shutil.copytree(teacher_dir, bad)
    (bad / "classifier_info.json").write_text(json.dumps(info))
    with pytest.raises(UsageError, match="--teacher_model: .*pooling must be cls\\|mean"):
        load_teacher(str(bad))
