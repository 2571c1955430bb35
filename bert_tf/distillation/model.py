"""DistillationModel: a student classifier trained against a frozen teacher's layers.

Only runs with `--intermediate_loss_weight` use it; otherwise the student is trained alone on
the cached teacher logits. In training it returns the student's logits and the per-example
intermediate loss (`losses.hidden_state_loss` and `losses.attention_loss` over the mapped
layer pairs); in inference, the student's logits alone, so evaluation and prediction see a
plain classifier. The teacher runs in inference mode inside each training step and is held
outside Keras' and tf.train's tracking: it is neither trained, nor saved in the training
checkpoints, nor counted among the student's weights.
"""

import math

import keras
from keras import ops

from bert_tf.distillation.losses import attention_loss, hidden_state_loss
from bert_tf.modeling.attention import attention_mask_bias
from bert_tf.modeling.classifier import masked_mean


class _Untracked:
    """Holds a model where no tracker looks (Keras tracks layers, tf.train trackables)."""

    def __init__(self, model):
        self.model = model


def encoder_states(encoder, inputs, training, with_attention):
    """The output of every block of a `BertEncoder` and, optionally, each block's log
    attention probabilities [batch, heads, seq, seq] (before attention dropout)."""
    mask_bias = attention_mask_bias(inputs["input_mask"])
    x = ops.cast(encoder.embeddings(inputs["input_word_ids"], inputs["input_type_ids"],
                                    training=training), encoder.compute_dtype)
    states, log_probs = [], []
    for block in encoder.transformer_layers:
        if with_attention:
            log_probs.append(attention_log_probs(block.attention, x, mask_bias))
        x = block(x, mask_bias, training=training)
        states.append(x)
    return states, log_probs


def attention_log_probs(attention, x, mask_bias):
    """log softmax(q k^T / sqrt(d) + mask) of a `BertSelfAttention` on its input x."""
    batch, seq = ops.shape(x)[0], ops.shape(x)[1]

    def heads(t):  # [batch, seq, A*D] -> [batch, A, seq, D]
        t = ops.reshape(t, (batch, seq, attention.num_heads, attention.head_size))
        return ops.transpose(t, (0, 2, 1, 3))

    q, k = heads(attention.query(x)), heads(attention.key(x))
    scores = ops.cast(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), "float32")
    scores = scores * (1.0 / math.sqrt(float(attention.head_size)))
    return ops.log_softmax(scores + ops.cast(mask_bias, "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="bert_tf")
class DistillationModel(keras.Model):
    """A `BertClassifier` student with hidden-state and attention transfer from a teacher.

    Args:
        student: the student `BertClassifier` (trained).
        teacher: the teacher `BertClassifier` (frozen, untracked); None after deserialization
            until `set_teacher` is called.
        layer_targets: for each student layer, the teacher layer it learns from.
        hidden: transfer hidden states (a learned projection when the student is narrower).
        attention: transfer attention distributions.
        teacher_hidden_size: the teacher's width (default: the teacher's config); a narrower
            student gets one learned projection to it per mapped layer.
        **kwargs: as `keras.Model`.

    Example:
    >>> model = DistillationModel(student, teacher, layer_targets=[1, 3, 5])  # doctest: +SKIP
    >>> out = model(features, training=True)  # {"logits", "intermediate"}  # doctest: +SKIP
    >>> logits = model(features)  # the student's logits  # doctest: +SKIP
    """

    def __init__(self, student, teacher=None, layer_targets=(), hidden=True, attention=True,
                 teacher_hidden_size=None, **kwargs):
        kwargs.setdefault("name", "distillation_model")
        super().__init__(**kwargs)
        self.student = student
        self._teacher = _Untracked(teacher)
        self.layer_targets = [int(i) for i in layer_targets]
        self.hidden = hidden
        self.attention = attention
        if teacher_hidden_size is None and teacher is not None:
            teacher_hidden_size = teacher.config.hidden_size
        self.teacher_hidden_size = teacher_hidden_size
        self.projections = []
        if hidden and teacher_hidden_size not in (None, student.config.hidden_size):
            self.projections = [
                keras.layers.Dense(teacher_hidden_size, dtype=student.dtype_policy,
                                   name=f"hidden_projection_{j}")
                for j in range(len(self.layer_targets))]

    @property
    def teacher(self):
        return self._teacher.model

    def set_teacher(self, teacher):
        self._teacher = _Untracked(teacher)

    @property
    def config(self):
        return self.student.config

    @property
    def num_labels(self):
        return self.student.num_labels

    def build(self, input_shape=None):
        self.student.ensure_built()
        for dense in self.projections:
            dense.build((None, None, self.student.config.hidden_size))
        self.built = True

    def ensure_built(self):
        if not self.built:
            self.build()
        return self

    def call(self, inputs, training=False):
        if not training:
            return self.student(inputs, training=False)
        student, teacher = self.student, self.teacher
        s_states, s_attention = encoder_states(student.encoder, inputs, True, self.attention)
        t_states, t_attention = encoder_states(teacher.encoder, inputs, False, self.attention)
        last = s_states[-1]
        if student.pooling == "cls":
            pooled = student.encoder.pooler(last)
        else:
            pooled = masked_mean(last, inputs["input_mask"])
        logits = student.head(pooled, training=True)
        mask = inputs["input_mask"]
        total = 0.0
        for j, i in enumerate(self.layer_targets):
            if self.hidden:
                h = self.projections[j](s_states[j]) if self.projections else s_states[j]
                total += hidden_state_loss(h, ops.stop_gradient(t_states[i]), mask)
            if self.attention:
                total += attention_loss(s_attention[j], ops.stop_gradient(t_attention[i]), mask)
        return {"logits": logits, "intermediate": total / float(max(1, len(self.layer_targets)))}

    def get_config(self):
        config = super().get_config()
        config.update(student=keras.saving.serialize_keras_object(self.student),
                      layer_targets=self.layer_targets, hidden=self.hidden,
                      attention=self.attention, teacher_hidden_size=self.teacher_hidden_size)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        return cls(**config)
