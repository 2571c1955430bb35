"""Evaluation metrics for run_classifier, computed on the host with NumPy.

The original `run_classifier.py` reported `eval_accuracy` and `eval_loss` from
`tf.metrics.accuracy` / `tf.metrics.mean`, both weighted by `is_real_example`
so that the padding rows added to fill the last batch do not count. This
module computes the same two numbers (in float64) plus the scores the GLUE
tasks are usually quoted with: F1 of the positive class for binary tasks
(MRPC, QQP), macro F1 for multi-class ones, Matthews correlation (CoLA), and
Pearson / Spearman correlation for regression (STS-B).

Conventions:
  * `weights` is the `is_real_example` mask: every entry must be 0 or 1;
    rows with weight 0 are dropped before anything is computed.
  * The confusion matrix is indexed `[true_label, predicted_label]`.
  * F1 of a class is `2 tp / (2 tp + fp + fn)`; when that denominator is 0
    (the class has no true and no predicted examples) its F1 is 0, i.e.
    scikit-learn's `zero_division=0`. Macro F1 averages over *all*
    `num_labels` classes, which equals
    `sklearn.metrics.f1_score(y, p, labels=range(num_labels),
    average="macro", zero_division=0)`. (scikit-learn's default, without
    `labels=`, would skip classes absent from both `y` and `p`; averaging
    over all classes keeps the score comparable across evaluation sets.)
  * Matthews correlation is 0 when it is undefined (all predictions, or all
    labels, in one class), as `sklearn.metrics.matthews_corrcoef` returns;
    Pearson / Spearman stay NaN for a constant side, as `scipy.stats` gives.

Example:

```python
results = classification_metrics(logits, label_ids, weights=is_real_example)
# {"eval_loss": 0.41, "eval_accuracy": 0.85, "eval_f1": 0.89}
cm = confusion_matrix(np.argmax(logits, -1), label_ids, 2, is_real_example)
```
"""

import numpy as np


def log_softmax(logits):
    """Numerically stable log-softmax over the last axis, in float64.

    Args:
      logits: array-like `[..., num_classes]`.

    Returns:
      float64 array of the same shape: `logits - logsumexp(logits)`.

    Example: `log_softmax([[0.0, 0.0]])` -> `[[-0.693..., -0.693...]]`.
    """
    x = np.asarray(logits, dtype=np.float64)
    # Subtracting the row maximum keeps exp() from overflowing for large logits.
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def softmax(logits):
    """Numerically stable softmax over the last axis, in float64.

    Args:
      logits: array-like `[..., num_classes]`.

    Returns:
      float64 probabilities of the same shape; each row sums to 1.

    Example: `softmax([[1000.0, 1000.0]])` -> `[[0.5, 0.5]]` (no overflow).
    """
    return np.exp(log_softmax(logits))


def _real_mask(weights, n):
    """A boolean mask of the real (weight 1) rows; `None` means all rows are real."""
    if weights is None:
        return np.ones([n], dtype=bool)
    w = np.asarray(weights, dtype=np.float64).reshape([-1])
    if w.shape[0] != n:
        raise ValueError("weights has %d entries for %d examples" % (w.shape[0], n))
    if not np.all((w == 0.0) | (w == 1.0)):
        raise ValueError("weights must be an is_real_example mask of 0s and 1s")
    return w == 1.0


def _as_label_ids(labels, num_labels):
    """Labels as a flat int64 array, checked to lie in `[0, num_labels)`."""
    y = np.asarray(labels).reshape([-1])
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("labels must be integer class ids")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_labels):
        raise ValueError("labels must lie in [0, %d), got range [%d, %d]"
                         % (num_labels, y.min(), y.max()))
    return y


