"""Evaluation metrics (hand-computed tables) and the eval_results.txt / test_results.tsv writers."""

import math
import os

import numpy as np
import pytest

from bert_tf.training.metrics import (classification_metrics, confusion_matrix, log_softmax,
                                      rankdata, regression_metrics, softmax)
from bert_tf.training.results import (read_eval_results, read_test_results, write_eval_results,
                                      write_test_results)


def _one_hot_logits(predictions, num_labels, scale=3.0):
    """Logits whose argmax is `predictions`."""
    return np.eye(num_labels)[np.asarray(predictions)] * scale


# ---------------------------------------------------------------- softmax / loss

def test_softmax_is_stable_float64_and_normalised():
    p = softmax([[1000.0, 1000.0], [1000.0, 0.0], [-1000.0, -1000.0]])
    assert p.dtype == np.float64
    np.testing.assert_allclose(p, [[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]], atol=1e-300)
    np.testing.assert_allclose(log_softmax([[1000.0, 0.0]]), [[0.0, -1000.0]])
    rng = np.random.default_rng(0)
    z = rng.standard_normal([5, 4])
    expected = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(softmax(z), expected, rtol=1e-12)


def test_binary_metrics_hand_computed_and_padding_ignored():
    logits = [[2.0, 0.0], [0.0, 1.0], [1.0, 3.0], [4.0, 1.0], [9.0, -9.0]]
    labels = [0, 1, 0, 0, 1]
    weights = [1, 1, 1, 1, 0]  # the last row is padding, predicted wrong
    # Real rows: predictions 0,1,1,0 vs labels 0,1,0,0 -> 3/4 correct;
    # positive class: tp=1, fp=1, fn=0 -> F1 = 2/3.
    expected_loss = np.mean([-(z[y] - math.log(sum(math.exp(v) for v in z)))
                             for z, y in zip(logits[:4], labels[:4])])
    r = classification_metrics(logits, labels, weights=weights)
    assert set(r) == {"eval_loss", "eval_accuracy", "eval_f1"}
    assert r["eval_accuracy"] == pytest.approx(0.75)
    assert r["eval_f1"] == pytest.approx(2.0 / 3.0)
    assert r["eval_loss"] == pytest.approx(expected_loss, rel=1e-12)
    # With the padding row counted, every number would differ.
    unmasked = classification_metrics(logits, labels)
    assert unmasked["eval_accuracy"] == pytest.approx(0.6)
    assert unmasked["eval_f1"] == pytest.approx(0.5)
    assert unmasked["eval_loss"] > r["eval_loss"] + 1.0


def test_loss_stays_finite_for_huge_logits():
    r = classification_metrics([[1000.0, 0.0]], [1])
    assert r["eval_loss"] == pytest.approx(1000.0)
    assert r["eval_accuracy"] == 0.0 and r["eval_f1"] == 0.0


def test_multiclass_macro_f1_with_a_class_never_predicted():
    labels = [0, 0, 1, 1, 2, 2]
    predictions = [0, 0, 1, 0, 1, 1]  # class 2 is never predicted
    # F1: class 0 = 4/5, class 1 = 2/5, class 2 = 0 -> macro 0.4.
    r = classification_metrics(_one_hot_logits(predictions, 3), labels, prefix="dev_")
    assert set(r) == {"dev_loss", "dev_accuracy", "dev_macro_f1"}
    assert r["dev_accuracy"] == pytest.approx(0.5)
    assert r["dev_macro_f1"] == pytest.approx(0.4)
    # A 4th class with no true and no predicted example counts as F1 0.
    r4 = classification_metrics(_one_hot_logits(predictions, 4), labels)
    assert r4["eval_macro_f1"] == pytest.approx(1.2 / 4)


def test_confusion_matrix_true_rows_predicted_columns_and_weights():
    cm = confusion_matrix([0, 0, 1, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2, 0], 3,
                          weights=[1, 1, 1, 1, 1, 1, 0])
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, [[2, 0, 0], [1, 1, 0], [0, 2, 0]])
    np.testing.assert_array_equal(confusion_matrix([1, 0, 1], [1, 1, 0], 2), [[0, 1], [1, 1]])


@pytest.mark.parametrize("kwargs, message", [
    (dict(labels=[0, 2]), "labels must lie"),
    (dict(labels=[0, 1], weights=[1, 0.5]), "0s and 1s"),
    (dict(labels=[0, 1], weights=[0, 0]), "no real examples"),
    (dict(labels=[0, 1], num_labels=3), "num_labels=3"),
    (dict(labels=[0]), "1 labels for 2 rows"),
])
def test_classification_metrics_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics([[1.0, 0.0], [0.0, 1.0]], **kwargs)


# ---------------------------------------------------------------- regression

