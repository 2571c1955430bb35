"""Trainer.restore on what a crash, a full disk or another run leaves in output_dir: an
unreadable newest checkpoint falls back to the one before it, with a warning; a checkpoint of
another model is one clear error, never a traceback or a silent fresh start."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.modeling import BertClassifier, BertConfig
from bert_tf.training.fine_tune import _loss_fn
from bert_tf.training.optimization import create_optimizer
from bert_tf.training.trainer import LoopConfig, Trainer, TrainingError


def _trainer(config, output_dir, num_labels=2):
    bert_config = BertConfig.from_dict(config)
    return Trainer(
        tf.distribute.OneDeviceStrategy("/cpu:0"),
        build_model=lambda: BertClassifier(bert_config, num_labels=num_labels).ensure_built(),
        build_optimizer=lambda: create_optimizer("adamw", 1e-3, 10, 1, weight_decay=0.01,
                                                 clip_norm=None),
        loss_fn=_loss_fn(False), output_dir=str(output_dir),
        config=LoopConfig(train_batch_size=2, num_train_steps=10))


def _save_two(config, output_dir):
    """Two checkpoints (steps 1 and 2) with different weights; returns their kernels."""
    trainer = _trainer(config, output_dir)
    kernels = []
    for step in (1, 2):
        trainer.optimizer.iterations.assign(step)
        variable = trainer.model.trainable_variables[0]
        variable.assign(variable + 1.0)
        kernels.append(variable.numpy().copy())
        trainer.save()
    return kernels


@pytest.mark.parametrize("damage", ["truncate_data", "empty_index", "delete_data"])
def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tiny_config_dict,
                                                                      tmp_path, damage):
    kernels = _save_two(tiny_config_dict, tmp_path)
    newest = tmp_path / "model.ckpt-2"
    data = next(tmp_path.glob("model.ckpt-2.data-*"))
    if damage == "truncate_data":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    elif damage == "empty_index":
        (tmp_path / "model.ckpt-2.index").write_bytes(b"")
    else:
        data.unlink()
    lines = []
    trainer = _trainer(tiny_config_dict, tmp_path)
    restored = trainer.restore(log=lines.append)
    assert restored == str(tmp_path / "model.ckpt-1")
    assert trainer.global_step == 1
    np.testing.assert_array_equal(trainer.model.trainable_variables[0].numpy(), kernels[0])
    assert len(lines) == 1 and lines[0].startswith(f"warning: {newest} cannot be read")


def test_a_checkpoint_of_another_model_is_one_clear_error(tiny_config_dict, tmp_path):
    _save_two(tiny_config_dict, tmp_path)
    other = dict(tiny_config_dict, hidden_size=tiny_config_dict["hidden_size"] * 2,
                 intermediate_size=tiny_config_dict["intermediate_size"] * 2)
    with pytest.raises(TrainingError) as error:
        _trainer(other, tmp_path).restore(log=lambda line: None)
    message = str(error.value)
    assert "model.ckpt-2: this checkpoint does not fit the model" in message
    assert "another --output_dir" in message and "\n" not in message


def test_another_number_of_labels_is_the_same_error(tiny_config_dict, tmp_path):
    _save_two(tiny_config_dict, tmp_path)
    with pytest.raises(TrainingError, match="does not fit the model"):
        _trainer(tiny_config_dict, tmp_path, num_labels=3).restore(log=lambda line: None)


def test_no_checkpoint_is_a_fresh_start(tiny_config_dict, tmp_path):
    assert _trainer(tiny_config_dict, tmp_path).restore() is None


def test_all_checkpoints_unreadable_is_an_error(tiny_config_dict, tmp_path):
    _save_two(tiny_config_dict, tmp_path)
    for data in tmp_path.glob("model.ckpt-*.data-*"):
        data.unlink()
    with pytest.raises(TrainingError, match="none of its checkpoints can be read"):
        _trainer(tiny_config_dict, tmp_path).restore(log=lambda line: None)
