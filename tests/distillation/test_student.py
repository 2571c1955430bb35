"""The student: which teacher layers a cut keeps, that a cut student holds exactly those
weights, the checks on student flags, and the DistillationModel used for layer transfer."""

import json
import types

import numpy as np
import pytest
import tensorflow as tf
from distillation.conftest import TEACHER_LAYERS

from bert_tf.checkpoints import model_tensors
from bert_tf.distillation.model import DistillationModel
from bert_tf.distillation.student import (check_intermediate, default_kept_layers,
                                          initialise_student, plan_student, span_targets,
                                          uniform_targets)
from bert_tf.distillation.teacher import load_teacher
from bert_tf.modeling import BertClassifier
from bert_tf.training.model_files import UsageError


def _flags(**values):
    base = dict(student_layers=None, student_layer_map=None, student_config=None,
                student_init=None)
    base.update(values)
    return types.SimpleNamespace(**base)


def test_default_kept_layers_span_the_teacher_bottom_to_top():
    assert default_kept_layers(12, 6) == [0, 2, 4, 7, 9, 11]  # DistilBERT's choice
    assert default_kept_layers(6, 3) == [0, 3, 5]
    assert default_kept_layers(6, 2) == [0, 5]
    assert default_kept_layers(6, 6) == list(range(6))
    assert default_kept_layers(6, 1) == [5]
    assert span_targets([0, 3, 5], 6) == [2, 4, 5]
    assert uniform_targets(3, 6) == [1, 3, 5]
    assert uniform_targets(2, 6) == [2, 5]


def _cut_student(teacher_dir, **flags):
    teacher = load_teacher(str(teacher_dir))
    plan = plan_student(_flags(**flags), teacher)
    student = BertClassifier(plan.config, num_labels=2, pooling="cls").ensure_built()
    report = initialise_student(student, plan, teacher)
    assert not report.missing, report.summary()
    return plan, student


@pytest.mark.parametrize("flags, kept", [({"student_layers": 2}, [0, 3]),
                                         ({"student_layer_map": "1,2"}, [1, 2]),
                                         ({"student_layers": 3, "student_layer_map": "0,1,3"},
                                          [0, 1, 3])])
def test_a_cut_student_holds_the_teachers_kept_layers_weight_for_weight(teacher_dir, flags,
                                                                       kept):
    plan, student = _cut_student(teacher_dir, **flags)
    assert plan.kept_layers == kept and plan.config.num_hidden_layers == len(kept)
    reader = tf.train.load_checkpoint(str(teacher_dir / "bert_model.ckpt"))
    theirs = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    ours = model_tensors(student)
    expected = {}
    for name, value in theirs.items():
        if name.startswith("bert/encoder/layer_"):
            layer, rest = name[len("bert/encoder/layer_"):].split("/", 1)
            if int(layer) in kept:
                expected[f"bert/encoder/layer_{kept.index(int(layer))}/{rest}"] = value
        else:
            expected[name] = value
    assert sorted(ours) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(ours[name], value, err_msg=name)


def test_a_full_depth_cut_is_the_teacher(teacher_dir):
    teacher = load_teacher(str(teacher_dir))
    _, student = _cut_student(teacher_dir, student_layers=TEACHER_LAYERS)
    ids = np.random.default_rng(0).integers(5, 99, (3, 12)).astype(np.int32)
    features = {"input_word_ids": ids, "input_mask": np.ones_like(ids),
                "input_type_ids": np.zeros_like(ids)}
    np.testing.assert_allclose(student(features).numpy(), teacher.build()(features).numpy(),
                               atol=1e-5)


