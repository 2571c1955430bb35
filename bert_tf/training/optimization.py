"""The original BERT optimizer and learning-rate schedule, as Keras 3 objects.

google-research/bert fine-tunes and pretrains with `AdamWeightDecayOptimizer`:
Adam moments *without* bias correction, decoupled L2 weight decay added to the
update (not to the loss) for every variable whose name matches none of
`LayerNorm`, `layer_norm`, `bias`, gradients clipped to global norm 1.0, and a
learning rate that warms up linearly and then decays linearly to 0.

This module reproduces that update (`AdamWeightDecay`; the schedule, `WarmupLinearDecay`, is in
schedules.py) and offers `create_optimizer`, which also builds Keras' own `AdamW` / `Lamb` with
the same schedule and exclusions. The Adam updates run as one XLA-fused pass per variable
(fused_updates.py): the same formulas, equal to the op-by-op update to float32 rounding.

Example:

```python
optimizer = create_optimizer(
    "adamw_google", learning_rate=2e-5, num_train_steps=1000,
    num_warmup_steps=100)
model.compile(optimizer=optimizer, loss=...)
```
"""

import re

import keras
import tensorflow as tf
from keras import ops

from bert_tf.training import fused_updates
from bert_tf.training.schedules import WarmupLinearDecay

DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")
OPTIMIZER_NAMES = ("adamw_google", "adamw", "lamb")


def _variable_path(variable):
    """The full path of a model variable (Keras 3 `path`, else the TF name)."""
    path = getattr(variable, "path", None)
    if path is None:
        path = re.sub(r":\d+$", "", str(variable.name))
    return path


def uses_weight_decay(path, exclude_patterns, weight_decay_rate=1.0):
    """Whether the variable at `path` is decayed, with the original's rule.

    Args:
        path: the variable's full path, e.g. "encoder/layer_0/output/kernel".
        exclude_patterns: regular expressions; a `re.search` hit on any of them
            excludes the variable.
        weight_decay_rate: a falsy rate disables decay everywhere.

    Returns:
        bool.
    """
    if not weight_decay_rate:
        return False
    return not any(re.search(p, path) for p in (exclude_patterns or ()))


