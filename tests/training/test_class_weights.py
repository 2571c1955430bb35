"""--class_weights: per-class loss weights and the weighted loss they give."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tokenization.examples import InputExample
from bert_tf.training.fine_tune import UsageError, _loss_fn, class_weights

LABELS = ["negative", "neutral", "positive"]


def examples(counts):
    out = []
    for label, n in zip(LABELS, counts):
        out += [InputExample(f"train-{label}-{i}", "text", label=label) for i in range(n)]
    return out


def test_balanced_and_sqrt_balanced_weights():
    train = examples([161, 54, 385])
    balanced = class_weights("balanced", train, LABELS)
    np.testing.assert_allclose(balanced, [600 / (3 * 161), 600 / (3 * 54), 600 / (3 * 385)])
    np.testing.assert_allclose(class_weights("sqrt_balanced", train, LABELS), np.sqrt(balanced))
    assert class_weights("none", train, LABELS) is None
    np.testing.assert_allclose(class_weights("1,2.5,0.5", train, LABELS), [1, 2.5, 0.5])


@pytest.mark.parametrize("spec", ["1,2", "a,b,c", "1,0,1", "heavy"])
def test_bad_specs_name_the_flag(spec):
    with pytest.raises(UsageError, match="--class_weights"):
        class_weights(spec, examples([1, 1, 1]), LABELS)


def test_balanced_needs_every_label_in_train():
    with pytest.raises(UsageError, match="neutral"):
        class_weights("balanced", examples([3, 0, 2]), LABELS)


def test_weighted_loss_scales_each_example_by_its_class():
    logits = tf.constant([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 0.0, 3.0]])
    labels = tf.constant([0, 1, 2])
    plain = _loss_fn(False)(logits, labels).numpy()
    weighted = _loss_fn(False, np.array([1.0, 3.0, 0.5]))(logits, labels).numpy()
    np.testing.assert_allclose(weighted, plain * [1.0, 3.0, 0.5], rtol=1e-6)