def confusion_matrix(predictions, labels, num_labels, weights=None):
    """Counts of (true label, predicted label) pairs over the real examples.

    Args:
      predictions: int array-like `[n]` of predicted class ids.
      labels: int array-like `[n]` of true class ids.
      num_labels: number of classes; the matrix is `[num_labels, num_labels]`.
      weights: optional `[n]` is_real_example mask (0/1); 0 rows are skipped.

    Returns:
      int64 array `cm` with `cm[t, p]` = number of real examples whose true
      label is `t` and predicted label is `p`.

    Example: `confusion_matrix([1, 0, 1], [1, 1, 0], 2)` -> `[[0, 1], [1, 1]]`.
    """
    num_labels = int(num_labels)
    if num_labels < 1:
        raise ValueError("num_labels must be >= 1, got %d" % num_labels)
    p = _as_label_ids(predictions, num_labels)
    y = _as_label_ids(labels, num_labels)
    if p.shape != y.shape:
        raise ValueError("predictions and labels differ in length: %d vs %d"
                         % (p.shape[0], y.shape[0]))
    real = _real_mask(weights, y.shape[0])
    # One flat bincount over (true, pred) pairs, then reshape to the table.
    flat = y[real] * num_labels + p[real]
    counts = np.bincount(flat, minlength=num_labels * num_labels)
    return counts.reshape([num_labels, num_labels]).astype(np.int64)