class _ReplicaExactApplyMixin:
    """Applies updates identically on one device and under `tf.distribute`.

    Keras' own TF apply path (a) clips each replica's gradients *before* the
    cross-replica sum, so clipping under MirroredStrategy differs from one
    device, and (b) cannot accumulate gradients under a strategy at all (its
    `ops.cond` wraps the all-reduce: "merge_call called while defining a new
    graph"). Here the gradients are summed across replicas first, clipped once
    (the same global norm on every replica), and the accumulate-or-update
    choice is a per-variable `tf.cond` in cross-replica context, where no
    synchronisation happens. With `model.fit` (which scales each replica's
    loss by 1/replicas) N devices then give the single-device result.
    """

    def _backend_apply_gradients(self, grads, trainable_variables):
        if self.use_ema:  # Keras' EMA bookkeeping is not reimplemented here.
            return super()._backend_apply_gradients(grads, trainable_variables)
        replica_ctx = tf.distribute.get_replica_context()
        if replica_ctx is not None and self._distribution_strategy.num_replicas_in_sync > 1:
            grads = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, list(grads))
        steps = self.gradient_accumulation_steps
        accumulators = [None] * len(grads)
        is_update = True
        to_apply = list(grads)
        if steps:
            grads = [tf.convert_to_tensor(g) for g in grads]
            accumulators = [
                self._accumulated_gradients[self._get_variable_index(v)].value
                for v in trainable_variables
            ]
            is_update = tf.equal((self._iterations + 1) % steps, 0)
            to_apply = [(g + tf.cast(a, g.dtype)) / steps for g, a in zip(grads, accumulators)]
        to_apply = self._clip_gradients(to_apply)
        scale = self.__dict__.get("_gradient_scale")
        if scale is not None and not self._fuses_updates():  # the fused kernels multiply
            to_apply = [g * tf.cast(scale, g.dtype) for g in to_apply]
        learning_rate = self.learning_rate
        variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]

        def update_all(distribution, to_apply, grads, is_update, learning_rate):
            for var, g_apply, g_raw, acc in zip(variables, to_apply, grads, accumulators):
                distribution.extended.update(
                    var,
                    self._update_one,
                    args=(g_apply, g_raw, acc, is_update, learning_rate),
                    group=False,
                )

        # Per-step scalars shared by all variables (see PathAdamW._step_scalars), kept only
        # while this step's updates are built. Set past Keras' attribute tracking: it holds
        # tensors, not state.
        object.__setattr__(self, "_step_scalar_cache", {})
        try:
            tf.__internal__.distribute.interim.maybe_merge_call(
                update_all, self._distribution_strategy, to_apply, list(grads), is_update,
                learning_rate,
            )
        finally:
            object.__setattr__(self, "_step_scalar_cache", None)

    def apply_scaled(self, grads, trainable_variables, gradient_scale):
        """`apply(grads, trainable_variables)` with every gradient first multiplied by
        `gradient_scale` (a scalar tensor, e.g. the global-norm clipping factor). The fused
        updates do the multiply in their pass, so it costs no kernel of its own."""
        object.__setattr__(self, "_gradient_scale", gradient_scale)  # a tensor, not state
        try:
            return self.apply(grads, trainable_variables)
        finally:
            object.__setattr__(self, "_gradient_scale", None)

    def _fused_gradient_scale(self, dtype):
        """The scale for a fused kernel, in `dtype` (1 when apply_scaled did not set one)."""
        scale = self.__dict__.get("_gradient_scale")
        return tf.constant(1.0, dtype) if scale is None else tf.cast(scale, dtype)

    def _update_one(self, var, g_apply, g_raw, acc, is_update, learning_rate):
        """One variable on one device: accumulate, or decay + update + reset."""

        def apply():
            self._decay_and_update(g_apply, var, learning_rate)
            if acc is not None:
                acc.assign(tf.zeros_like(acc))

        def accumulate():
            acc.assign_add(tf.cast(g_raw, acc.dtype))

        if acc is None:
            apply()
        else:
            tf.cond(is_update, apply, accumulate)

    def _decay_and_update(self, gradient, var, learning_rate):
        if self.weight_decay is not None and self._use_weight_decay(var):
            # Keras' decoupled decay (AdamW, Lamb), applied before the step as Keras does.
            var.assign_sub(
                var * tf.cast(self.weight_decay, var.dtype) * tf.cast(learning_rate, var.dtype)
            )
        self.update_step(gradient, var, learning_rate)

    def _fuses_updates(self):
        """Whether to run `fused_updates` kernels: asked for, not AMSGrad (no kernel for it),
        and not on TPU (which compiles the whole step with XLA anyway)."""
        if (not getattr(self, "fused_update", False) or getattr(self, "amsgrad", False)
                or isinstance(self._distribution_strategy, tf.distribute.TPUStrategy)):
            return False
        if getattr(self, "_fused_step", None) is None:
            self._fused_step = fused_updates.compile_update(self._FUSED_UPDATE)
        return True


