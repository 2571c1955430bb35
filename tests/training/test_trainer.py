"""Trainer tracing on length-bucketed data: batches of many lengths, few traces.

A retrace costs about 2 s for MiniLM, and bucketed eval batches come in up to
max_seq_length / 8 lengths, so tracing once per length made eval several times slower than
its arithmetic. These tests run the real Trainer on a tiny classifier.
"""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data.features import classifier_dataset, write_tfrecord
from bert_tf.modeling import BertClassifier, BertConfig
from bert_tf.modeling.precast import cast_weights
from bert_tf.training.fine_tune import _loss_fn
from bert_tf.training.optimization import create_optimizer
from bert_tf.training.trainer import LoopConfig, Trainer, without_autotune
from support.builders import random_classifier_features
from support.graphs import dtype_policy, variable_casts
from support.kernels import KernelCalled

LENGTHS = (8, 16, 24, 40, 32)
SEQ = 24


def _batch(config, batch, seq, seed):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int32)
    mask[0, seq // 2:] = 0  # one padded row per batch
    features = {"input_word_ids": rng.integers(5, config["vocab_size"], (batch, seq)).astype(np.int32),
                "input_mask": mask, "input_type_ids": np.zeros((batch, seq), np.int32)}
    return features, rng.integers(0, 2, (batch,)).astype(np.int32), np.ones((batch,), np.float32)


def _dataset(config, batch, lengths, repeat=False):
    """Batches of the given lengths, with a [batch, None] element spec as bucketing gives."""
    batches = [_batch(config, batch, seq, i) for i, seq in enumerate(lengths)]

    def gen():
        while True:
            yield from batches
            if not repeat:
                return

    ids = tf.TensorSpec([batch, None], tf.int32)
    spec = ({"input_word_ids": ids, "input_mask": ids, "input_type_ids": ids},
            tf.TensorSpec([batch], tf.int32), tf.TensorSpec([batch], tf.float32))
    return tf.data.Dataset.from_generator(gen, output_signature=spec), batches


def _trainer(config, tmp_path, batch=4, steps=10):
    bert_config = BertConfig.from_dict(config)
    return Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        build_model=lambda: BertClassifier(bert_config, num_labels=2).ensure_built(),
        build_optimizer=lambda: create_optimizer("adamw", 1e-3, steps, 1, weight_decay=0.01,
                                                 clip_norm=None),
        loss_fn=_loss_fn(False), output_dir=str(tmp_path),
        config=LoopConfig(train_batch_size=batch, num_train_steps=steps, log_every_steps=5,
                          save_checkpoints_steps=100))


def test_predict_over_many_lengths_traces_once(tiny_config_dict, tmp_path):
    trainer = _trainer(tiny_config_dict, tmp_path)
    dataset, batches = _dataset(tiny_config_dict, 4, LENGTHS)
    logits, labels, _ = trainer.predict(dataset)
    assert trainer._predict_step.experimental_get_tracing_count() == 1
    want = np.concatenate([trainer.model(f, training=False).numpy() for f, _, _ in batches])
    assert logits.shape == (4 * len(LENGTHS), 2)
    assert np.abs(logits - want).max() <= 1e-5
    assert (labels == np.concatenate([b[1] for b in batches])).all()


def test_train_loop_over_many_lengths_traces_once_and_learns(tiny_config_dict, tmp_path):
    trainer = _trainer(tiny_config_dict, tmp_path, steps=10)
    before = [v.numpy().copy() for v in trainer.model.trainable_variables]
    lines = []
    trainer.train(lambda ctx, skip: _dataset(tiny_config_dict, 4, LENGTHS, repeat=True)[0],
                  log=lines.append)
    assert trainer.global_step == 10
    assert trainer._train_loop.experimental_get_tracing_count() == 1
    changed = [not np.array_equal(a, v.numpy())
               for a, v in zip(before, trainer.model.trainable_variables)]
    assert all(changed), "every variable (the pooler included) gets an update"
    assert len(lines) == 2 and lines[-1].startswith("step 10/10")


def test_prediction_input_runs_without_autotune(tiny_config_dict):
    """Deleting an autotuned iterator could block for seconds after each predict call."""
    dataset, batches = _dataset(tiny_config_dict, 4, LENGTHS[:2])
    assert dataset.options().autotune.enabled is not False
    plain = without_autotune(dataset)
    assert plain.options().autotune.enabled is False
    for (got, _, _), (want, _, _) in zip(plain, batches):
        assert all((got[k].numpy() == want[k]).all() for k in want)


def _recording_input(config):
    """(dataset_fn, contexts, batches): dataset_fn(ctx, skip) gives the `_dataset` batches from
    `skip` on and records each context as (pipelines, pipeline id, replicas)."""
    contexts = []

    def dataset_fn(ctx, skip):
        contexts.append((ctx.num_input_pipelines, ctx.input_pipeline_id, ctx.num_replicas_in_sync))
        return _dataset(config, 4, LENGTHS)[0].skip(skip)

    return dataset_fn, contexts, _dataset(config, 4, LENGTHS)[1]


def _assert_same_batch(got, want):
    assert all((got[0][k].numpy() == want[0][k]).all() for k in want[0])
    assert (got[1].numpy() == want[1]).all()


def test_one_device_training_input_is_the_dataset_itself(tiny_config_dict, tmp_path):
    """A strategy's distributed iterator puts a MultiDeviceIterator in front of the data, whose
    per-device iterators are autotuned whatever the dataset's options say; deleting one at the
    end of train() could wait tens of seconds for tf.data's autotune thread."""
    trainer = _trainer(tiny_config_dict, tmp_path)
    dataset_fn, contexts, batches = _recording_input(tiny_config_dict)
    iterator = trainer.input_iterator(dataset_fn, 2)
    assert isinstance(iterator, tf.data.Iterator)
    assert not isinstance(iterator, tf.distribute.DistributedIterator)
    assert iterator._dataset.options().autotune.enabled is False
    assert contexts == [(1, 0, 1)]
    for want in batches[2:]:
        _assert_same_batch(next(iterator), want)