def per_class_f1(cm):
    """F1 of every class from a `[true, pred]` confusion matrix.

    Args:
      cm: square count matrix indexed `[true, pred]`.

    Returns:
      float64 array `[num_labels]`; a class with `2tp + fp + fn == 0` gets 0
      (scikit-learn's `zero_division=0`).

    Example: `per_class_f1([[1, 1], [0, 2]])` -> `[0.667, 0.8]`.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp  # predicted as the class, truly another one
    fn = cm.sum(axis=1) - tp  # truly the class, predicted as another one
    denominator = 2.0 * tp + fp + fn
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, 2.0 * tp / safe, 0.0)


def matthews_corrcoef(cm):
    """Matthews correlation coefficient from a `[true, pred]` confusion matrix (any k).

    The multi-class form (Gorodkin 2004), which is the usual MCC for two classes:
    `(c s - sum_k p_k t_k) / sqrt((s^2 - sum_k p_k^2) (s^2 - sum_k t_k^2))` with `c` the
    correct count, `s` the total, `p_k` / `t_k` the predicted / true counts of class k.
    0 when the denominator is 0 (one class predicted, or one class present), like
    scikit-learn.

    Example: `matthews_corrcoef([[2, 1], [0, 3]])` -> `0.707...`.
    """
    cm = np.asarray(cm, dtype=np.float64)
    s = cm.sum()
    c = np.trace(cm)
    t = cm.sum(axis=1)
    p = cm.sum(axis=0)
    denominator = np.sqrt((s * s - np.dot(p, p)) * (s * s - np.dot(t, t)))
    if denominator == 0.0:
        return 0.0
    return float(np.clip((c * s - np.dot(p, t)) / denominator, -1.0, 1.0))


def classification_metrics(logits, labels, weights=None, num_labels=None, prefix="eval_",
                           extra=()):
    """Loss, accuracy and F1 of a classifier over the real evaluation examples.

    Args:
      logits: float array-like `[n, num_labels]` (pre-softmax scores).
      labels: int array-like `[n]` of true class ids.
      weights: optional `[n]` is_real_example mask (0/1); padding rows (0)
        are excluded from every number.
      num_labels: number of classes; defaults to `logits.shape[-1]` and must
        equal it when given.
      prefix: prepended to every key.
      extra: further scores by name; "mcc" adds `eval_mcc` (Matthews
        correlation, CoLA's GLUE metric).

    Returns:
      dict of Python floats: `eval_loss` (mean softmax cross-entropy),
      `eval_accuracy`, and `eval_f1` (F1 of class id 1) when there are 2
      classes or `eval_macro_f1` when there are more, plus the `extra` ones.

    Raises:
      ValueError: on shape mismatches, labels out of range, a non-0/1 mask,
        or when no example is real.

    Example:

    ```python
    classification_metrics([[2., 0.], [0., 1.], [5., 5.]], [0, 1, 1],
                           weights=[1, 1, 0])
    # {"eval_loss": 0.220..., "eval_accuracy": 1.0, "eval_f1": 1.0}
    ```
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError("logits must be [n, num_labels], got shape %s" % (z.shape,))
    if num_labels is None:
        num_labels = z.shape[1]
    if int(num_labels) != z.shape[1]:
        raise ValueError("num_labels=%d but logits have %d columns" % (num_labels, z.shape[1]))
    num_labels = int(num_labels)
    if num_labels < 2:
        raise ValueError("classification needs >= 2 classes; use regression_metrics")
    y = _as_label_ids(labels, num_labels)
    if y.shape[0] != z.shape[0]:
        raise ValueError("%d labels for %d rows of logits" % (y.shape[0], z.shape[0]))
    real = _real_mask(weights, y.shape[0])
    if not real.any():
        raise ValueError("no real examples to evaluate (all weights are 0)")

    z, y = z[real], y[real]
    log_probs = log_softmax(z)
    per_example_loss = -log_probs[np.arange(y.shape[0]), y]
    predictions = np.argmax(z, axis=-1)
    results = {
        prefix + "loss": float(np.mean(per_example_loss)),
        prefix + "accuracy": float(np.mean(predictions == y)),
    }
    cm = confusion_matrix(predictions, y, num_labels)
    f1 = per_class_f1(cm)
    if num_labels == 2:
        results[prefix + "f1"] = float(f1[1])
    else:
        results[prefix + "macro_f1"] = float(np.mean(f1))
    for name in extra:
        if name != "mcc":
            raise ValueError("unknown extra metric %r (known: mcc)" % (name,))
        results[prefix + "mcc"] = matthews_corrcoef(cm)
    return results


def rankdata(values):
    """Ranks starting at 1, ties sharing the average of the ranks they span.

    Args:
      values: 1-D array-like of numbers.

    Returns:
      float64 array of ranks (`scipy.stats.rankdata(method="average")`).

    Example: `rankdata([10, 20, 20, 5])` -> `[2.0, 3.5, 3.5, 1.0]`.
    """
    x = np.asarray(values).reshape([-1])
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    # Group k covers ranks (end_k - count_k + 1) .. end_k; their mean is below.
    ends = np.cumsum(counts).astype(np.float64)
    average_ranks = ends - (counts - 1) / 2.0
    return average_ranks[inverse.reshape([-1])]


def pearson(x, y):
    """Pearson correlation of two equal-length 1-D arrays (float64).

    Returns NaN when either array is constant (the correlation is undefined).

    Example: `pearson([1, 2, 3], [2, 4, 7])` -> `0.993...`.
    """
    x = np.asarray(x, dtype=np.float64).reshape([-1])
    y = np.asarray(y, dtype=np.float64).reshape([-1])
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    if denominator == 0.0:
        return float("nan")
    # Clip: rounding can push a perfect correlation a hair past +-1.
    return float(np.clip(np.sum(dx * dy) / denominator, -1.0, 1.0))


def spearman(x, y):
    """Spearman rank correlation: Pearson of the average ranks (ties averaged).

    Example: `spearman([1, 2, 2, 3], [1, 3, 2, 4])` -> `0.9486...`.
    """
    return pearson(rankdata(x), rankdata(y))


def regression_metrics(predictions, labels, weights=None, prefix="eval_"):
    """MSE, Pearson and Spearman correlation of a regression head (STS-B).

    Args:
      predictions: float array-like `[n]` or `[n, 1]`.
      labels: float array-like `[n]`.
      weights: optional `[n]` is_real_example mask (0/1); 0 rows are excluded.
      prefix: prepended to every key.

    Returns:
      dict of Python floats: `eval_loss` (mean squared error),
      `eval_pearson`, `eval_spearman` (NaN if either side is constant).

    Example: `regression_metrics([1., 2., 3.], [1., 2., 4.])`
    -> `{"eval_loss": 0.333..., "eval_pearson": 0.981..., "eval_spearman": 1.0}`.
    """
    p = np.asarray(predictions, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim != 1:
        raise ValueError("predictions must be [n] or [n, 1], got shape %s" % (p.shape,))
    y = np.asarray(labels, dtype=np.float64).reshape([-1])
    if y.shape != p.shape:
        raise ValueError("%d labels for %d predictions" % (y.shape[0], p.shape[0]))
    real = _real_mask(weights, y.shape[0])
    if not real.any():
        raise ValueError("no real examples to evaluate (all weights are 0)")
    p, y = p[real], y[real]
    return {
        prefix + "loss": float(np.mean((p - y) ** 2)),
        prefix + "pearson": pearson(p, y),
        prefix + "spearman": spearman(p, y),
    }
