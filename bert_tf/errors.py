"""The error types that mean "bad input" (printed as one line by the entry scripts), as
opposed to bugs, which keep their traceback."""

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.data.conll import NerFlagError
from bert_tf.data.processors import DataFormatError
from bert_tf.data.squad_features import SquadFlagError
from bert_tf.export.api import ExportError
from bert_tf.modeling.config import ConfigError
from bert_tf.tokenization.text import TextDecodeError
from bert_tf.tokenization.vocab import VocabError
from bert_tf.training.model_files import UsageError
from bert_tf.training.strategies import StrategyError
from bert_tf.training.trainer import TrainingError

USER_ERRORS = (CheckpointError, ConfigError, DataFormatError, ExportError, NerFlagError,
               SquadFlagError, StrategyError, TextDecodeError, TrainingError, UsageError,
               VocabError, FileNotFoundError)