@pytest.mark.parametrize("flags, says", [
    ({"student_layers": TEACHER_LAYERS + 1}, f"--student_layers={TEACHER_LAYERS + 1}: the "
                                             f"teacher has only {TEACHER_LAYERS} layers"),
    ({"student_layer_map": "0,4"}, "--student_layer_map=0,4: the teacher's layers are 0..3"),
    ({"student_layer_map": "2,1"}, "from the bottom up"),
    ({"student_layers": 3, "student_layer_map": "0,1"}, "names 2 layers, --student_layers=3"),
    ({"student_layers": 2, "student_config": "x.json"}, "do not go with --student_config"),
    ({}, "no student: give --student_layers=K"),
    ({"student_config": "/nonexistent/bert_config.json"}, "--student_config: /nonexistent"),
])
def test_student_flags_that_cannot_work_are_one_usage_error(teacher_dir, flags, says):
    with pytest.raises(UsageError, match=None) as error:
        plan_student(_flags(**flags), load_teacher(str(teacher_dir)))
    assert says in str(error.value)


def test_intermediate_losses_refuse_a_wider_student(teacher_dir, tmp_path):
    teacher = load_teacher(str(teacher_dir))
    wide = dict(teacher.config.to_dict(), hidden_size=64, num_attention_heads=4)
    (tmp_path / "wide.json").write_text(json.dumps(wide))
    plan = plan_student(_flags(student_config=str(tmp_path / "wide.json")), teacher)
    check_intermediate(plan, teacher, 0.0, True, 32)  # off: any width
    with pytest.raises(UsageError, match="is wider than the teacher"):
        check_intermediate(plan, teacher, 1.0, True, 32)
    narrow = plan_student(_flags(student_layers=2), teacher)
    with pytest.raises(UsageError, match="see different tokens"):
        check_intermediate(narrow, teacher, 1.0, False, 32)


def _features(seed=0, batch=3, seq=10):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 99, (batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[0, 6:] = 0
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids)}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_distillation_model_trains_the_student_against_an_untracked_teacher(teacher_dir,
                                                                           pooling):
    teacher = load_teacher(str(teacher_dir))
    config = dict(teacher.config.to_dict(), hidden_size=16, num_attention_heads=2,
                  num_hidden_layers=2, hidden_dropout_prob=0.0,
                  attention_probs_dropout_prob=0.0)
    student = BertClassifier(config, num_labels=2, pooling=pooling, dropout_rate=0.0)
    model = DistillationModel(student.ensure_built(), teacher.build(), [1, 3]).ensure_built()
    ids = {id(v) for v in model.variables}
    assert not ids & {id(v) for v in model.teacher.variables}, "teacher weights are tracked"
    assert ids == {id(v) for v in student.variables} | {
        id(v) for dense in model.projections for v in dense.variables}
    assert len(model.projections) == 2  # hidden 16 -> 32
    features = _features()
    np.testing.assert_allclose(model(features).numpy(), student(features).numpy(), atol=1e-6)
    out = model(features, training=True)
    # Without dropout, the training pass computes the student's own logits.
    np.testing.assert_allclose(out["logits"].numpy(), student(features).numpy(), atol=1e-5)
    assert out["intermediate"].shape == (3,) and (out["intermediate"].numpy() > 0).all()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(features, training=True)["intermediate"])
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads[:5])  # the embeddings learn from the layers
    restored = DistillationModel.from_config(model.get_config())
    assert restored.layer_targets == [1, 3] and len(restored.projections) == 2


def test_student_init_loads_another_model_and_its_config(teacher_dir, tmp_path):
    from distillation.conftest import TEACHER_CONFIG, write_teacher

    small = write_teacher(tmp_path / "small", teacher_dir / "vocab.txt", seed=9,
                          config=dict(TEACHER_CONFIG, num_hidden_layers=1))
    plan = plan_student(_flags(student_init=str(small)), load_teacher(str(teacher_dir)))
    assert plan.config.num_hidden_layers == 1 and plan.targets == [3]
    assert plan.vocab_file == str(small / "vocab.txt")
    student = BertClassifier(plan.config, num_labels=2).ensure_built()
    report = initialise_student(student, plan, None)
    assert not report.missing
    reader = tf.train.load_checkpoint(str(small / "bert_model.ckpt"))
    for name, value in model_tensors(student).items():
        np.testing.assert_array_equal(value, reader.get_tensor(name), err_msg=name)
