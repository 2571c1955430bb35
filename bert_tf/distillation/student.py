"""The student of a distillation run: which model it is, where its weights start, and which
teacher layer each of its layers learns from.

Three kinds of student:
  * `--student_layers=K`: the teacher cut to K of its L layers: the same embeddings, pooler and
    output layer, and the kept layers' weights. `--student_layer_map` names the kept layers
    (0-based); the default spaces them evenly from the bottom layer to the top one,
    `round(j * (L - 1) / (K - 1))`: 0,3,5 for 6 -> 3, 0,5 for 6 -> 2, and DistilBERT's
    0,2,4,7,9,11 for 12 -> 6. The top layer is kept because the output layer was trained on it.
  * `--student_config` (a bert_config.json): a fresh model of that shape;
  * `--student_init` (any model `--init_checkpoint` takes, e.g. a small pretrained BERT): its
    weights, and its config unless `--student_config` gives one.

With intermediate losses, student layer j learns the output of the teacher layer that ends
the span it stands for: for a cut student, the layer below the next kept one (the top layer
for the last); otherwise layer `(j + 1) * L / K - 1` (1,3,5 for 6 -> 3).
"""

import dataclasses
import os
import re
from typing import List, Optional

import tensorflow as tf

from bert_tf.checkpoints import CheckpointError, load_weights_into, read_pretrained_config
from bert_tf.checkpoints.google import assign_weights
from bert_tf.checkpoints.pretrained import check_vocab_size, detect_format, vocab_file_of
from bert_tf.modeling import BertConfig, ConfigError
from bert_tf.training.model_files import UsageError

_LAYER = re.compile(r"^bert/encoder/layer_(\d+)/(.+)$")


def default_kept_layers(teacher_layers: int, k: int) -> List[int]:
    """K of L layers, evenly spaced from the bottom one to the top one."""
    if k == 1:
        return [teacher_layers - 1]
    return [int(j * (teacher_layers - 1) / (k - 1) + 0.5) for j in range(k)]


def span_targets(kept: List[int], teacher_layers: int) -> List[int]:
    """For a cut student: the teacher layer that ends the span each kept layer stands for."""
    return [nxt - 1 for nxt in kept[1:]] + [teacher_layers - 1]


