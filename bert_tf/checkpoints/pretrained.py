"""One front door for pretrained weights: recognise the format of a path and load it.

Paths may be local or any URL `tf.io.gfile` serves (`gs://...` on Cloud TPU).
"""

import os
from typing import Optional

import tensorflow as tf
from absl import logging

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.checkpoints.google import (CONFIG_NAME, VOCAB_NAME, GoogleCheckpointReader,
                                        assign_weights, resolve_checkpoint_prefix)
from bert_tf.checkpoints.hf import (HF_CONFIG_NAME, PICKLE_NAMES, SAFETENSORS_NAME, DictReader,
                                    raise_pickle_refusal, read_hf_config, read_hf_weights)
from bert_tf.checkpoints.tfhub import is_tfhub_folder, read_tfhub_encoder, tfhub_vocab_file
from bert_tf.modeling import BertConfig, BertEncoder

FORMATS = ("google", "hf_safetensors", "tfhub")


def detect_format(path: str) -> str:
    """Returns "google", "hf_safetensors" or "tfhub" for `path`, or raises a `CheckpointError`."""
    path = os.fspath(path)
    exists, isdir = tf.io.gfile.exists, tf.io.gfile.isdir
    if (os.path.basename(path) in PICKLE_NAMES[:1] and exists(path) and not isdir(path)):
        raise_pickle_refusal(path)
    if isdir(path):
        if exists(os.path.join(path, CONFIG_NAME)):
            return "google"
        if exists(os.path.join(path, HF_CONFIG_NAME)):
            if exists(os.path.join(path, SAFETENSORS_NAME)):
                return "hf_safetensors"
            if exists(os.path.join(path, PICKLE_NAMES[0])):
                raise_pickle_refusal(os.path.join(path, PICKLE_NAMES[0]))
        if is_tfhub_folder(path):
            return "tfhub"
    else:
        try:
            resolve_checkpoint_prefix(path)
            return "google"
        except CheckpointError:
            pass
    raise CheckpointError(
        f"{path}: not a recognised BERT model; expected a Google folder (bert_config.json + "
        f"bert_model.ckpt.*), a bert_model.ckpt prefix, an HF folder (config.json + "
        f"model.safetensors) or a TF Hub encoder SavedModel folder")


def count_vocab_lines(vocab_file: str) -> int:
    with tf.io.gfile.GFile(vocab_file, "rb") as f:
        data = f.read()
    # Counted as file iteration would: a last line without "\n" is a line too.
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def check_vocab_size(vocab_file: Optional[str], config: BertConfig) -> None:
    """A vocab.txt whose line count disagrees with vocab_size means the wrong files were paired."""
    if vocab_file and tf.io.gfile.exists(vocab_file):
        lines = count_vocab_lines(vocab_file)
        if lines != config.vocab_size:
            raise CheckpointError(
                f"{vocab_file}: has {lines} tokens but the config's vocab_size is {config.vocab_size}")


def model_folder(path: str) -> str:
    if tf.io.gfile.isdir(path):
        return path
    return os.path.dirname(path if "://" in path else os.path.abspath(path))


def vocab_file_of(path: str) -> Optional[str]:
    """The vocab.txt that belongs to the model at `path` (None when it has none)."""
    folder = model_folder(os.fspath(path))
    if is_tfhub_folder(folder):
        return tfhub_vocab_file(folder)
    candidate = os.path.join(folder, VOCAB_NAME)
    return candidate if tf.io.gfile.exists(candidate) else None


def read_pretrained_config(path: str) -> BertConfig:
    """The BertConfig stored beside the weights at `path` (Google or HF layout)."""
    fmt = detect_format(path)
    folder = model_folder(os.fspath(path))
    if fmt == "google":
        return BertConfig.from_json_file(os.path.join(folder, CONFIG_NAME))
    if fmt == "tfhub":
        return read_tfhub_encoder(folder)[0]
    return read_hf_config(folder)


def load_weights_into(model, path: str, required_prefixes=("bert/",)):
    """Copies the weights at `path` (format auto-detected) into an existing, built model.

    Returns the LoadReport. Used to initialise a model created under a distribution strategy.
    """
    path = os.fspath(path)
    fmt = detect_format(path)
    folder = model_folder(path)
    if fmt == "google":
        reader = GoogleCheckpointReader(path)
    elif fmt == "tfhub":
        reader = DictReader(read_tfhub_encoder(folder)[1], folder, fmt)
    else:
        reader = DictReader(read_hf_weights(folder), os.path.join(folder, SAFETENSORS_NAME), fmt)
    check_vocab_size(vocab_file_of(path), model.config)
    model.ensure_built()
    report = assign_weights(model, reader, required_prefixes)
    logging.debug("%s", report.summary())
    return report


def load_pretrained(path: str, model_class=BertEncoder, config: Optional[BertConfig] = None,
                    required_prefixes=("bert/",), **model_kwargs):
    """Builds `model_class` from the pretrained weights at `path` (format auto-detected).

    Args:
        path: a Google folder or `bert_model.ckpt` prefix, or an HF folder with safetensors.
        model_class: `BertEncoder`, `BertClassifier`, `BertTokenClassifier`,
            `BertQuestionAnswerer` or `BertPretrainer`.
        config: overrides the config found beside the weights.
        required_prefixes: variables that must be present (heads may be absent; they are
            then freshly initialised and listed in the report).
        **model_kwargs: passed to `model_class` (e.g. num_labels for a classifier).

    Returns:
        The model, with `model.load_report` (a LoadReport) and `model.vocab_file` (or None).
    """
    path = os.fspath(path)
    if config is None:
        config = read_pretrained_config(path)
    model = model_class(config, **model_kwargs)
    model.load_report = load_weights_into(model, path, required_prefixes)
    model.vocab_file = vocab_file_of(path)
    return model