@keras.saving.register_keras_serializable(package="bert_tf")
class AdamWeightDecay(_ReplicaExactApplyMixin, keras.optimizers.Optimizer):
    """Adam with decoupled weight decay and no bias correction (original BERT).

    Per variable `w` with (clipped) gradient `g`:

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        update = m / (sqrt(v) + epsilon)
        update += weight_decay_rate * w      # unless the path is excluded
        w -= learning_rate * update

    Exclusion is a `re.search` of each pattern against the variable's full
    Keras path (e.g. "bert/encoder/layer_0/attention_layer_norm/gamma"), which
    is why the patterns can name layers rather than variable leaves.

    Args:
        learning_rate: float or a `LearningRateSchedule` (e.g. `WarmupLinearDecay`).
        weight_decay_rate: the decay coefficient (0 disables decay).
        beta_1: first-moment decay.
        beta_2: second-moment decay.
        epsilon: added to `sqrt(v)`.
        exclude_from_weight_decay: regex patterns of variable paths not decayed.
        global_clipnorm: clip gradients to this global norm before the update
            (the original uses 1.0; `None` disables clipping).
        fused_update: run each variable's update as one XLA-compiled pass
            (`fused_updates.google_adam_update`; several times faster on CPU).
        **kwargs: other `keras.optimizers.Optimizer` arguments, e.g.
            `gradient_accumulation_steps`, `name`.

    Example:

    >>> opt = AdamWeightDecay(learning_rate=1e-3)
    >>> w = keras.Variable([1.0, -1.0], name="kernel")
    >>> opt.apply_gradients([(ops.convert_to_tensor([0.5, 0.5]), w)])
    """

    _FUSED_UPDATE = staticmethod(fused_updates.google_adam_update)

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay_rate=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_weight_decay=DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
        global_clipnorm=1.0,
        name="adam_weight_decay",
        fused_update=True,
        **kwargs,
    ):
        # Keras' own `weight_decay` stays None: the decay is part of our update
        # (added to it, then scaled by lr), as in the original. Accept the Keras
        # spelling as an alias rather than silently ignoring it.
        alias = kwargs.pop("weight_decay", None)
        if alias is not None:
            weight_decay_rate = alias
        super().__init__(
            learning_rate=learning_rate, global_clipnorm=global_clipnorm, name=name, **kwargs
        )
        self.weight_decay_rate = float(weight_decay_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.exclude_patterns = list(exclude_from_weight_decay or ())
        self.fused_update = bool(fused_update)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m, self._v = self.add_optimizer_variables(var_list, ["adam_m", "adam_v"])
        # Decided here, from the Keras variables: under tf.distribute the
        # update step only sees per-device tf.Variables, which carry no path.
        self._decay_flags = [
            uses_weight_decay(_variable_path(v), self.exclude_patterns, self.weight_decay_rate)
            for v in var_list
        ]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]
        dtype = variable.dtype
        # Embedding gradients arrive as IndexedSlices; the original densifies them too.
        gradient = ops.cast(ops.convert_to_tensor(gradient), dtype)
        lr = ops.cast(learning_rate, dtype)
        if self._fuses_updates():
            self._fused_step(
                fused_updates.local_variable(variable), fused_updates.local_variable(m, variable),
                fused_updates.local_variable(v, variable), gradient,
                self._fused_gradient_scale(dtype), lr, self.beta_1,
                self.beta_2, self.epsilon,
                self.weight_decay_rate if self._decay_flags[index] else None)
            return

        next_m = self.beta_1 * m + (1.0 - self.beta_1) * gradient
        next_v = self.beta_2 * v + (1.0 - self.beta_2) * ops.square(gradient)
        update = next_m / (ops.sqrt(next_v) + self.epsilon)
        if self._decay_flags[index]:
            update = update + self.weight_decay_rate * variable
        self.assign(m, next_m)
        self.assign(v, next_v)
        self.assign_sub(variable, lr * update)

    def get_config(self):
        config = super().get_config()
        config.pop("weight_decay", None)
        config.update(
            {
                "weight_decay_rate": self.weight_decay_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "exclude_from_weight_decay": list(self.exclude_patterns),
                "fused_update": self.fused_update,
            }
        )
        return config


class _PathWeightDecayMixin:
    """Makes Keras' built-in decoupled weight decay match patterns on paths.

    Keras' `exclude_from_weight_decay(var_names=...)` searches `variable.name`,
    which in Keras 3 is only the leaf ("gamma", "kernel"), so "layer_norm"
    would never match. This mixin records each variable's path at build time
    and decides from it.
    """

    def set_path_exclusions(self, patterns):
        self._path_exclude_patterns = list(patterns or ())

    def build(self, var_list):
        if self.built:
            return
        self._decay_by_key = {
            self._var_key(v): uses_weight_decay(
                _variable_path(v), getattr(self, "_path_exclude_patterns", ())
            )
            for v in var_list
        }
        super().build(var_list)

    def _use_weight_decay(self, variable):
        return self._decay_by_key.get(self._var_key(variable), True)

    def get_config(self):
        config = super().get_config()
        config["path_exclude_patterns"] = list(getattr(self, "_path_exclude_patterns", ()))
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        patterns = config.pop("path_exclude_patterns", ())
        optimizer = super().from_config(config, custom_objects=custom_objects)
        optimizer.set_path_exclusions(patterns)
        return optimizer


