"""TensorBoard summaries: the confusion-matrix picture and SummaryLogger's event files read back."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import metadata as hparams_metadata

from bert_tf.training.summaries import (SummaryLogger, confusion_matrix_image,
                                        confusion_matrix_markdown)


def _events(folder):
    """{tag: [(step, plugin_name, value_proto)]} from the event files directly in `folder`."""
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, value.metadata.plugin_data.plugin_name, value))
    return found


def _scalar(value):
    return float(tf.make_ndarray(value.tensor))


# ---------------------------------------------------------------- picture

@pytest.mark.parametrize("cm", [[[90, 39], [24, 255]], [[50, 1, 0], [2, 700, 3], [0, 0, 0]]])
def test_confusion_matrix_image_cells_shaded_by_row_fraction(cm):
    image = confusion_matrix_image(cm)
    assert image.dtype == np.uint8 and image.ndim == 4 and image.shape[0] == 1
    assert image.shape[3] == 3
    picture = image[0]
    assert picture.std() > 10  # not a constant picture
    n = len(cm)
    # Locate the cell grid from the grid lines (the only pure (90, 90, 90) pixels).
    grid = np.all(picture == 90, axis=-1)
    rows = np.flatnonzero(grid.sum(axis=1) > picture.shape[1] // 2)
    cols = np.flatnonzero(grid.sum(axis=0) > picture.shape[0] // 2)
    assert len(rows) == n + 1 and len(cols) == n + 1
    fractions = np.asarray(cm, float) / np.maximum(np.sum(cm, axis=1, keepdims=True), 1)
    brightness = np.zeros([n, n])
    for t in range(n):
        for p in range(n):
            block = picture[rows[t] + 1:rows[t + 1], cols[p] + 1:cols[p + 1]].astype(int)
            # The background is the cell's most common colour; digits are drawn on top.
            colours, counts = np.unique(block.reshape(-1, 3), axis=0, return_counts=True)
            brightness[t, p] = colours[np.argmax(counts)].sum()
            assert len(colours) >= 2, "the count must be written in every cell"
    # Darker cell <=> larger row fraction.
    order = np.argsort(fractions.ravel(), kind="stable")
    assert np.all(np.diff(brightness.ravel()[order]) <= 0)
    assert brightness.min() < brightness.max()


def test_confusion_matrix_image_label_names_and_errors():
    plain = confusion_matrix_image([[3, 1], [0, 4]])
    named = confusion_matrix_image([[3, 1], [0, 4]], ["not_entailment", "entailment"])
    assert named.shape[2] > plain.shape[2]  # a wider header column for the names
    with pytest.raises(ValueError, match="square"):
        confusion_matrix_image([[1, 2, 3]])
    with pytest.raises(ValueError, match="label names"):
        confusion_matrix_image([[1, 2], [3, 4]], ["a"])


def test_confusion_matrix_markdown():
    text = confusion_matrix_markdown([[5, 1], [2, 7]], ["neg", "p|s"])
    assert text.splitlines() == ["| true \\ pred | neg | p\\|s |", "|---|---|---|",
                                 "| neg | 5 | 1 |", "| p\\|s | 2 | 7 |"]


# ---------------------------------------------------------------- event files

def test_logger_writes_train_eval_image_text_and_hparams(tmp_path):
    confusion3 = [[5, 1, 0], [2, 7, 1], [0, 0, 3]]
    with SummaryLogger(tmp_path) as logger:
        logger.hparams({"learning_rate": 2e-5, "train_batch_size": np.int64(32),
                        "do_lower_case": True, "task_name": "mrpc", "init_checkpoint": None,
                        "layers": [1, 2]})
        logger.train_scalars(10, loss=0.7, learning_rate=np.float32(1e-5),
                             grad_norm=tf.constant(2.5), examples_per_sec=100, note="skipped")
        logger.train_scalars(20, loss=0.5, learning_rate=2e-5)
        logger.eval_results(20, {"eval_accuracy": 0.75, "eval_loss": np.float32(0.4),
                                 "global_step": 20, "task": "mrpc"},
                            confusion=[[3, 1], [0, 4]], label_names=["neg", "pos"])
        logger.eval_results(30, {"eval_macro_f1": 0.5}, confusion=confusion3)

    train = _events(tmp_path / "train")
    assert {"train/loss", "train/learning_rate", "train/grad_norm",
            "train/examples_per_sec"} <= set(train)
    assert "train/note" not in train
    assert [(s, _scalar(v)) for s, _, v in train["train/loss"]] == [(10, pytest.approx(0.7)),
                                                                    (20, pytest.approx(0.5))]
    assert _scalar(train["train/grad_norm"][0][2]) == pytest.approx(2.5)
    assert train["train/loss"][0][1] == "scalars"

    evals = _events(tmp_path / "eval")
    assert {"eval/accuracy", "eval/loss", "eval/global_step", "eval/macro_f1", "eval/results",
            "eval/confusion_matrix_image", "eval/confusion_matrix_table"} <= set(evals)
    assert "eval/task" not in evals
    step, _, accuracy = evals["eval/accuracy"][0]
    assert step == 20 and _scalar(accuracy) == pytest.approx(0.75)
    table = tf.make_ndarray(evals["eval/results"][0][2].tensor).item().decode()
    assert "| eval_accuracy | 0.75 |" in table and "| task | mrpc |" in table
    cm_table = tf.make_ndarray(evals["eval/confusion_matrix_table"][0][2].tensor).item().decode()
    assert cm_table.splitlines()[2] == "| neg | 3 | 1 |"

    images = evals["eval/confusion_matrix_image"]
    assert [s for s, _, _ in images] == [20, 30]
    assert images[0][1] == "images"
    for (_, _, value), cm, names in zip(images, [[[3, 1], [0, 4]], confusion3],
                                        [["neg", "pos"], None]):
        width, height, png = tf.make_ndarray(value.tensor)
        decoded = tf.io.decode_png(png, channels=3).numpy()
        expected = confusion_matrix_image(cm, names)[0]
        assert decoded.shape == expected.shape == (int(height), int(width), 3)
        np.testing.assert_array_equal(decoded, expected)  # PNG is lossless
        assert decoded.std() > 10

    root = _events(tmp_path)
    assert hparams_metadata.SESSION_START_INFO_TAG in root
    _, plugin, value = root[hparams_metadata.SESSION_START_INFO_TAG][0]
    assert plugin == hparams_metadata.PLUGIN_NAME
    info = hparams_metadata.parse_session_start_info_plugin_data(
        value.metadata.plugin_data.content)
    assert info.hparams["learning_rate"].number_value == pytest.approx(2e-5)
    assert info.hparams["train_batch_size"].number_value == 32
    assert info.hparams["do_lower_case"].bool_value is True
    assert info.hparams["task_name"].string_value == "mrpc"
    assert info.hparams["init_checkpoint"].string_value == "None"
    assert info.hparams["layers"].string_value == "[1, 2]"


def test_logger_works_under_a_distribution_strategy(tmp_path):
    strategy = tf.distribute.MirroredStrategy(["CPU:0"])
    with strategy.scope():
        logger = SummaryLogger(tmp_path)
        loss = strategy.reduce(tf.distribute.ReduceOp.MEAN,
                               strategy.run(lambda: tf.constant(0.25)), axis=None)
        logger.train_scalars(1, loss=loss)
        logger.eval_results(1, {"eval_accuracy": 1.0}, confusion=[[1, 0], [0, 1]])
        logger.close()
    assert _scalar(_events(tmp_path / "train")["train/loss"][0][2]) == pytest.approx(0.25)
    assert "eval/confusion_matrix_image" in _events(tmp_path / "eval")


def test_closed_logger_refuses_writes(tmp_path):
    logger = SummaryLogger(tmp_path)
    logger.close()
    logger.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        logger.train_scalars(1, loss=1.0)
