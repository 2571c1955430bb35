"""SIGTERM during Trainer.train: a checkpoint at the next step boundary, `Preempted`, and a
resumed run that ends where an uninterrupted one does."""

import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.modeling import BertClassifier, BertConfig
from bert_tf.training.fine_tune import _loss_fn
from bert_tf.training.optimization import create_optimizer
from bert_tf.training.preemption import Preempted, sigterm_watch
from bert_tf.training.trainer import LoopConfig, Trainer

STEPS, BATCH, SEQ = 8, 4, 12


def _trainer(config, output_dir):
    bert_config = BertConfig.from_dict(config)
    return Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        build_model=lambda: BertClassifier(bert_config, num_labels=2,
                                           dropout_rate=0.0).ensure_built(),
        build_optimizer=lambda: create_optimizer("adamw", 1e-3, STEPS, 1, weight_decay=0.01,
                                                 clip_norm=None),
        loss_fn=_loss_fn(False), output_dir=str(output_dir),
        config=LoopConfig(train_batch_size=BATCH, num_train_steps=STEPS, log_every_steps=1,
                          save_checkpoints_steps=100, iterations_per_loop=100))


def _dataset_fn(config):
    rng = np.random.default_rng(0)
    n = BATCH * STEPS
    features = {"input_word_ids": rng.integers(5, config["vocab_size"], (n, SEQ)).astype(np.int32),
                "input_mask": np.ones((n, SEQ), np.int32),
                "input_type_ids": np.zeros((n, SEQ), np.int32)}
    labels = rng.integers(0, 2, (n,)).astype(np.int32)
    data = tf.data.Dataset.from_tensor_slices((features, labels, np.ones((n,), np.float32)))
    return lambda ctx, skip: data.batch(BATCH).repeat().skip(skip)


def _weights(trainer):
    return [v.numpy() for v in trainer.model.trainable_variables]


def test_sigterm_saves_and_the_rerun_finishes_like_an_uninterrupted_run(tiny_config_dict,
                                                                         tmp_path):
    tf.keras.utils.set_random_seed(1)
    whole = _trainer(tiny_config_dict, tmp_path / "whole")
    whole.train(_dataset_fn(tiny_config_dict), log=lambda line: None)

    tf.keras.utils.set_random_seed(1)
    first = _trainer(tiny_config_dict, tmp_path / "cut")

    def on_log(step, scalars):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # what a preempted VM gets

    with pytest.raises(Preempted) as stopped:
        first.train(_dataset_fn(tiny_config_dict), on_log=on_log, log=lambda line: None)
    assert "SIGTERM at step 3 of 8" in str(stopped.value)
    assert (tmp_path / "cut" / "model.ckpt-3.index").exists()
    assert signal.getsignal(signal.SIGTERM) is not first  # the handler is put back

    resumed = _trainer(tiny_config_dict, tmp_path / "cut")
    assert resumed.restore(log=lambda line: None).endswith("model.ckpt-3")
    resumed.train(_dataset_fn(tiny_config_dict), log=lambda line: None)
    assert resumed.global_step == STEPS
    for got, want in zip(_weights(resumed), _weights(whole)):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_the_watch_restores_the_previous_handler():
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_watch() as watch:
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)
        assert watch.requested
    assert signal.getsignal(signal.SIGTERM) == before
