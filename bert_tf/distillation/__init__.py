"""Knowledge distillation: a fine-tuned classifier (the teacher) trains a smaller one.

`run_distillation.py` is the entry script; docs/distillation.md is the guide.
"""

from bert_tf.distillation.losses import (attention_loss, distillation_loss, hidden_state_loss,
                                         make_loss_fn, soft_target_loss)
from bert_tf.distillation.model import DistillationModel
from bert_tf.distillation.student import CutReader, StudentPlan, default_kept_layers
from bert_tf.distillation.teacher import Teacher, load_teacher

__all__ = ["CutReader", "DistillationModel", "StudentPlan", "Teacher", "attention_loss",
           "default_kept_layers", "distillation_loss", "hidden_state_loss", "load_teacher",
           "make_loss_fn", "soft_target_loss"]
