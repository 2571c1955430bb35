"""TPU's constraints checked on the CPU: static input shapes, XLA-compiled steps, the TPU flag
combinations, steps per loop, and every task's input pipeline in TPU mode.

`LoopConfig(static_shapes=True)` is what a TPU run and `--tpu_checks` give the Trainer. The
strategy and resolver set-up is tested in test_runtime.py.
"""

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from training.conftest import README_STEPS, comparable_args, run_ok, run_script, scalar_series

from bert_tf.data.features import classifier_dataset, write_tfrecord
from bert_tf.data.ner_features import NerFeatures, ner_dataset, write_ner_tfrecord
from bert_tf.data.pretraining_dataset import pretraining_dataset
from bert_tf.data.pretraining_instances import TrainingInstance
from bert_tf.data.pretraining_masking import special_ids_from_vocab
from bert_tf.data.pretraining_records import serialize_instance
from bert_tf.data.squad_features import SquadFeatures
from bert_tf.data.squad_records import squad_dataset, write_squad_tfrecord
from bert_tf.modeling import BertClassifier, BertConfig
from bert_tf.training.flag_checks import check_tpu_params
from bert_tf.training.model_files import UsageError
from bert_tf.training.optimization import create_optimizer
from bert_tf.training.trainer import LoopConfig, Trainer, TrainingError, check_static_shapes
from support.builders import random_classifier_features

SEQ, BATCH, STEPS = 16, 4, 6
REPO_ROOT = Path(__file__).resolve().parents[2]


def _loss(logits, labels):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=tf.cast(logits, tf.float32))


def _trainer(config, output_dir, static_shapes=False, steps=STEPS, strategy=None, **loop):
    bert_config = BertConfig.from_dict(dict(config, hidden_dropout_prob=0.0,
                                            attention_probs_dropout_prob=0.0))
    keras.utils.set_random_seed(7)  # the same initial weights in every trainer
    settings = dict(log_every_steps=1, save_checkpoints_steps=100, iterations_per_loop=100)
    settings.update(loop)
    return Trainer(
        strategy or tf.distribute.OneDeviceStrategy("/cpu:0"),
        build_model=lambda: BertClassifier(bert_config, num_labels=2).ensure_built(),
        build_optimizer=lambda: create_optimizer("adamw", 1e-3, steps, 1, weight_decay=0.01,
                                                 clip_norm=None),
        loss_fn=_loss, output_dir=str(output_dir),
        config=LoopConfig(train_batch_size=BATCH, num_train_steps=steps,
                          static_shapes=static_shapes, **settings))


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """(train, eval) classifier TFRecords; eval padded with weight-0 rows to whole batches."""
    folder = tmp_path_factory.mktemp("tpu_mode")
    train, dev = str(folder / "train.tf_record"), str(folder / "eval.tf_record")
    write_tfrecord(train, random_classifier_features(24, SEQ, seed=1, num_labels=2), False)
    write_tfrecord(dev, random_classifier_features(10, SEQ, seed=2, num_labels=2), False,
                   pad_to_multiple_of=BATCH)
    return train, dev


def _train_input(path, **kwargs):
    return lambda ctx, skip: classifier_dataset(path, SEQ, BATCH, True, input_context=ctx,
                                                **kwargs).skip(skip)


def _marked_for_xla(attrs):
    return "_XlaMustCompile" in attrs and attrs["_XlaMustCompile"].b


def _calls_with_xla(concrete, callee):
    """Whether a traced function calls the function `callee` (at any depth) marked for XLA.
    (bert_tf's own GELU and LayerNorm kernels are always XLA-compiled; they do not count.)"""
    graph_def = concrete.graph.as_graph_def()
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return any(_marked_for_xla(n.attr) for n in nodes
               if "f" in n.attr and callee in n.attr["f"].func.name)


