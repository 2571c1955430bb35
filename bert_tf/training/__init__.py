"""Training: the original BERT optimizer and schedule, strategies, the distributed loop,
metrics, result files and TensorBoard summaries."""

from bert_tf.training.metrics import (classification_metrics, confusion_matrix,
                                      regression_metrics, softmax)
from bert_tf.training.optimization import AdamWeightDecay, WarmupLinearDecay, create_optimizer
from bert_tf.training.results import (read_eval_results, read_test_results, write_eval_results,
                                      write_test_results)
from bert_tf.training.strategies import STRATEGIES, StrategyError, create_strategy
from bert_tf.training.summaries import SummaryLogger, confusion_matrix_image
from bert_tf.training.trainer import LoopConfig, Trainer, TrainingError

__all__ = [
    "AdamWeightDecay", "LoopConfig", "STRATEGIES", "StrategyError", "SummaryLogger", "Trainer",
    "TrainingError", "WarmupLinearDecay", "classification_metrics", "confusion_matrix",
    "confusion_matrix_image", "create_optimizer", "create_strategy", "read_eval_results",
    "read_test_results", "regression_metrics", "softmax", "write_eval_results",
    "write_test_results",
]
