"""TF Hub BERT encoder SavedModels as a weight source.

Two layouts are read:
  * bert_tf's own export (`bert_tf.export`): the object carries `bert_tf_weights`, a list of
    variables whose Google names are in `assets/bert_tf_weights.json`, and the model's
    `assets/bert_config.json`;
  * the layout of TF Model Garden's `export_tfhub` (the tfhub.dev BERT encoders): variables named
    `word_embeddings/embeddings`, `transformer/layer_N/self_attention/query/kernel` [H, heads,
    head_size], ..., `pooler_transform/kernel`. Its config is inferred from the shapes, and the
    GELU form (tanh or erf) is decided by running the SavedModel on a probe batch and keeping
    the form whose outputs match ours.

Either way the result is {Google name: array}, which `assign_weights` copies into a model.
"""

import functools
import json
import os
import re
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.checkpoints.google import assign_weights
from bert_tf.checkpoints.hf import DictReader
from bert_tf.modeling import BertConfig, BertEncoder

SAVED_MODEL_NAME = "saved_model.pb"
WEIGHT_NAMES_ASSET = "bert_tf_weights.json"
CONFIG_ASSET = "bert_config.json"
VOCAB_ASSET = "vocab.txt"
# Outputs of the imported encoder must match the SavedModel's own to this (float32).
PROBE_TOLERANCE = 1e-4

# Model Garden name (after any scope prefix) -> Google name; {i} is the layer index.
_LAYER_NAMES = {
    "self_attention/query/kernel": "attention/self/query/kernel",
    "self_attention/query/bias": "attention/self/query/bias",
    "self_attention/key/kernel": "attention/self/key/kernel",
    "self_attention/key/bias": "attention/self/key/bias",
    "self_attention/value/kernel": "attention/self/value/kernel",
    "self_attention/value/bias": "attention/self/value/bias",
    "self_attention/attention_output/kernel": "attention/output/dense/kernel",
    "self_attention/attention_output/bias": "attention/output/dense/bias",
    "self_attention_layer_norm/gamma": "attention/output/LayerNorm/gamma",
    "self_attention_layer_norm/beta": "attention/output/LayerNorm/beta",
    "intermediate/kernel": "intermediate/dense/kernel",
    "intermediate/bias": "intermediate/dense/bias",
    "output/kernel": "output/dense/kernel",
    "output/bias": "output/dense/bias",
    "output_layer_norm/gamma": "output/LayerNorm/gamma",
    "output_layer_norm/beta": "output/LayerNorm/beta",
}
_TOP_NAMES = {
    "word_embeddings/embeddings": "bert/embeddings/word_embeddings",
    "type_embeddings/embeddings": "bert/embeddings/token_type_embeddings",
    "position_embedding/embeddings": "bert/embeddings/position_embeddings",
    "embeddings/layer_norm/gamma": "bert/embeddings/LayerNorm/gamma",
    "embeddings/layer_norm/beta": "bert/embeddings/LayerNorm/beta",
    "pooler_transform/kernel": "bert/pooler/dense/kernel",
    "pooler_transform/bias": "bert/pooler/dense/bias",
}
_LAYER_RE = re.compile(r"(?:^|/)transformer/layer_(\d+)/(.+)$")


def is_tfhub_folder(path: str) -> bool:
    return tf.io.gfile.isdir(path) and tf.io.gfile.exists(os.path.join(path, SAVED_MODEL_NAME))


def tfhub_vocab_file(folder: str):
    path = os.path.join(folder, "assets", VOCAB_ASSET)
    return path if tf.io.gfile.exists(path) else None


def _load(folder: str):
    try:
        return tf.saved_model.load(folder)
    except Exception as e:  # noqa: BLE001 - TF raises many types for a bad SavedModel
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{folder}: cannot load the SavedModel ({first})") from None