def test_rankdata_averages_ties():
    np.testing.assert_array_equal(rankdata([10, 20, 20, 5]), [2.0, 3.5, 3.5, 1.0])
    np.testing.assert_array_equal(rankdata([7, 7, 7]), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(rankdata([3.0, 1.0, 2.0]), [3.0, 1.0, 2.0])


def test_regression_metrics_against_hand_values_and_corrcoef():
    # Spearman with ties: ranks x = 1, 2.5, 2.5, 4 and y = 1, 3, 2, 4 ->
    # sum(dx dy) = 4.5, sum(dx^2) = 4.5, sum(dy^2) = 5 -> 4.5 / sqrt(22.5) = 3 / sqrt(10).
    r = regression_metrics([[1.0], [2.0], [2.0], [3.0], [50.0]], [1.0, 3.0, 2.0, 4.0, -50.0],
                           weights=[1, 1, 1, 1, 0])
    assert r["eval_spearman"] == pytest.approx(3.0 / math.sqrt(10.0), rel=1e-12)
    assert r["eval_loss"] == pytest.approx((0 + 1 + 0 + 1) / 4.0)
    assert r["eval_pearson"] == pytest.approx(np.corrcoef([1, 2, 2, 3], [1, 3, 2, 4])[0, 1])
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(50), rng.standard_normal(50)
    r = regression_metrics(x, 0.5 * x + y)
    assert r["eval_pearson"] == pytest.approx(np.corrcoef(x, 0.5 * x + y)[0, 1], rel=1e-12)
    assert r["eval_loss"] == pytest.approx(np.mean((x - 0.5 * x - y) ** 2), rel=1e-12)


def test_regression_correlation_of_constant_predictions_is_nan():
    r = regression_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert math.isnan(r["eval_pearson"]) and math.isnan(r["eval_spearman"])
    assert r["eval_loss"] == pytest.approx(2.0 / 3.0)


# ---------------------------------------------------------------- result files

def test_eval_results_exact_text_and_round_trip(tmp_path):
    path = tmp_path / "eval_results.txt"
    write_eval_results(path, {"loss": np.float32(0.3), "eval_accuracy": 0.8455882352941176,
                              "global_step": np.int64(343), "eval_loss": np.float32(0.41234)})
    assert path.read_text() == ("eval_accuracy = 0.8455882\neval_loss = 0.41234\n"
                                "global_step = 343\nloss = 0.3\n")
    back = read_eval_results(path)
    assert back == {"eval_accuracy": pytest.approx(0.8455882), "eval_loss": pytest.approx(0.41234),
                    "global_step": 343, "loss": pytest.approx(0.3)}
    assert isinstance(back["global_step"], int)
    assert os.listdir(tmp_path) == ["eval_results.txt"]


def test_test_results_lines_in_order(tmp_path):
    path = tmp_path / "test_results.tsv"
    probabilities = np.array([[0.25, 0.75], [0.1, 0.9], [1 / 3, 2 / 3]], dtype=np.float64)
    assert write_test_results(path, probabilities) == 3
    assert path.read_text() == "0.25\t0.75\n0.1\t0.9\n0.33333334\t0.6666667\n"
    np.testing.assert_allclose(read_test_results(path), probabilities, rtol=1e-6)
    # Padding rows after num_examples are dropped, as the original did.
    assert write_test_results(path, probabilities, num_examples=2) == 2
    assert path.read_text() == "0.25\t0.75\n0.1\t0.9\n"
    # Regression: one value per line.
    write_test_results(path, [1.5, 2.25, np.float32(3.0)])
    assert path.read_text() == "1.5\n2.25\n3.0\n"


class _Unprintable:
    def __str__(self):
        raise RuntimeError("boom")


def test_eval_writer_failure_leaves_previous_file_and_no_temp(tmp_path):
    path = tmp_path / "eval_results.txt"
    with pytest.raises(RuntimeError, match="boom"):  # fails after a line was written
        write_eval_results(path, {"a_first": 1.0, "b_bad": _Unprintable()})
    assert os.listdir(tmp_path) == []
    write_eval_results(path, {"eval_accuracy": 0.5})
    with pytest.raises(RuntimeError, match="boom"):
        write_eval_results(path, {"a_first": 1.0, "b_bad": _Unprintable()})
    assert path.read_text() == "eval_accuracy = 0.5\n"
    assert os.listdir(tmp_path) == ["eval_results.txt"]


def test_test_writer_failure_midway_leaves_previous_file(tmp_path):
    path = tmp_path / "test_results.tsv"
    write_test_results(path, [[0.5, 0.5]])

    def rows():
        yield [0.1, 0.9]
        yield [0.2, 0.8]
        raise RuntimeError("predict crashed")

    with pytest.raises(RuntimeError, match="predict crashed"):
        write_test_results(path, rows())
    with pytest.raises(ValueError, match="expected 5 predictions, got only 2"):
        write_test_results(path, [[0.1, 0.9], [0.2, 0.8]], num_examples=5)
    assert path.read_text() == "0.5\t0.5\n"
    assert os.listdir(tmp_path) == ["test_results.tsv"]