def test_static_shapes_train_and_predict_like_the_plain_loop(tiny_config_dict, tmp_path, records):
    train, dev = records
    results = {}
    for static in (False, True):
        trainer = _trainer(tiny_config_dict, tmp_path / str(static), static_shapes=static)
        losses = {}
        trainer.train(_train_input(train), on_log=lambda step, s: losses.update({step: s["loss"]}),
                      log=lambda line: None)
        predicted = trainer.predict(classifier_dataset(dev, SEQ, BATCH, False))
        results[static] = (losses, predicted, trainer)
    (plain_losses, plain, _), (static_losses, static, trainer) = results[False], results[True]
    assert sorted(static_losses) == list(range(1, STEPS + 1))
    np.testing.assert_allclose([static_losses[s] for s in sorted(static_losses)],
                               [plain_losses[s] for s in sorted(plain_losses)], rtol=0, atol=1e-5)
    assert static[0].shape == (12, 2)
    np.testing.assert_allclose(static[0], plain[0], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(static[2], plain[2])  # the padding rows keep weight 0
    assert static[2].sum() == 10
    # Both steps are compiled with XLA under static shapes, and only then.
    spec = classifier_dataset(dev, SEQ, BATCH, False).element_spec[0]
    plain_trainer = results[False][2]
    for t, compiled in ((trainer, True), (plain_trainer, False)):
        predict = t._predict_step.get_concrete_function(spec, [])
        assert _marked_for_xla(predict.function_def.attr) is compiled
        loop = t._train_loop.get_concrete_function(
            tf.data.IteratorSpec(classifier_dataset(train, SEQ, BATCH, True).element_spec),
            tf.TensorSpec([], tf.int32))
        assert _calls_with_xla(loop, "forward_backward") is compiled


def test_a_dynamic_dimension_fails_before_any_step(tiny_config_dict, tmp_path, records):
    train, dev = records
    trainer = _trainer(tiny_config_dict, tmp_path, static_shapes=True)
    with pytest.raises(TrainingError) as error:
        trainer.train(_train_input(train, bucket_by_length=True), log=lambda line: None)
    message = str(error.value)
    assert "\n" not in message
    assert "the training input has a dynamic shape input_word_ids [None, None]" in message
    assert trainer.global_step == 0 and trainer._train_loop is None
    with pytest.raises(TrainingError, match=r"the prediction input has a dynamic shape "
                                            r"input_word_ids \[4, None\]"):
        trainer.predict(classifier_dataset(dev, SEQ, BATCH, False, bucket_by_length=True))
    assert trainer._predict_step is None
    # The same input is fine without static shapes.
    _trainer(tiny_config_dict, tmp_path / "plain", steps=1).train(
        _train_input(train, bucket_by_length=True), log=lambda line: None)


@pytest.mark.parametrize("spec, message", [
    (({"input_word_ids": tf.TensorSpec([None, 8], tf.int32)},), "input_word_ids [None, 8]"),
    (({"a": tf.TensorSpec([2, 8])}, tf.TensorSpec([None])), "labels [None]"),
    (({"a": tf.TensorSpec([2, 8])}, {"masked_lm_ids": tf.TensorSpec([2, None], tf.int32)}),
     "masked_lm_ids [2, None]"),
    (({"a": tf.TensorSpec([2])}, tf.TensorSpec([2]), tf.TensorSpec(None)),
     "weights of unknown rank"),
])
def test_the_shape_error_names_the_tensor(spec, message):
    with pytest.raises(TrainingError, match=r"the eval input has a dynamic shape " +
                       message.replace("[", r"\[").replace("]", r"\]")):
        check_static_shapes(spec, "eval")


@pytest.mark.parametrize("iterations, log_every, calls", [
    (3, 100, [3, 3, 1]),
    (3, 2, [2, 2, 2, 1]),   # a call also ends at every log boundary
    (100, 100, [7]),
])
def test_iterations_per_loop_is_the_steps_of_one_call(tiny_config_dict, tmp_path, records,
                                                      iterations, log_every, calls):
    trainer = _trainer(tiny_config_dict, tmp_path, static_shapes=True, steps=7,
                       iterations_per_loop=iterations, log_every_steps=log_every)
    seen = []
    built = trainer._build_train_loop()

    def recording_loop(iterator, steps):
        seen.append(int(steps))
        return built(iterator, steps)

    trainer._train_loop = recording_loop
    trainer.train(_train_input(records[0]), log=lambda line: None)
    assert seen == calls
    assert trainer.global_step == 7
    assert built.experimental_get_tracing_count() == 1  # the step count is a tensor


# ---- every task's input in TPU mode ----------------------------------------------------------

def _fully_static(dataset):
    check_static_shapes(dataset.element_spec, "test")
    return all(s.shape.is_fully_defined() for s in tf.nest.flatten(dataset.element_spec))


def _pretraining_records(path, vocab, count=7):
    rng = np.random.default_rng(0)
    words = [w for w in vocab if not w.startswith("[")]
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(count):
            a, b = list(rng.choice(words, 3)), list(rng.choice(words, 2))
            tokens = ["[CLS]", *a, "[SEP]", *b, "[SEP]"]
            instance = TrainingInstance(tokens, [0] * 5 + [1] * 3, [1], [a[0]], False)
            writer.write(serialize_instance(instance, vocab, 12, 3))
    return str(path)


def test_pretraining_input_is_static_in_tpu_mode(tmp_path):
    vocab = {t: i for i, t in enumerate(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(20)])}
    path = _pretraining_records(tmp_path / "pre.tfrecord", vocab)  # 7 rows: 3 batches of 3, less 2
    masking = dict(dynamic_masking=True, **special_ids_from_vocab(vocab))
    for extra in ({}, masking):
        assert _fully_static(pretraining_dataset(path, 12, 3, 3, True, **extra))
        static_eval = pretraining_dataset(path, 12, 3, 3, False, static_shapes=True, **extra)
        assert _fully_static(static_eval)
        assert [int(f["input_word_ids"].shape[0]) for f, _, _ in static_eval] == [3, 3]
    # Without static shapes the eval pass keeps its last, smaller batch.
    plain_eval = pretraining_dataset(path, 12, 3, 3, False)
    assert [int(f["input_word_ids"].shape[0]) for f, _, _ in plain_eval] == [3, 3, 1]
    with pytest.raises(TrainingError, match=r"input_word_ids \[None, 12\]"):
        check_static_shapes(plain_eval.element_spec, "eval")


