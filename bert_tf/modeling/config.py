"""BertConfig: the fields of Google's `bert_config.json`, read and written with validation."""

import dataclasses
import json
import os
from typing import Any, Dict

from bert_tf.atomic_files import write_text_atomic
from bert_tf.modeling.activations import ACTIVATIONS


class ConfigError(ValueError):
    """A bert_config.json that cannot describe a model; the message names the file and field."""


# Fields without which no model can be built; the rest take the original's defaults.
_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
_INT_FIELDS = _REQUIRED + ("max_position_embeddings", "type_vocab_size")
_FLOAT_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps")


@dataclasses.dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder, as in Google's `bert_config.json`.

    Args:
        vocab_size: rows of the word embedding table.
        hidden_size: width H of every layer.
        num_hidden_layers: number of transformer blocks L.
        num_attention_heads: heads A; H must be divisible by A.
        intermediate_size: width of the feed-forward inner layer.
        hidden_act: "gelu" (Google's meaning: the tanh approximation), "gelu_exact" (erf form,
            what HF configs call "gelu"), "relu", "tanh", "linear" or "swish".
        hidden_dropout_prob: dropout on embeddings and every residual branch.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: longest sequence the position table covers.
        type_vocab_size: number of segment ids.
        initializer_range: stddev of the truncated-normal initializer.
        layer_norm_eps: LayerNorm epsilon (1e-12 in every released BERT; not a Google key).
        extra: unknown keys of the source file (e.g. `pooler_*`, `directionality`), kept and
            written back but ignored by the model.

    Example:
    >>> config = BertConfig.from_json_file("uncased_L-12_H-768_A-12/bert_config.json")
    >>> config.hidden_size
    768
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: Dict[str, Any], source: str = "bert_config") -> "BertConfig":
        """Builds and validates a config; `source` names the file in error messages."""
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        for name in _REQUIRED:
            if name not in values:
                raise ConfigError(f"{source}: missing field '{name}'")
        kwargs = {k: v for k, v in values.items() if k in known}
        extra = dict(values.get("extra", {}))
        extra.update({k: v for k, v in values.items() if k not in known and k != "extra"})
        config = cls(**kwargs, extra=extra)
        config.validate(source)
        return config

    @classmethod
    def from_json_file(cls, path: str) -> "BertConfig":
        """Reads a local file, or through `tf.io.gfile` a URL such as `gs://...` (TensorFlow is
        imported only for those)."""
        path = os.fspath(path)
        if "://" in path:
            import tensorflow as tf

            gfile = tf.io.gfile
            if not gfile.exists(path) or gfile.isdir(path):
                raise ConfigError(f"{path}: no such config file")
            opener = lambda: gfile.GFile(path, "rb")  # noqa: E731
        else:
            if not os.path.isfile(path):
                raise ConfigError(f"{path}: no such config file")
            opener = lambda: open(path, "rb")  # noqa: E731
        try:
            with opener() as f:
                values = json.loads(f.read().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(values, source=path)

    def validate(self, source: str = "bert_config") -> None:
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{source}: field '{name}' must be a positive integer, got {value!r}")
        for name in _FLOAT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{source}: field '{name}' must be a non-negative number, got {value!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if getattr(self, name) >= 1:
                raise ConfigError(f"{source}: field '{name}' must be below 1, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"{source}: field 'hidden_size' ({self.hidden_size}) is not divisible by "
                f"'num_attention_heads' ({self.num_attention_heads})")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(
                f"{source}: field 'hidden_act' is {self.hidden_act!r}; expected one of {sorted(ACTIVATIONS)}")

    def to_dict(self) -> Dict[str, Any]:
        """The Google key layout (extra keys flattened back in), ready for json.dump."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if values["layer_norm_eps"] == 1e-12:
            del values["layer_norm_eps"]  # Keep released files' exact key set.
        values.update(self.extra)
        return values

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str) -> None:
        """Writes atomically: a crash never leaves a truncated config behind."""
        write_text_atomic(path, self.to_json_string())
