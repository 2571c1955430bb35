"""Adam updates as one XLA-fused elementwise pass over each variable.

Written op by op, an Adam update is about ten elementwise kernels per variable, and each one
reads and writes whole tensors the size of the variable: for BERT-base that moves several GB per
step, which costs more than half a second on a 2-core CPU (measured with
`bench.bert_tf_step`). Compiled with XLA (`jit_compile=True`), the same formula runs as one loop
that reads the gradient, the moments and the variable once and updates them in place: 4-6x less
time for the optimizer step on CPU. The global-norm clipping factor is applied in the same pass
(`gradient_scale`), which saves a multiply kernel per variable and its pass over the gradient.

The formulas are the ones in `optimization.py`, in the same order; XLA may contract a multiply
and an add into one fused multiply-add, so values can differ from the unfused kernels in the
last bit (tests/training/test_optimization.py bounds the difference).

The functions take the variables themselves (updated in place, which is what makes them fast:
returning new values and assigning them costs about 3x more) and the hyperparameters as Python
floats (constant in a run, so each is traced once per variable shape). Wrap them with
`compile_update`.
"""

import keras
import tensorflow as tf


def local_variable(variable, like=None):
    """The `tf.Variable` to update in place.

    Args:
        variable: a `keras.Variable`, a `tf.Variable`, or a distributed variable.
        like: under `tf.distribute`, the per-device variable being updated; the component of
            `variable` on the same device is returned.
    """
    if isinstance(variable, keras.Variable):
        variable = variable.value  # its tf.Variable (or distributed variable)
    components = getattr(variable, "values", None)
    if components is None or like is None:
        return variable
    for component in components:
        if component.device == like.device:
            return component
    raise ValueError(f"no component of {variable.name} on {like.device}")


def compile_update(update_fn):
    """`update_fn` as an XLA-compiled `tf.function`. Each optimizer compiles its own: a function
    shared across optimizers would keep traces that refer to variables of earlier models."""
    return tf.function(update_fn, jit_compile=True, autograph=False)


def google_adam_update(var, m, v, gradient, gradient_scale, lr, beta_1, beta_2, epsilon,
                       weight_decay_rate):
    """`AdamWeightDecay.update_step` in one pass: moments, decayed update, in place.

    Args:
        var, m, v: the variable and its first and second moments (`tf.Variable`s, same shape).
        gradient: the gradient, a dense tensor of `var`'s dtype.
        gradient_scale: a scalar of `var`'s dtype the gradient is multiplied by first (the
            global-norm clipping factor, or 1).
        lr: the learning rate, a scalar of `var`'s dtype.
        beta_1, beta_2, epsilon: Python floats.
        weight_decay_rate: a Python float, or None when `var` is not decayed.
    """
    gradient = gradient * gradient_scale
    next_m = beta_1 * m + (1.0 - beta_1) * gradient
    next_v = beta_2 * v + (1.0 - beta_2) * tf.square(gradient)
    update = next_m / (tf.sqrt(next_v) + epsilon)
    if weight_decay_rate is not None:
        update = update + weight_decay_rate * var
    m.assign(next_m)
    v.assign(next_v)
    var.assign_sub(lr * update)


def keras_adamw_update(var, m, v, gradient, gradient_scale, lr, alpha, beta_1, beta_2, epsilon,
                       weight_decay):
    """Keras' AdamW step (decoupled decay first, then bias-corrected Adam) in one pass.

    Args:
        var, m, v: the variable and its moments (`tf.Variable`s).
        gradient: a dense tensor of `var`'s dtype.
        gradient_scale: a scalar of `var`'s dtype the gradient is multiplied by first.
        lr: the learning rate (scalar, `var`'s dtype), used by the decay.
        alpha: `lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)` (scalar), as Keras computes it.
        beta_1, beta_2, epsilon: Python floats.
        weight_decay: a Python float, or None when `var` is not decayed.
    """
    gradient = gradient * gradient_scale
    if weight_decay is not None:
        var.assign_sub(var * tf.cast(weight_decay, var.dtype) * lr)
    m.assign_add((gradient - m) * (1.0 - beta_1))
    v.assign_add((tf.square(gradient) - v) * (1.0 - beta_2))
    var.assign_sub((m * alpha) / (tf.sqrt(v) + epsilon))
