"""Google's original checkpoint format: a folder with `bert_config.json`, `vocab.txt` and
`bert_model.ckpt.{index,data-*}` holding TF1 variable names (see REFERENCE.md section 1).

Every path goes through `tf.io.gfile`, so a folder may be local or on `gs://`.
"""

import os
import uuid
from typing import Dict, Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.errors import CheckpointError, LoadReport
from bert_tf.checkpoints.mapping import google_weight_map, is_bookkeeping
from bert_tf.modeling import BertConfig

CKPT_NAME = "bert_model.ckpt"
CONFIG_NAME = "bert_config.json"
VOCAB_NAME = "vocab.txt"


def resolve_checkpoint_prefix(path: str) -> str:
    """A folder, a `bert_model.ckpt` prefix or one of its files -> the checkpoint prefix."""
    path = os.fspath(path)
    gfile = tf.io.gfile
    if gfile.isdir(path):
        if gfile.exists(os.path.join(path, CKPT_NAME + ".index")):
            return os.path.join(path, CKPT_NAME)
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        indexes = sorted(gfile.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")]
        raise CheckpointError(f"{path}: no TF checkpoint (*.index) in this folder")
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if ".data-" in os.path.basename(path):
        path = path[: path.rindex(".data-")]
    if not gfile.exists(path + ".index"):
        raise CheckpointError(f"{path}: not a TF checkpoint ({path}.index does not exist)")
    return path


class GoogleCheckpointReader:
    """Name -> array access to a TF checkpoint, as the weight assigner expects."""

    format = "google"

    def __init__(self, path: str):
        self.prefix = resolve_checkpoint_prefix(path)
        try:
            self._reader = tf.train.load_checkpoint(self.prefix)
        except (tf.errors.OpError, ValueError) as e:
            raise CheckpointError(f"{self.prefix}: cannot read checkpoint ({e.__class__.__name__})") from None
        self._shapes = self._reader.get_variable_to_shape_map()

    @property
    def source(self) -> str:
        return self.prefix

    def names(self) -> Iterable[str]:
        return self._shapes.keys()

    def shape(self, name: str):
        return tuple(self._shapes[name])

    def get(self, name: str) -> np.ndarray:
        return self._reader.get_tensor(name)


def assign_weights(model, reader, required_prefixes=("bert/",)) -> LoadReport:
    """Copies every mapped variable that `reader` holds into `model`.

    Args:
        model: a bert_tf model (built on demand).
        reader: an object with `names()`, `shape(name)`, `get(name)`, `source`, `format`.
        required_prefixes: Google-name prefixes that must all be present (the encoder by
            default), except variables the model's outputs do not use (the mapping marks
            them optional: the pooler of a question answerer); other missing variables
            (heads) stay freshly initialised and are reported.
    """
    table = google_weight_map(model)
    available = set(reader.names())
    report = LoadReport(source=reader.source, format=reader.format)
    for name, mapped in table.items():
        if name not in available:
            report.missing.append(name)
            continue
        want = tuple(mapped.variable.shape)
        have = reader.shape(name)
        stored_as = tuple(reversed(want)) if mapped.transpose else want
        if have != stored_as:
            raise CheckpointError(
                f"{reader.source}: variable '{name}' has shape {list(have)} in the checkpoint but "
                f"the model expects {list(stored_as)}")
        value = reader.get(name)
        if mapped.transpose:
            value = np.transpose(value)
        mapped.variable.assign(value.astype(mapped.variable.dtype))
        report.loaded.append(name)
    report.unused = sorted(n for n in available - set(table) if not is_bookkeeping(n))
    needed = [n for n in report.missing
              if n.startswith(tuple(required_prefixes)) and not table[n].optional]
    if needed:
        more = f" (and {len(needed) - 3} more)" if len(needed) > 3 else ""
        raise CheckpointError(
            f"{reader.source}: checkpoint lacks variables the model needs: "
            f"{', '.join(needed[:3])}{more}")
    return report


def load_google_checkpoint(model, path: str, required_prefixes=("bert/",)) -> LoadReport:
    """Loads a Google checkpoint (folder or `bert_model.ckpt` prefix) into a bert_tf model.

    Returns a `LoadReport`; raises `CheckpointError` on a shape mismatch or when a variable
    under `required_prefixes` is absent.

    Example:
    >>> encoder = BertEncoder(BertConfig.from_json_file("uncased_L-2_H-128_A-2/bert_config.json"))
    >>> load_google_checkpoint(encoder, "uncased_L-2_H-128_A-2").missing
    []
    """
    return assign_weights(model, GoogleCheckpointReader(path), required_prefixes)


def write_google_tensors(prefix: str, tensors: Mapping[str, np.ndarray]) -> None:
    """Writes name -> array as a TF checkpoint with exactly those keys (no object graph)."""
    names = sorted(tensors)
    with tf.device("/cpu:0"):
        tf.raw_ops.SaveV2(
            prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
            tensors=[tf.convert_to_tensor(tensors[n]) for n in names])


def model_tensors(model) -> Dict[str, np.ndarray]:
    """Google name -> numpy value (in Google's layout) for every variable of `model`."""
    out = {}
    for name, mapped in google_weight_map(model).items():
        value = np.asarray(mapped.variable.numpy())
        out[name] = np.ascontiguousarray(value.T) if mapped.transpose else value
    return out


# Files a save may have written beside the checkpoint (extra_files of run_classifier and
# run_squad); removed by a later save into the same folder that does not write them.
_EARLIER_SAVE_FILES = ("classifier_info.json", "squad_info.json", "ner_info.json")


def save_google_folder(folder: str, tensors: Mapping[str, np.ndarray], config: BertConfig,
                       vocab_file: Optional[str] = None,
                       extra_files: Optional[Mapping[str, str]] = None) -> str:
    """Writes a Google model folder that is complete or absent; returns the checkpoint prefix.

    Everything is written into a staging folder inside `folder`, then moved in file by file
    with `bert_model.ckpt.index` last; an older `.index` is removed first. The checkpoint is
    read through its `.index`, so a reader finds either no checkpoint or a whole one:
    - local disk: each move is an `os.rename`, atomic on POSIX;
    - `gs://`: each move is a copy then a delete of one object, and an object appears only
      once fully written. There is no atomic folder rename on object stores, which is why
      the files move one by one with the `.index` last rather than as one folder.
    A crash can leave the data files and `bert_config.json` of a new save without its
    `.index`; loading then fails with "not a TF checkpoint", never with mixed weights.
    `extra_files` ({file name: text}) are staged and moved in with the rest. Files of an
    earlier save that this one does not write (other checkpoint shards, an extra file such as
    `classifier_info.json`) are removed, so the folder never mixes two saves.
    """
    folder = os.fspath(folder)
    gfile = tf.io.gfile
    gfile.makedirs(folder)
    staging = os.path.join(folder, f".staging-{uuid.uuid4().hex[:12]}")
    gfile.makedirs(staging)
    try:
        write_google_tensors(os.path.join(staging, CKPT_NAME), tensors)
        config.to_json_file(os.path.join(staging, CONFIG_NAME))
        if vocab_file:
            gfile.copy(vocab_file, os.path.join(staging, VOCAB_NAME), overwrite=True)
        for name, text in (extra_files or {}).items():
            with gfile.GFile(os.path.join(staging, name), "w") as f:
                f.write(text)
        final_index = os.path.join(folder, CKPT_NAME + ".index")
        if gfile.exists(final_index):
            gfile.remove(final_index)  # The old checkpoint stops looking whole before data changes.
        names = [n.rstrip("/") for n in gfile.listdir(staging)]
        for name in gfile.listdir(folder):
            name = name.rstrip("/")
            earlier = name.startswith(CKPT_NAME + ".") or name in _EARLIER_SAVE_FILES
            if earlier and name not in names:
                gfile.remove(os.path.join(folder, name))
        for name in sorted(names, key=lambda n: n.endswith(".index")):
            gfile.rename(os.path.join(staging, name), os.path.join(folder, name), overwrite=True)
    finally:
        try:
            if gfile.exists(staging):
                gfile.rmtree(staging)
        except tf.errors.OpError:
            pass  # leftover staging never looks like a checkpoint; the save's own error matters
    return os.path.join(folder, CKPT_NAME)


def save_google_checkpoint(model, path: str, vocab_file: Optional[str] = None,
                           extra_files: Optional[Mapping[str, str]] = None) -> str:
    """Writes `model` as a Google folder: `bert_model.ckpt.*`, `bert_config.json`, `vocab.txt`.

    `path` is the folder (a path ending in `bert_model.ckpt` is taken as its prefix). The
    variables carry Google's TF1 names and shapes, so google-research/bert's code and
    `load_google_checkpoint` both read it. Returns the checkpoint prefix.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) if os.path.basename(path) == CKPT_NAME else path
    return save_google_folder(folder, model_tensors(model), model.config, vocab_file, extra_files)