def _strip(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def _model_garden_name(name: str):
    """A SavedModel variable name -> its Google name (None when it is not an encoder weight)."""
    match = _LAYER_RE.search(name)
    if match:
        google = _LAYER_NAMES.get(match.group(2))
        return f"bert/encoder/layer_{match.group(1)}/{google}" if google else None
    for suffix, google in _TOP_NAMES.items():
        if name == suffix or name.endswith("/" + suffix):
            return google
    return None


def _to_google_layout(name: str, value: np.ndarray) -> np.ndarray:
    """Model Garden's per-head shapes -> Google's 2-D ones."""
    if re.search(r"attention/self/(query|key|value)/kernel$", name):
        return value.reshape(value.shape[0], -1)  # [H, heads, size] -> [H, heads * size]
    if re.search(r"attention/self/(query|key|value)/bias$", name):
        return value.reshape(-1)  # [heads, size] -> [heads * size]
    if name.endswith("attention/output/dense/kernel") and value.ndim == 3:
        return value.reshape(-1, value.shape[-1])  # [heads, size, H] -> [heads * size, H]
    return value


def _read_model_garden(obj, folder: str) -> Tuple[Dict[str, np.ndarray], int]:
    tensors, heads = {}, None
    for var in list(getattr(obj, "variables", None) or []):
        google = _model_garden_name(_strip(var.name))
        if google is None:
            continue
        if google in tensors:
            raise CheckpointError(f"{folder}: two variables map to {google} ({var.name})")
        value = var.numpy()
        if google.endswith("attention/self/query/kernel") and value.ndim == 3:
            heads = value.shape[1]
        tensors[google] = _to_google_layout(google, value)
    if "bert/embeddings/word_embeddings" not in tensors or heads is None:
        raise CheckpointError(
            f"{folder}: a SavedModel, but not a BERT encoder in the TF Hub layout (no "
            f"word_embeddings/embeddings or transformer/layer_0/self_attention/query/kernel)")
    return tensors, heads


def _infer_config(tensors: Dict[str, np.ndarray], heads: int, hidden_act: str) -> BertConfig:
    layers = 1 + max(int(re.search(r"layer_(\d+)/", n).group(1))
                     for n in tensors if n.startswith("bert/encoder/layer_"))
    vocab, hidden = tensors["bert/embeddings/word_embeddings"].shape
    return BertConfig(
        vocab_size=int(vocab), hidden_size=int(hidden), num_hidden_layers=layers,
        num_attention_heads=int(heads),
        intermediate_size=int(tensors["bert/encoder/layer_0/intermediate/dense/kernel"].shape[1]),
        hidden_act=hidden_act,
        max_position_embeddings=int(tensors["bert/embeddings/position_embeddings"].shape[0]),
        type_vocab_size=int(tensors["bert/embeddings/token_type_embeddings"].shape[0]))


def _probe_inputs(config: BertConfig):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, config.vocab_size, size=(2, 16)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 10:] = 0
    types = np.zeros_like(ids)
    types[:, 8:] = 1 if config.type_vocab_size > 1 else 0
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def _saved_model_outputs(obj, inputs):
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    try:
        out = obj(tensors, training=False)
    except (TypeError, ValueError):
        out = obj(tensors)
    return np.asarray(out["sequence_output"])


def _choose_activation(obj, tensors, heads, folder) -> BertConfig:
    """The config whose encoder reproduces the SavedModel on a probe batch (tanh or erf GELU)."""
    best = None
    for act in ("gelu", "gelu_exact"):
        config = _infer_config(tensors, heads, act)
        inputs = _probe_inputs(config)
        want = _saved_model_outputs(obj, inputs)
        encoder = BertEncoder(config).ensure_built()
        assign_weights(encoder, DictReader(tensors, folder, "tfhub"))
        got = np.asarray(encoder(inputs)["sequence_output"])
        diff = float(np.max(np.abs(got - want)))
        if best is None or diff < best[0]:
            best = (diff, config)
    if best[0] > PROBE_TOLERANCE:
        raise CheckpointError(
            f"{folder}: imported weights do not reproduce the SavedModel's outputs (max diff "
            f"{best[0]:.2e} with either GELU form): not a standard BERT encoder")
    return best[1]


def read_tfhub_encoder(folder: str) -> Tuple[BertConfig, Dict[str, np.ndarray]]:
    """(config, {Google name: array}) of the encoder SavedModel in `folder`."""
    folder = os.fspath(folder)
    saved_model = os.path.join(folder, SAVED_MODEL_NAME)
    if "://" in folder:
        stamp = tf.io.gfile.stat(saved_model).mtime_nsec
    else:  # os keeps sub-second times; TF's local stat rounds to whole seconds
        folder = os.path.abspath(folder)
        stamp = os.path.getmtime(os.path.join(folder, SAVED_MODEL_NAME))
    return _read_cached(folder, stamp)


@functools.lru_cache(maxsize=1)  # config and weights are read from one load of the folder
def _read_cached(folder: str, stamp: float):
    del stamp  # part of the cache key only
    obj = _load(folder)
    names_file = os.path.join(folder, "assets", WEIGHT_NAMES_ASSET)
    if hasattr(obj, "bert_tf_weights") and tf.io.gfile.exists(names_file):
        with tf.io.gfile.GFile(names_file) as f:
            entries = json.load(f)  # [[Google name, stored transposed?], ...]
        weights = list(obj.bert_tf_weights)
        if len(entries) != len(weights):
            raise CheckpointError(f"{names_file}: {len(entries)} names for {len(weights)} weights")
        config = BertConfig.from_json_file(os.path.join(folder, "assets", CONFIG_ASSET))
        # Google stores the top-level head kernels [out, in]; the variables hold Keras' [in, out].
        return config, {name: (w.numpy().T if transpose else w.numpy())
                        for (name, transpose), w in zip(entries, weights)}
    tensors, heads = _read_model_garden(obj, folder)
    return _choose_activation(obj, tensors, heads, folder), tensors
