"""Hugging Face BERT folders: `config.json` + `model.safetensors` (+ `vocab.txt`).

Weights are renamed to Google's TF1 names (and Linear weights transposed from PyTorch's
`[out, in]`), so the same assigner loads both formats. HF's `hidden_act: "gelu"` is the exact
erf GELU; it becomes bert_tf's "gelu_exact" (Google's "gelu" is the tanh form).
"""

import json
import os
import re
from typing import Dict

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.modeling import BertConfig

HF_CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
PICKLE_NAMES = ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index")

# HF activation names -> bert_tf (Google-meaning) names.
HF_ACTIVATIONS = {
    "gelu": "gelu_exact",
    "gelu_python": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "silu": "swish",
    "swish": "swish",
    "linear": "linear",
}

_CONFIG_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "hidden_dropout_prob", "attention_probs_dropout_prob",
                "max_position_embeddings", "type_vocab_size", "initializer_range", "layer_norm_eps")


def read_hf_config(folder: str) -> BertConfig:
    """`config.json` of a BERT model -> BertConfig with the activation mapped explicitly."""
    path = os.path.join(folder, HF_CONFIG_NAME)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            values = json.loads(f.read().decode("utf-8"))
    except tf.errors.OpError as e:
        raise CheckpointError(f"{path}: cannot read HF config ({e.message})") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read HF config ({e})") from None
    model_type = values.get("model_type", "bert")
    if model_type != "bert":
        raise CheckpointError(f"{path}: model_type is {model_type!r}; bert_tf reads BERT models only")
    if values.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(f"{path}: position_embedding_type "
                              f"{values['position_embedding_type']!r} is not supported (absolute only)")
    act = values.get("hidden_act", "gelu")
    if act not in HF_ACTIVATIONS:
        raise CheckpointError(f"{path}: field 'hidden_act' {act!r} has no bert_tf equivalent")
    kwargs = {k: values[k] for k in _CONFIG_KEYS if k in values}
    kwargs["hidden_act"] = HF_ACTIVATIONS[act]
    return BertConfig.from_dict(kwargs, source=path)


_LAYER_RE = re.compile(r"^encoder\.layer\.(\d+)\.(.*)$")
_TOP_LEVEL = {  # HF name stem -> Google name stem for [out, in] heads (no transpose).
    "cls.seq_relationship": "cls/seq_relationship/output_",
    "classifier": "output_",
    "qa_outputs": "cls/squad/output_",
}


def hf_name_to_google(name: str):
    """HF parameter name -> (Google name, transpose) or None for names with no Google home."""
    if name.startswith("bert."):
        name = name[len("bert."):]
    for stem, google in _TOP_LEVEL.items():
        if name.startswith(stem + "."):
            suffix = name[len(stem) + 1:]
            return (google + ("weights" if suffix == "weight" else "bias"), False)
    if name in ("cls.predictions.bias",):
        return ("cls/predictions/output_bias", False)
    if name.startswith("cls.predictions.decoder.") or name.endswith("position_ids"):
        return None  # Tied to the word embeddings / a constant buffer.
    parts = name.split(".")
    leaf = parts[-1]
    body = parts[:-1]
    match = _LAYER_RE.match(".".join(body) + "." + leaf)
    if match:
        body = ["encoder", f"layer_{match.group(1)}"] + match.group(2).split(".")[:-1]
    if not body:
        return None
    if body[-1] == "LayerNorm":
        leaf = {"weight": "gamma", "bias": "beta"}.get(leaf, leaf)
        return ("/".join((["bert"] if body[0] != "cls" else []) + body + [leaf]), False)
    if body[0] == "embeddings" and leaf == "weight":
        return ("bert/" + "/".join(body), False)
    transpose = leaf == "weight"
    leaf = "kernel" if leaf == "weight" else leaf
    return ("/".join((["bert"] if body[0] != "cls" else []) + body + [leaf]), transpose)


def read_hf_weights(folder: str) -> Dict[str, np.ndarray]:
    """`model.safetensors` -> {Google name: float32 array in Google's layout}."""
    path = os.path.join(folder, SAFETENSORS_NAME)
    if not tf.io.gfile.exists(path):
        for pickle_name in PICKLE_NAMES[:1]:
            if tf.io.gfile.exists(os.path.join(folder, pickle_name)):
                raise_pickle_refusal(os.path.join(folder, pickle_name))
        raise CheckpointError(f"{folder}: no {SAFETENSORS_NAME} in this HF folder")
    from safetensors.numpy import load, load_file
    try:
        if "://" in path:  # safetensors reads local files only
            with tf.io.gfile.GFile(path, "rb") as f:
                state = load(f.read())
        else:
            state = load_file(path)
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"{path}: cannot read safetensors ({e})") from None
    tensors = {}
    for name, value in state.items():
        target = hf_name_to_google(name)
        if target is None:
            continue
        google_name, transpose = target
        value = np.asarray(value, dtype=np.float32)
        tensors[google_name] = np.ascontiguousarray(value.T) if transpose else value
    return tensors


def raise_pickle_refusal(path: str):
    raise CheckpointError(
        f"{path}: pickled PyTorch weights are refused (loading a pickle can run arbitrary code); "
        f"convert it to model.safetensors first, e.g. with transformers: "
        f"`AutoModel.from_pretrained(dir).save_pretrained(out, safe_serialization=True)`")


class DictReader:
    """Adapts {Google name: array} to the reader interface of `assign_weights`."""

    def __init__(self, tensors: Dict[str, np.ndarray], source: str, format: str):
        self._tensors = tensors
        self.source = source
        self.format = format

    def names(self):
        return self._tensors.keys()

    def shape(self, name):
        return tuple(self._tensors[name].shape)

    def get(self, name):
        return self._tensors[name]