def test_classifier_squad_and_ner_inputs_are_static(tmp_path, records):
    train, dev = records
    context = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0,
                                         num_replicas_in_sync=2)  # two cores: 2 rows each
    for is_training, path in ((True, train), (False, dev)):
        assert _fully_static(classifier_dataset(path, SEQ, BATCH, is_training))
        assert _fully_static(classifier_dataset(path, SEQ, BATCH, is_training,
                                                input_context=context))
    squad_rows = [SquadFeatures(1000 + i, i, 0, [], {}, {}, [2] + [7] * (SEQ - 1), [1] * SEQ,
                                [0] * SEQ, 1, 2, False) for i in range(5)]
    ner_rows = [NerFeatures(i, 0, [2] + [7] * (SEQ - 1), [1] * SEQ, [0] * SEQ,
                            [-1, 1] + [-1] * (SEQ - 2), [-1, 0] + [-1] * (SEQ - 2))
                for i in range(5)]
    for is_training in (True, False):
        squad_path = str(tmp_path / f"squad_{is_training}.tf_record")
        write_squad_tfrecord(squad_path, squad_rows, is_training, pad_to_multiple_of=BATCH)
        squad = squad_dataset(squad_path, SEQ, BATCH, is_training)
        ner_path = str(tmp_path / f"ner_{is_training}.tf_record")
        write_ner_tfrecord(ner_path, ner_rows, pad_to_multiple_of=BATCH)
        ner = ner_dataset(ner_path, SEQ, BATCH, is_training)
        assert _fully_static(squad) and _fully_static(ner)
        if not is_training:  # padded to whole batches: every real row is read
            assert sum(float(w.numpy().sum()) for _, _, w in squad) == 5
            assert sum(float(w.numpy().max(axis=1).sum()) for _, _, w in ner) == 5


# ---- flag combinations a TPU cannot run ---------------------------------------------------------

def _flags(**values):
    defaults = dict(use_tpu=False, distribution_strategy=None, tpu_checks=False,
                    bucket_by_length=False, dtype="float32", num_tpu_cores=8, do_train=True,
                    train_batch_size=32, gradient_accumulation_steps=1)
    return types.SimpleNamespace(**dict(defaults, **values))


@pytest.mark.parametrize("values, message", [
    (dict(tpu_checks=True, bucket_by_length=True), "--bucket_by_length: not with --tpu_checks"),
    (dict(use_tpu=True, bucket_by_length=True), "--bucket_by_length: not with --use_tpu"),
    (dict(distribution_strategy="tpu", bucket_by_length=True),
     "--bucket_by_length: not with --distribution_strategy=tpu"),
    (dict(use_tpu=True, dtype="float16"), "--dtype=float16: not with --use_tpu"),
    (dict(tpu_checks=True, dtype="float16"), "--dtype=float16: not with --tpu_checks"),
    (dict(tpu_checks=True, train_batch_size=12), r"--train_batch_size=12: .* = 8\b"),
    (dict(tpu_checks=True, train_batch_size=8, gradient_accumulation_steps=2),
     r"--train_batch_size=8: .*--gradient_accumulation_steps = 16\b"),
])
def test_check_tpu_params_rejects(values, message):
    with pytest.raises(UsageError, match=message):
        check_tpu_params(_flags(**values))