@keras.saving.register_keras_serializable(package="bert_tf")
class PathAdamW(_ReplicaExactApplyMixin, _PathWeightDecayMixin, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` whose weight-decay exclusions match variable paths.

    With `fused_update` (the default) the decay and the Adam step of each variable run as one
    XLA-compiled pass (`fused_updates.keras_adamw_update`), Keras' formulas in Keras' order.
    """

    _FUSED_UPDATE = staticmethod(fused_updates.keras_adamw_update)

    def __init__(self, *args, fused_update=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fused_update = bool(fused_update)

    def _decay_and_update(self, gradient, var, learning_rate):
        if not self._fuses_updates():
            return super()._decay_and_update(gradient, var, learning_rate)
        index = self._get_variable_index(var)
        dtype = var.dtype
        lr, alpha = self._step_scalars(learning_rate, dtype, var)
        decay = self.weight_decay if (self.weight_decay is not None
                                      and self._use_weight_decay(var)) else None
        local = fused_updates.local_variable
        self._fused_step(
            local(var), local(self._momentums[index], var), local(self._velocities[index], var),
            ops.cast(ops.convert_to_tensor(gradient), dtype), self._fused_gradient_scale(dtype),
            lr, alpha, self.beta_1,
            self.beta_2, self.epsilon, decay)

    def _step_scalars(self, learning_rate, dtype, var):
        """(lr, alpha) of this step in `dtype`. They are the same for every variable, so they
        are computed once per graph, device and dtype; per variable, their ops cost about 1 s
        of tracing for MiniLM's 103 variables."""
        graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()
        key = (graph, getattr(var, "device", None), dtype)
        cache = self.__dict__.get("_step_scalar_cache")
        if cache is None:  # outside _backend_apply_gradients: no caching
            cache = {}
        if key not in cache:
            lr = ops.cast(learning_rate, dtype)
            step = ops.cast(self.iterations + 1, dtype)
            # Keras' alpha, computed on scalars as Keras does.
            alpha = lr * ops.sqrt(1 - ops.power(ops.cast(self.beta_2, dtype), step)) / (
                1 - ops.power(ops.cast(self.beta_1, dtype), step))
            cache[key] = (lr, alpha)
        return cache[key]

    def get_config(self):
        return {**super().get_config(), "fused_update": self.fused_update}


if hasattr(keras.optimizers, "Lamb"):

    @keras.saving.register_keras_serializable(package="bert_tf")
    class PathLamb(_ReplicaExactApplyMixin, _PathWeightDecayMixin, keras.optimizers.Lamb):
        """`keras.optimizers.Lamb` whose weight-decay exclusions match variable paths."""

else:  # pragma: no cover - older Keras
    PathLamb = None


def create_optimizer(
    name,
    learning_rate,
    num_train_steps,
    num_warmup_steps,
    weight_decay=0.01,
    clip_norm=1.0,
    gradient_accumulation_steps=None,
    fused_update=True,
):
    """Builds the optimizer selected by `--optimizer`, with the BERT schedule.

    Args:
        name: "adamw_google" (the original update, exact), "adamw" (Keras AdamW:
            bias-corrected Adam, decoupled decay `w -= lr * wd * w`) or "lamb"
            (Keras Lamb, same decoupled decay).
        learning_rate: the peak learning rate.
        num_train_steps: optimizer updates until the rate reaches 0.
        num_warmup_steps: optimizer updates of linear warmup.
        weight_decay: decay coefficient; LayerNorm/layer_norm/bias paths excluded.
        clip_norm: global gradient-norm clip (None or 0 disables it).
        gradient_accumulation_steps: if >= 2, update every that many batches
            with the mean gradient; `num_train_steps`/`num_warmup_steps` then
            count updates, not batches.
        fused_update: one XLA-compiled pass per variable for "adamw_google" and "adamw"
            (see fused_updates.py); False runs the op-by-op update.

    Returns:
        A `keras.optimizers.Optimizer`.

    Raises:
        ValueError: an unknown `name`.
    """
    key = (name or "adamw_google").lower()
    if key not in OPTIMIZER_NAMES or (key == "lamb" and PathLamb is None):
        choices = [n for n in OPTIMIZER_NAMES if n != "lamb" or PathLamb is not None]
        raise ValueError(f"--optimizer={name!r} is not supported; choose one of {choices}")
    accumulation = int(gradient_accumulation_steps or 1)
    schedule = WarmupLinearDecay(
        learning_rate, num_train_steps, num_warmup_steps, accumulation_steps=accumulation
    )
    common = dict(
        learning_rate=schedule,
        global_clipnorm=float(clip_norm) if clip_norm else None,
        gradient_accumulation_steps=accumulation if accumulation > 1 else None,
    )
    if key == "adamw_google":
        return AdamWeightDecay(weight_decay_rate=weight_decay, fused_update=fused_update, **common)
    if key == "adamw":
        common["fused_update"] = fused_update
    cls = PathAdamW if key == "adamw" else PathLamb
    # Keras skips decay entirely when weight_decay is None.
    optimizer = cls(weight_decay=weight_decay or None, epsilon=1e-6, **common)
    optimizer.set_path_exclusions(DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY)
    return optimizer