def uniform_targets(student_layers: int, teacher_layers: int) -> List[int]:
    """For another student: teacher layer (j + 1) * L / K - 1 for student layer j."""
    return [max(0, (j + 1) * teacher_layers // student_layers - 1) for j in range(student_layers)]


def parse_layer_map(text: str, teacher_layers: int, k: Optional[int]) -> List[int]:
    """`--student_layer_map=0,3,5` -> [0, 3, 5], checked against the teacher's depth."""
    flag = f"--student_layer_map={text}"
    try:
        layers = [int(x) for x in str(text).split(",")]
    except ValueError:
        raise UsageError(f"{flag}: expected comma-separated layer numbers (0-based)") from None
    if any(i < 0 or i >= teacher_layers for i in layers):
        raise UsageError(f"{flag}: the teacher's layers are 0..{teacher_layers - 1}")
    if any(b <= a for a, b in zip(layers, layers[1:])):
        raise UsageError(f"{flag}: layers must be listed once each, from the bottom up")
    if k is not None and len(layers) != k:
        raise UsageError(f"{flag}: names {len(layers)} layers, --student_layers={k}")
    return layers


class CutReader:
    """A teacher's weights by the cut student's names: student layer j reads teacher layer
    kept[j]; the other layers are left out, everything else is the teacher's.

    Args:
        reader: the teacher's weights (`names()`, `shape(name)`, `get(name)`, `source`).
        kept: the teacher layers kept, bottom up.
    """

    def __init__(self, reader, kept: List[int]):
        self._reader = reader
        self.source = f"{reader.source} (layers {','.join(map(str, kept))})"
        self.format = getattr(reader, "format", "google")
        self._names = {}
        position = {layer: j for j, layer in enumerate(kept)}
        for name in reader.names():
            match = _LAYER.match(name)
            if not match:
                self._names[name] = name
            elif int(match.group(1)) in position:
                self._names[f"bert/encoder/layer_{position[int(match.group(1))]}/"
                            f"{match.group(2)}"] = name

    def names(self):
        return self._names.keys()

    def shape(self, name):
        return self._reader.shape(self._names[name])

    def get(self, name):
        return self._reader.get(self._names[name])


@dataclasses.dataclass
class StudentPlan:
    """What the student is and where its weights come from.

    Attributes:
        config: the student's BertConfig.
        vocab_file: the student's vocab.txt.
        kept_layers: for a cut student, the teacher layers it keeps (else None).
        init: --student_init (else None).
        targets: the teacher layer each student layer learns from (intermediate losses).
    """

    config: BertConfig
    vocab_file: str
    kept_layers: Optional[List[int]]
    init: Optional[str]
    targets: List[int]

    def describe(self) -> str:
        c = self.config
        layers = c.num_hidden_layers
        shape = (f"{layers} layer{'s' if layers != 1 else ''}, hidden {c.hidden_size}, "
                 f"{c.num_attention_heads} heads")
        if self.kept_layers is not None:
            return f"the teacher cut to {shape} (teacher layers {_join(self.kept_layers)})"
        return f"{shape}, " + (f"from {self.init}" if self.init else "random initialisation")


def _join(layers):
    return ",".join(str(i) for i in layers)


def plan_student(p, teacher) -> StudentPlan:
    """The student the flags describe, checked against the teacher (no files written)."""
    k = getattr(p, "student_layers", None)
    layer_map = getattr(p, "student_layer_map", None)
    config_file = getattr(p, "student_config", None)
    init = getattr(p, "student_init", None)
    if (k is not None or layer_map) and (config_file or init):
        raise UsageError("--student_layers / --student_layer_map cut the teacher; they do not go "
                         "with --student_config or --student_init")
    depth = teacher.num_layers
    if k is not None or layer_map:
        if k is not None and k > depth:
            raise UsageError(f"--student_layers={k}: the teacher has only {depth} layers")
        kept = parse_layer_map(layer_map, depth, k) if layer_map else \
            default_kept_layers(depth, k)
        config = BertConfig.from_dict(dict(teacher.config.to_dict(),
                                           num_hidden_layers=len(kept)))
        return StudentPlan(config, teacher.vocab_file, kept, None, span_targets(kept, depth))
    if not (config_file or init):
        raise UsageError("no student: give --student_layers=K (the teacher cut to K layers), "
                         "or --student_config and/or --student_init")
    if init:
        try:
            detect_format(init)
        except CheckpointError as e:
            raise UsageError(f"--student_init: {e}") from None
    try:
        if config_file:
            if not tf.io.gfile.exists(config_file):
                raise UsageError(f"--student_config: {config_file} does not exist")
            config = BertConfig.from_json_file(config_file)
        else:
            config = read_pretrained_config(init)
    except (ConfigError, CheckpointError) as e:
        raise UsageError(f"--student_config: {e}" if config_file else f"--student_init: {e}") \
            from None
    vocab = (vocab_file_of(init) if init else None) or teacher.vocab_file
    try:
        check_vocab_size(vocab, config)
    except CheckpointError as e:
        flag = "--student_config" if config_file else "--student_init"
        raise UsageError(f"{flag}: {e}") from None
    return StudentPlan(config, vocab, None, init,
                       uniform_targets(config.num_hidden_layers, depth))


def check_intermediate(plan: StudentPlan, teacher, weight: float, same_tokens: bool,
                       max_seq_length: int):
    """Hidden-state and attention transfer need a student no wider than the teacher that reads
    the teacher's tokens."""
    if not weight:
        return
    flag = f"--intermediate_loss_weight={weight}"
    s, t = plan.config, teacher.config
    if s.hidden_size > t.hidden_size:
        raise UsageError(f"{flag}: the student (hidden_size {s.hidden_size}) is wider than the "
                         f"teacher ({t.hidden_size}); hidden states transfer to a student as "
                         "wide as the teacher or narrower (set it to 0)")
    if not same_tokens:
        raise UsageError(f"{flag}: the student's vocab or casing is not the teacher's, so their "
                         "layers see different tokens (set it to 0)")
    if max_seq_length > t.max_position_embeddings:
        raise UsageError(f"{flag}: --max_seq_length={max_seq_length} is longer than the "
                         f"teacher's max_position_embeddings={t.max_position_embeddings}")


def initialise_student(model, plan: StudentPlan, teacher):
    """Loads the student's starting weights into `model`; returns the LoadReport (None for a
    fresh student)."""
    if plan.kept_layers is not None:
        return assign_weights(model, CutReader(teacher.reader(), plan.kept_layers),
                              required_prefixes=("bert/", "output_"))
    if plan.init:
        return load_weights_into(model, os.fspath(plan.init))
    return None