@pytest.mark.parametrize("values", [
    dict(bucket_by_length=True, dtype="float16", train_batch_size=3),  # not in TPU mode
    dict(tpu_checks=True, dtype="bfloat16", train_batch_size=16, gradient_accumulation_steps=2),
    dict(tpu_checks=True, train_batch_size=12, do_train=False),  # no training: no split
    dict(tpu_checks=True, train_batch_size=12, num_tpu_cores=4),
    dict(use_tpu=True, train_batch_size=12),  # on a TPU the strategy checks the real cores
])
def test_check_tpu_params_accepts(values):
    check_tpu_params(_flags(**values))


# ---- prediction through a replicated strategy ---------------------------------------------------

_REPLICATED_PREDICT = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, "tests")
    from training import test_tpu_mode as t
    from bert_tf.data.features import classifier_dataset
    config, dev = json.loads(sys.argv[1]), sys.argv[2]
    data = classifier_dataset(dev, t.SEQ, t.BATCH, False)
    reference = t._trainer(config, sys.argv[3] + "/one").predict(data)[0]
    # Prediction's TPU path (every core runs the whole batch), on two CPU replicas.
    tf.distribute.TPUStrategy = tf.distribute.MirroredStrategy
    trainer = t._trainer(config, sys.argv[3] + "/two",
                         strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    logits = trainer.predict(data)[0]
    diff = float(np.abs(logits - reference).max())
    print(json.dumps({"shape": list(logits.shape), "diff": diff}))
""")


def test_tpu_prediction_keeps_one_replicas_outputs(tiny_config_dict, tmp_path, records):
    run = subprocess.run([sys.executable, "-c", _REPLICATED_PREDICT, json.dumps(tiny_config_dict),
                          records[1], str(tmp_path)], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=240, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["shape"] == [12, 2]  # not 24 rows: one replica's outputs, not both
    assert result["diff"] <= 1e-5


# ---- run_classifier.py --tpu_checks ------------------------------------------------------------

def test_run_classifier_with_tpu_checks_matches_the_plain_run(one_device_run, tiny_model,
                                                              mrpc_dir, tmp_path):
    # --num_tpu_cores=4: the batch of 4 splits over four cores.
    run = run_ok(comparable_args(tiny_model, mrpc_dir, tmp_path / "out", tpu_checks="true",
                                 num_tpu_cores=4, distribution_strategy="one_device"))
    ours, ref = run.eval_results(), one_device_run.eval_results()
    assert ours["global_step"] == ref["global_step"] == README_STEPS
    assert ours["eval_loss"] == pytest.approx(ref["eval_loss"], abs=1e-5)
    assert ours["eval_accuracy"] == ref["eval_accuracy"]
    losses = scalar_series(run.output_dir / "train", "train/loss")
    ref_losses = scalar_series(one_device_run.output_dir / "train", "train/loss")
    assert sorted(losses) == sorted(ref_losses) == list(range(1, README_STEPS + 1))
    assert max(abs(losses[s] - ref_losses[s]) for s in losses) <= 1e-5


@pytest.mark.parametrize("extra, message", [
    (dict(bucket_by_length="true", num_tpu_cores=4),
     "error: --bucket_by_length: not with --tpu_checks"),
    (dict(), "error: --train_batch_size=4: with --tpu_checks it must be divisible by"),
])
def test_run_classifier_tpu_flag_checks_fail_before_any_work(tiny_model, mrpc_dir, tmp_path,
                                                             extra, message):
    """What a TPU cannot run stops the script at once, with one line, before it writes."""
    out = tmp_path / "out"
    run = run_script(comparable_args(tiny_model, mrpc_dir, out, tpu_checks="true", **extra),
                     timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.describe()
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith(message), run.describe()
    assert sum(line.startswith("error:") for line in lines) == 1, run.describe()
    assert not out.exists() or not any(out.iterdir())
