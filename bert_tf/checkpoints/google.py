"""Google's original checkpoint format: a folder with `bert_config.json`, `vocab.txt` and
`bert_model.ckpt.{index,data-*}` holding TF1 variable names (see REFERENCE.md section 1)."""

import glob
import os
import shutil
import tempfile
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
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, CKPT_NAME + ".index")):
            return os.path.join(path, CKPT_NAME)
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        indexes = sorted(glob.glob(os.path.join(path, "*.index")))
        if len(indexes) == 1:
            return indexes[0][: -len(".index")]
        raise CheckpointError(f"{path}: no TF checkpoint (*.index) in this folder")
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if ".data-" in os.path.basename(path):
        path = path[: path.rindex(".data-")]
    if not os.path.exists(path + ".index"):
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
            default); other missing variables (heads) stay freshly initialised and are reported.
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
    needed = [n for n in report.missing if n.startswith(tuple(required_prefixes))]
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


def save_google_folder(folder: str, tensors: Mapping[str, np.ndarray], config: BertConfig,
                       vocab_file: Optional[str] = None,
                       extra_files: Optional[Mapping[str, str]] = None) -> str:
    """Writes a Google model folder atomically; returns the checkpoint prefix.

    Everything is written into a temp folder beside `folder` and moved in file by file with
    the `.index` last, so a crash never leaves a checkpoint that looks whole but is not.
    `extra_files` ({file name: text}) are staged and moved in with the rest.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    staging = tempfile.mkdtemp(dir=folder, prefix=".staging-")
    try:
        write_google_tensors(os.path.join(staging, CKPT_NAME), tensors)
        config.to_json_file(os.path.join(staging, CONFIG_NAME))
        if vocab_file:
            shutil.copyfile(vocab_file, os.path.join(staging, VOCAB_NAME))
        for name, text in (extra_files or {}).items():
            with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
                f.write(text)
        final_index = os.path.join(folder, CKPT_NAME + ".index")
        if os.path.exists(final_index):
            os.remove(final_index)  # The old checkpoint stops looking whole before data changes.
        names = sorted(os.listdir(staging), key=lambda n: n.endswith(".index"))
        for name in names:
            os.replace(os.path.join(staging, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
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
