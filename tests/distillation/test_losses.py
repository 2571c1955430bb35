"""The distillation losses against their formulas written in NumPy: values and gradients."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.distillation.losses import (attention_loss, distillation_loss, hidden_state_loss,
                                         make_loss_fn, soft_target_loss)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _reference(s, t, y, temperature, alpha, weights=None):
    """alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * w_y * CE(y, s), and its
    gradient with respect to s."""
    p_t, p_s = _softmax(t / temperature), _softmax(s / temperature)
    kl = np.sum(p_t * (np.log(p_t) - np.log(p_s)), axis=-1)
    probs = _softmax(s)
    ce = -np.log(probs[np.arange(len(y)), y])
    w = np.ones(len(y)) if weights is None else np.asarray(weights)[y]
    value = alpha * temperature ** 2 * kl + (1 - alpha) * w * ce
    onehot = np.eye(s.shape[1])[y]
    grad = (alpha * temperature * (p_s - p_t) + (1 - alpha) * w[:, None] * (probs - onehot))
    return value, grad


def _logits(seed, n=6, k=3, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, k)) * scale, rng.standard_normal((n, k)) * scale,
            rng.integers(0, k, n))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9, 1.0])
def test_loss_and_gradient_match_the_formula(temperature, alpha):
    s, t, y = _logits(seed=int(temperature * 10 + alpha * 100))
    want, want_grad = _reference(s, t, y, temperature, alpha)
    student = tf.Variable(s, dtype=tf.float64)
    with tf.GradientTape() as tape:
        got = distillation_loss(tf.cast(student, tf.float32), t, y, temperature, alpha)
        total = tf.reduce_sum(got)
    grad = tape.gradient(total, student).numpy()
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=2e-4, atol=2e-6)


def test_class_weights_scale_only_the_hard_term():
    s, t, y = _logits(seed=1)
    weights = [0.5, 2.0, 1.5]
    want, _ = _reference(s, t, y, 3.0, 0.4, weights)
    got = distillation_loss(s.astype(np.float32), t, y, 3.0, 0.4, np.array(weights))
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=2e-6)
    # alpha = 1: the weights have nothing to scale.
    soft_only = distillation_loss(s.astype(np.float32), t, y, 3.0, 1.0, np.array(weights))
    np.testing.assert_allclose(soft_only.numpy(), _reference(s, t, y, 3.0, 1.0)[0], rtol=2e-5)


def test_soft_loss_is_zero_when_the_student_matches_the_teacher_up_to_a_shift():
    _, t, _ = _logits(seed=2)
    got = soft_target_loss(t + 7.0, t, 4.0).numpy()  # softmax ignores a constant shift
    np.testing.assert_allclose(got, 0.0, atol=1e-5)
    assert (soft_target_loss(-t, t, 4.0).numpy() > 0.01).all()


def test_regression_loss():
    rng = np.random.default_rng(3)
    s, t, y = rng.standard_normal((5, 1)), rng.standard_normal((5, 1)), rng.standard_normal(5)
    got = distillation_loss(s.astype(np.float32), t, y, 2.0, 0.3, is_regression=True).numpy()
    want = 0.3 * (s[:, 0] - t[:, 0]) ** 2 + 0.7 * (s[:, 0] - y) ** 2
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_loss_fn_reads_the_records_labels_and_adds_the_intermediate_term():
    s, t, y = _logits(seed=4)
    labels = {"label_ids": tf.constant(y, tf.int32), "teacher_logits": tf.constant(t, tf.float32)}
    plain = make_loss_fn(2.0, 0.7)(tf.constant(s, tf.float32), labels).numpy()
    np.testing.assert_allclose(plain, _reference(s, t, y, 2.0, 0.7)[0], rtol=2e-5, atol=2e-6)
    extra = np.arange(6, dtype=np.float32)
    outputs = {"logits": tf.constant(s, tf.float32), "intermediate": tf.constant(extra)}
    with_extra = make_loss_fn(2.0, 0.7, intermediate_loss_weight=0.25)(outputs, labels).numpy()
    np.testing.assert_allclose(with_extra, plain + 0.25 * extra, rtol=1e-6, atol=1e-6)


def test_hidden_state_loss_averages_real_tokens_only():
    rng = np.random.default_rng(5)
    s, t = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3))
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    got = hidden_state_loss(s, t, mask).numpy()
    want = [np.mean((s[i, :n] - t[i, :n]) ** 2) for i, n in enumerate(mask.sum(1))]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _log_attention(rng, batch, heads, seq, mask):
    scores = rng.standard_normal((batch, heads, seq, seq)) * 2
    scores = scores + (1 - mask[:, None, None, :]) * -10000.0
    return scores - np.log(np.exp(scores).sum(-1, keepdims=True))


def test_attention_loss_is_the_kl_of_real_query_rows_head_by_head():
    rng = np.random.default_rng(6)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float64)
    s, t = _log_attention(rng, 2, 3, 5, mask), _log_attention(rng, 2, 3, 5, mask)
    got = attention_loss(s, t, mask).numpy()
    kl = np.sum(np.exp(t) * (t - s), axis=-1).mean(axis=1)  # [batch, queries]
    want = [(kl[i] * mask[i]).sum() / mask[i].sum() for i in range(2)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.allclose(attention_loss(t, t, mask).numpy(), 0.0, atol=1e-6)


def test_attention_loss_with_other_head_counts_compares_head_averages():
    rng = np.random.default_rng(7)
    mask = np.ones((1, 4))
    s, t = _log_attention(rng, 1, 2, 4, mask), _log_attention(rng, 1, 4, 4, mask)
    got = attention_loss(s, t, mask).numpy()
    ps, pt = np.exp(s).mean(axis=1), np.exp(t).mean(axis=1)
    want = np.sum(pt * (np.log(pt) - np.log(ps)), axis=-1).mean(axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-5)