def test_mirrored_training_input_reads_each_replica_pipeline_on_the_host(tiny_config_dict,
                                                                        tmp_path):
    trainer = _trainer(tiny_config_dict, tmp_path)
    trainer.strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    dataset_fn, contexts, batches = _recording_input(tiny_config_dict)
    iterator = trainer.input_iterator(dataset_fn, 2)
    assert isinstance(iterator, tf.distribute.DistributedIterator)
    # PER_REPLICA, not fetched to the device: each replica's pipeline is a plain tf.data
    # iterator (no MultiDeviceIterator), with autotune off.
    per_replica = [worker._iterator for worker in iterator._iterators]
    assert len(per_replica) == 1
    assert all(isinstance(it, tf.data.Iterator) for it in per_replica)
    assert all(it._dataset.options().autotune.enabled is False for it in per_replica)
    # The replica reads the one-pipeline stream (two-replica dealing and resume: tested
    # through run_classifier in test_run_classifier_distributed.py).
    assert contexts == [(1, 0, 1)]
    for want in batches[2:]:
        _assert_same_batch(trainer.strategy.experimental_local_results(next(iterator))[0], want)


def test_predict_over_length_sorted_batches_answers_in_file_order(tiny_config_dict, tmp_path):
    path = str(tmp_path / "eval.tf_record")
    write_tfrecord(path, random_classifier_features(30, SEQ, seed=11, num_labels=2), False,
                   pad_to_multiple_of=4)
    trainer = _trainer(tiny_config_dict, tmp_path)
    fixed = trainer.predict(classifier_dataset(path, SEQ, 4, is_training=False))
    ds = classifier_dataset(path, SEQ, 4, is_training=False, bucket_by_length=True)
    assert len(ds.element_spec) == 4  # the rows come along
    by_length = trainer.predict(ds)
    assert by_length[0].shape == (32, 2)
    real = fixed[2] > 0  # the file's padding rows (all-zero mask) attend to however much padding
    assert real.sum() == 30
    assert np.abs(by_length[0][real] - fixed[0][real]).max() <= 1e-5
    np.testing.assert_array_equal(by_length[1], fixed[1])
    np.testing.assert_array_equal(by_length[2], fixed[2])
    assert not np.array_equal(np.concatenate([e[3].numpy() for e in ds]), np.arange(32))


def test_predict_over_many_lengths_traces_plain_ops_in_float32_only(
        tiny_config_dict, tmp_path, kernels_forbidden):
    dataset, _ = _dataset(tiny_config_dict, 4, LENGTHS)
    trainer = _trainer(tiny_config_dict, tmp_path / "fp32")
    logits, _, _ = trainer.predict(dataset)
    assert kernels_forbidden == [] and np.isfinite(logits).all()
    # Batches of one length compile the kernels once, and use them.
    one_length, _ = _dataset(tiny_config_dict, 4, (16, 16))
    one_length = one_length.map(lambda f, y, w: (
        {k: tf.ensure_shape(v, [4, 16]) for k, v in f.items()}, y, w))
    with pytest.raises(KernelCalled):
        _trainer(tiny_config_dict, tmp_path / "fixed").predict(one_length)
    with dtype_policy("mixed_bfloat16"):
        half = _trainer(tiny_config_dict, tmp_path / "bf16")
    with pytest.raises(KernelCalled):
        half.predict(dataset)
    assert kernels_forbidden


def test_half_precision_predict_casts_the_dense_weights_once_a_call(tiny_config_dict, tmp_path):
    with dtype_policy("mixed_bfloat16"):
        trainer = _trainer(tiny_config_dict, tmp_path)
    model = trainer.model
    dataset, batches = _dataset(tiny_config_dict, 4, (16, 16))
    dataset = dataset.map(lambda f, y, w: ({k: tf.ensure_shape(v, [4, 16]) for k, v in f.items()},
                                           y, w))
    call = tf.function(lambda f: model(f, training=False))

    def expected():
        return np.concatenate([call(f).numpy() for f, _, _ in batches])

    logits, _, _ = trainer.predict(dataset)
    np.testing.assert_array_equal(logits, expected())  # bit for bit
    # The traced batch step reads the casts it is given: only the pooler (Keras' Dense) casts.
    assert len(trainer._precast) == 6 * tiny_config_dict["num_hidden_layers"]
    weights = [tf.TensorSpec(w.shape, w.dtype) for w in cast_weights(trainer._precast)]
    step = trainer._predict_step.get_concrete_function(dataset.element_spec[0], weights)
    assert trainer._predict_step.experimental_get_tracing_count() == 1
    assert len(variable_casts(step.graph)) == 2
    assert len(variable_casts(call.get_concrete_function(batches[0][0]).graph)) > 2
    # Each call casts the weights as they are then: a later call sees trained weights.
    kernel = trainer._precast[0]._kernel
    kernel.assign(kernel * 3.0)
    again, _, _ = trainer.predict(dataset)
    np.testing.assert_array_equal(again, expected())
    assert not np.array_equal(again, logits)
    # The casts run as one traced call (not an eager op per weight), traced once for all calls,
    # and give the eager casts' bits.
    assert trainer._cast_weights.experimental_get_tracing_count() == 1
    for traced, eager in zip(trainer._cast_weights(), cast_weights(trainer._precast),
                             strict=True):
        np.testing.assert_array_equal(traced.numpy(), eager.numpy())
