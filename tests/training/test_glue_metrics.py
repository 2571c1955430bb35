"""The GLUE metrics of bert_tf.training.metrics against independent implementations
(scikit-learn, scipy) on hand-made and random cases, degenerate ones included, and the
submission writer of bert_tf.training.results."""

import math

import numpy as np
import pytest
import scipy.stats as scipy_stats
import sklearn.metrics as sklearn_metrics

from bert_tf.training.metrics import (classification_metrics, confusion_matrix,
                                      matthews_corrcoef, regression_metrics)
from bert_tf.training.results import (read_eval_results, read_submission, write_eval_results,
                                      write_submission)


def one_hot_logits(predictions, k):
    return np.eye(k)[np.asarray(predictions)] * 4.0


CASES = {
    # name: (labels, predictions, k)
    "perfect": ([0, 1, 1, 0, 1], [0, 1, 1, 0, 1], 2),
    "inverted": ([0, 1, 1, 0], [1, 0, 0, 1], 2),
    "mixed": ([1, 1, 0, 0, 1, 0, 1], [1, 0, 0, 1, 1, 0, 1], 2),
    "all_predicted_negative": ([0, 1, 1, 0, 1], [0, 0, 0, 0, 0], 2),
    "all_predicted_positive": ([0, 1, 1, 0, 1], [1, 1, 1, 1, 1], 2),
    "one_label_only": ([1, 1, 1], [1, 0, 1], 2),
    "one_label_all_right": ([0, 0, 0], [0, 0, 0], 2),
    "three_classes": ([0, 1, 2, 2, 1, 0, 2], [0, 2, 2, 1, 1, 0, 0], 3),
    "three_classes_one_predicted": ([0, 1, 2, 2], [2, 2, 2, 2], 3),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_classification_metrics_match_scikit_learn(case):
    labels, predictions, k = CASES[case]
    results = classification_metrics(one_hot_logits(predictions, k), labels, extra=("mcc",))
    assert results["eval_accuracy"] == pytest.approx(
        sklearn_metrics.accuracy_score(labels, predictions))
    assert results["eval_mcc"] == pytest.approx(
        sklearn_metrics.matthews_corrcoef(labels, predictions), abs=1e-12)
    if k == 2:
        assert results["eval_f1"] == pytest.approx(
            sklearn_metrics.f1_score(labels, predictions, zero_division=0))
    else:
        assert results["eval_macro_f1"] == pytest.approx(sklearn_metrics.f1_score(
            labels, predictions, labels=list(range(k)), average="macro", zero_division=0))
    assert all(math.isfinite(v) for v in results.values())


@pytest.mark.parametrize("k", [2, 3, 5])
def test_matthews_correlation_matches_scikit_learn_on_random_labels(k):
    rng = np.random.default_rng(k)
    for n in (3, 20, 500):
        labels = rng.integers(0, k, n)
        # Predictions that agree with the labels more often than chance, and pure noise.
        for predictions in (np.where(rng.random(n) < 0.6, labels, rng.integers(0, k, n)),
                            rng.integers(0, k, n)):
            ours = matthews_corrcoef(confusion_matrix(predictions, labels, k))
            assert ours == pytest.approx(
                sklearn_metrics.matthews_corrcoef(labels, predictions), abs=1e-12)


def test_padding_rows_do_not_count_in_mcc():
    labels, predictions = [0, 1, 1, 0, 1, 1], [0, 1, 0, 0, 0, 0]
    weights = [1, 1, 1, 1, 0, 0]
    results = classification_metrics(one_hot_logits(predictions, 2), labels, weights,
                                     extra=("mcc",))
    assert results["eval_mcc"] == pytest.approx(
        sklearn_metrics.matthews_corrcoef(labels[:4], predictions[:4]))


def test_unknown_extra_metric_is_an_error():
    with pytest.raises(ValueError, match="unknown extra metric 'kappa'"):
        classification_metrics(one_hot_logits([0, 1], 2), [0, 1], extra=("kappa",))


def test_regression_correlations_match_scipy():
    rng = np.random.default_rng(0)
    labels = np.round(rng.uniform(0, 5, 300) * 5) / 5  # STS-B scores come in steps: many ties
    predictions = labels + rng.normal(0, 1.0, 300)
    results = regression_metrics(predictions, labels)
    assert results["eval_pearson"] == pytest.approx(scipy_stats.pearsonr(predictions, labels)[0])
    assert results["eval_spearman"] == pytest.approx(
        scipy_stats.spearmanr(predictions, labels)[0])
    tied = regression_metrics([1, 2, 2, 3, 3, 3], [0.5, 1, 1, 1, 2, 4])
    assert tied["eval_spearman"] == pytest.approx(
        scipy_stats.spearmanr([1, 2, 2, 3, 3, 3], [0.5, 1, 1, 1, 2, 4])[0])


def test_degenerate_predictions_leave_no_nan_in_eval_results(tmp_path):
    # A model that predicts one class for every row: F1 of the positive class and MCC are 0.
    results = classification_metrics(one_hot_logits([0, 0, 0, 0], 2), [0, 1, 1, 0],
                                     extra=("mcc",))
    results.update(global_step=10, loss=results["eval_loss"])
    path = tmp_path / "eval_results.txt"
    write_eval_results(path, results)
    text = path.read_text()
    assert "nan" not in text.lower()
    back = read_eval_results(path)
    assert back["eval_mcc"] == 0.0 and back["eval_f1"] == 0.0 and back["eval_accuracy"] == 0.5


def test_submission_file_format(tmp_path):
    path = tmp_path / "STS-B.tsv"
    assert write_submission(path, ["0", "1", "2"], [0.0, 4.25, 5.0]) == 3
    assert path.read_text() == "index\tprediction\n0\t0.0\n1\t4.25\n2\t5.0\n"
    write_submission(tmp_path / "RTE.tsv", ["7", "8"], ["entailment", "not_entailment"])
    assert read_submission(tmp_path / "RTE.tsv") == [("7", "entailment"),
                                                     ("8", "not_entailment")]


def test_submission_writer_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "MRPC.tsv"
    write_submission(path, ["0"], ["1"])
    with pytest.raises(ValueError, match="2 indices for 1 predictions"):
        write_submission(path, ["0", "1"], ["1"])
    with pytest.raises(ValueError, match="tab or a newline"):
        write_submission(path, ["0"], ["a\tb"])
    assert path.read_text() == "index\tprediction\n0\t1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MRPC.tsv"]
