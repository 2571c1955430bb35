"""Distillation losses, per example (the Trainer's `loss_fn(outputs, labels) -> [batch]`).

Prediction-layer loss (Hinton et al., 2015), for a classifier with student logits s, teacher
logits t, the true label y, temperature T and weight alpha:

    alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(y, softmax(s))

The T^2 keeps the soft term's gradients the same size whatever T is: the gradient of
T^2 * KL with respect to s is T * (softmax(s / T) - softmax(t / T)). A regression task (STS-B)
has no distribution to soften; its loss is alpha * (s - t)^2 + (1 - alpha) * (s - y)^2.

Intermediate losses (TinyBERT-style), averaged over the mapped layer pairs and added with
their own weight:
  * hidden states: the mean squared difference of a student layer's output (projected to the
    teacher's width when narrower) and its teacher layer's, over the real tokens;
  * attention: KL(teacher || student) of each real query token's attention distribution,
    head by head when the head counts agree, else of the distributions averaged over heads.
"""

import tensorflow as tf


def soft_target_loss(student_logits, teacher_logits, temperature):
    """T^2 * KL(softmax(t / T) || softmax(s / T)) per example: [batch, k] -> [batch]."""
    t = tf.cast(teacher_logits, tf.float32) / temperature
    s = tf.cast(student_logits, tf.float32) / temperature
    log_p_teacher = tf.nn.log_softmax(t, axis=-1)
    kl = tf.reduce_sum(tf.exp(log_p_teacher) * (log_p_teacher - tf.nn.log_softmax(s, axis=-1)),
                       axis=-1)
    return (temperature * temperature) * kl


def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.9,
                      class_weights=None, is_regression=False):
    """The prediction-layer loss of the module docstring, per example [batch].

    Args:
        student_logits: [batch, k] (k = 1 for regression).
        teacher_logits: [batch, k], the teacher's outputs on the same examples.
        labels: [batch] int class ids (float targets for regression).
        temperature: T > 0.
        alpha: weight of the soft term, in [0, 1].
        class_weights: optional [k] weights of the hard (cross-entropy) term by true class.
        is_regression: squared errors instead of KL and cross-entropy.
    """
    if is_regression:
        s = tf.cast(student_logits, tf.float32)[:, 0]
        soft = tf.square(s - tf.cast(teacher_logits, tf.float32)[:, 0])
        hard = tf.square(s - tf.cast(labels, tf.float32))
    else:
        soft = soft_target_loss(student_logits, teacher_logits, temperature)
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=tf.cast(student_logits, tf.float32))
        if class_weights is not None:
            hard = hard * tf.gather(tf.constant(class_weights, tf.float32), labels)
    return alpha * soft + (1.0 - alpha) * hard


def make_loss_fn(temperature, alpha, class_weights=None, is_regression=False,
                 intermediate_loss_weight=0.0):
    """The Trainer's `loss_fn(outputs, labels)` for a distillation run.

    `labels` is the dict of the distillation records (`label_ids`, `teacher_logits`).
    `outputs` is the student's logits, or, from a `DistillationModel` in training, a dict with
    `logits` and the per-example `intermediate` loss, added times `intermediate_loss_weight`.
    """
    def loss(outputs, labels):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs
        value = distillation_loss(logits, labels["teacher_logits"], labels["label_ids"],
                                  temperature, alpha, class_weights, is_regression)
        if isinstance(outputs, dict) and "intermediate" in outputs:
            value = value + intermediate_loss_weight * outputs["intermediate"]
        return value

    return loss


def _token_mask(input_mask):
    return tf.cast(input_mask, tf.float32)  # [batch, seq]


def hidden_state_loss(student_hidden, teacher_hidden, input_mask):
    """Mean over real tokens of the mean squared difference over the width: [batch].

    Args:
        student_hidden: [batch, seq, H] (already projected to the teacher's width H).
        teacher_hidden: [batch, seq, H].
        input_mask: [batch, seq] 1 for real tokens.
    """
    mask = _token_mask(input_mask)
    diff = tf.cast(student_hidden, tf.float32) - tf.cast(teacher_hidden, tf.float32)
    per_token = tf.reduce_mean(tf.square(diff), axis=-1)
    return tf.reduce_sum(per_token * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


def _mean_over_heads(log_probs):
    """log of the head-averaged distribution: [batch, A, q, k] -> [batch, 1, q, k]."""
    heads = tf.cast(tf.shape(log_probs)[1], tf.float32)
    return tf.reduce_logsumexp(log_probs, axis=1, keepdims=True) - tf.math.log(heads)


def attention_loss(student_log_probs, teacher_log_probs, input_mask):
    """KL(teacher || student) of the attention distributions of real query tokens: [batch].

    Args:
        student_log_probs: [batch, A_s, seq, seq] log attention probabilities.
        teacher_log_probs: [batch, A_t, seq, seq].
        input_mask: [batch, seq].
    """
    s = tf.cast(student_log_probs, tf.float32)
    t = tf.cast(teacher_log_probs, tf.float32)
    if s.shape[1] != t.shape[1]:
        s, t = _mean_over_heads(s), _mean_over_heads(t)
    kl = tf.reduce_sum(tf.exp(t) * (t - s), axis=-1)  # [batch, heads, q]
    mask = _token_mask(input_mask)
    per_query = tf.reduce_mean(kl, axis=1)
    return tf.reduce_sum(per_query * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
