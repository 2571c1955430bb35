"""The learning-rate schedule of the original BERT, as a Keras 3 schedule."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then linear decay to 0: the schedule of the original BERT.

    With `s` the number of optimizer updates done so far (the step *before*
    the update being computed, i.e. `optimizer.iterations`):

    * `s < num_warmup_steps`: `lr = init_lr * s / num_warmup_steps`;
    * otherwise: `lr = init_lr * (1 - min(s, num_train_steps) / num_train_steps)`
      (`tf.train.polynomial_decay` with power 1 and end rate 0, no cycling).

    Args:
        init_lr: the peak learning rate (float).
        num_train_steps: the update at which the rate reaches 0 (int > 0).
        num_warmup_steps: length of the warmup (int >= 0; 0 disables it).
        accumulation_steps: the step Keras passes to the schedule counts
            micro-batches when the optimizer accumulates gradients; it is
            divided by this number (floor) so that steps count updates.

    Example:

    >>> schedule = WarmupLinearDecay(1e-4, num_train_steps=10, num_warmup_steps=2)
    >>> [round(float(schedule(s)), 8) for s in (0, 1, 2, 5, 10, 12)]
    [0.0, 5e-05, 8e-05, 5e-05, 0.0, 0.0]
    """

    def __init__(self, init_lr, num_train_steps, num_warmup_steps=0, accumulation_steps=1):
        if int(num_train_steps) <= 0:
            raise ValueError(f"num_train_steps must be > 0, got {num_train_steps}")
        if int(num_warmup_steps) < 0:
            raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}")
        if int(accumulation_steps) < 1:
            raise ValueError(f"accumulation_steps must be >= 1, got {accumulation_steps}")
        self.init_lr = float(init_lr)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)
        self.accumulation_steps = int(accumulation_steps)

    def __call__(self, step):
        step = ops.convert_to_tensor(step)
        if self.accumulation_steps > 1:
            step = ops.floor_divide(step, self.accumulation_steps)
        # float32 throughout, like the original graph.
        step = ops.cast(step, "float32")
        decay_steps = float(self.num_train_steps)
        decayed = self.init_lr * (1.0 - ops.minimum(step, decay_steps) / decay_steps)
        if not self.num_warmup_steps:
            return decayed
        warmup = self.init_lr * (step / float(self.num_warmup_steps))
        return ops.where(step < float(self.num_warmup_steps), warmup, decayed)

    def get_config(self):
        return {
            "init_lr": self.init_lr,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
            "accumulation_steps": self.accumulation_steps,
        }
