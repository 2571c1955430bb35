"""The teacher of a distillation run: a fine-tuned classifier, found and checked before any
work starts, and its logits on the training examples.

`--teacher_model` takes what run_classifier and export write:
  * a Google folder with `classifier_info.json`: run_classifier's `final_model/` or `best/`,
    or the run's `--output_dir` (its `final_model/` is used);
  * a `python -m bert_tf.export` folder (`classifier/` and `encoder/` SavedModels), or its
    `classifier/` folder: the encoder's weights come from `encoder/`, the output layer's from
    `classifier/`, the labels and casing from `classifier/assets/classifier_info.json`.
"""

import dataclasses
import hashlib
import os
import time
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints import CONFIG_NAME, VOCAB_NAME, CheckpointError, GoogleCheckpointReader
from bert_tf.checkpoints.classifier_info import (CLASSIFIER_INFO_NAME, ClassifierInfo,
                                                 read_classifier_info)
from bert_tf.checkpoints.google import assign_weights
from bert_tf.checkpoints.hf import DictReader
from bert_tf.checkpoints.tfhub import read_tfhub_encoder
from bert_tf.modeling import BertClassifier, BertConfig
from bert_tf.modeling.portable import portable_ops
from bert_tf.training.model_files import UsageError

FLAG = "--teacher_model"
# run_classifier writes the model here inside its --output_dir.
RUN_SUBFOLDERS = ("final_model",)
# The output layer's variables inside the classifier SavedModel (Keras paths).
HEAD_KERNEL, HEAD_BIAS = "classifier_head/logits/kernel", "classifier_head/logits/bias"


@dataclasses.dataclass
class Teacher:
    """A fine-tuned classifier to learn from.

    Attributes:
        path: the folder read (a run's output_dir resolved to its final_model/).
        kind: "google" (a Google folder) or "export" (an export's SavedModels).
        info: its classifier_info.json.
        config: its encoder's BertConfig.
        vocab_file: its vocab.txt.
    """

    path: str
    kind: str
    info: ClassifierInfo
    config: BertConfig
    vocab_file: str
    _tensors: Optional[Dict[str, np.ndarray]] = None

    @property
    def num_layers(self) -> int:
        return self.config.num_hidden_layers

    def reader(self):
        """The weights by Google name (`bert/...`, `output_weights`, `output_bias`)."""
        if self.kind == "google":
            return GoogleCheckpointReader(self.path)
        if self._tensors is None:
            self._tensors = _export_tensors(self.path)
        return DictReader(self._tensors, self.path, "export")

    def build(self) -> BertClassifier:
        """The teacher as a `BertClassifier` with its weights (in the current strategy scope)."""
        model = BertClassifier(self.config, num_labels=self.info.num_labels,
                               pooling=self.info.pooling).ensure_built()
        assign_weights(model, self.reader(), required_prefixes=("bert/", "output_"))
        model.trainable = False
        return model

    def digest(self) -> str:
        """SHA-256 over the teacher's files: the key of its cached logits."""
        digest = hashlib.sha256()
        for path in sorted(_files_under(self.path)):
            digest.update(os.path.relpath(path, self.path).encode())
            with tf.io.gfile.GFile(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()


def _files_under(root):
    return [os.path.join(folder, name) for folder, _, names in tf.io.gfile.walk(root)
            for name in names]


def _is_export(folder):
    return tf.io.gfile.exists(os.path.join(folder, "classifier", "saved_model.pb"))


def load_teacher(path: str) -> Teacher:
    """Finds and checks the teacher at `path`; one UsageError line names what is wrong."""
    if not path:
        raise UsageError(f"{FLAG} is required: run_classifier's final_model/ (or its "
                         "--output_dir), or an export of it")
    path = os.fspath(path).rstrip("/") or "/"
    gfile = tf.io.gfile
    if not gfile.isdir(path):
        raise UsageError(f"{FLAG}={path}: no such folder")
    if not gfile.exists(os.path.join(path, CONFIG_NAME)):
        for name in RUN_SUBFOLDERS:
            if gfile.isdir(os.path.join(path, name)):
                path = os.path.join(path, name)
    if os.path.basename(path) == "classifier" and _is_export(os.path.dirname(path)):
        path = os.path.dirname(path)
    try:
        if _is_export(path):
            return _export_teacher(path)
        info = read_classifier_info(path)
    except CheckpointError as e:
        raise UsageError(f"{FLAG}: {e}") from None
    if info is None:
        raise UsageError(
            f"{FLAG}={path}: not a fine-tuned classifier (no {CLASSIFIER_INFO_NAME}); expected "
            "run_classifier's final_model/ (or the run's output folder), or an export of one")
    vocab = os.path.join(path, VOCAB_NAME)
    if not gfile.exists(vocab):
        raise UsageError(f"{FLAG}={path}: has no {VOCAB_NAME}")
    try:
        GoogleCheckpointReader(path)
        config = BertConfig.from_json_file(os.path.join(path, CONFIG_NAME))
    except (CheckpointError, ValueError) as e:
        raise UsageError(f"{FLAG}: {e}") from None
    return Teacher(path, "google", info, config, vocab)


def _export_teacher(folder: str) -> Teacher:
    assets = os.path.join(folder, "classifier", "assets")
    info = read_classifier_info(assets)
    if info is None:
        raise UsageError(f"{FLAG}={folder}: classifier/ has no assets/{CLASSIFIER_INFO_NAME}")
    encoder = os.path.join(folder, "encoder")
    if not tf.io.gfile.exists(os.path.join(encoder, "saved_model.pb")):
        raise UsageError(f"{FLAG}={folder}: an export without encoder/; the teacher's weights "
                         "are read from it")
    config, _ = read_tfhub_encoder(encoder)
    return Teacher(folder, "export", info, config, os.path.join(assets, VOCAB_NAME))


def _export_tensors(folder: str) -> Dict[str, np.ndarray]:
    """{Google name: array} of an export: encoder/ plus the output layer of classifier/."""
    import tensorflow_text  # noqa: F401 - the classifier SavedModel's tokenizer ops

    _, tensors = read_tfhub_encoder(os.path.join(folder, "encoder"))
    tensors = dict(tensors)
    classifier = tf.saved_model.load(os.path.join(folder, "classifier"))
    for variable in classifier.variables:
        name = variable.name[:-2] if variable.name.endswith(":0") else variable.name
        if name.endswith(HEAD_KERNEL):
            tensors["output_weights"] = np.transpose(variable.numpy())  # Google's [labels, H]
        elif name.endswith(HEAD_BIAS):
            tensors["output_bias"] = variable.numpy()
    if "output_weights" not in tensors or "output_bias" not in tensors:
        raise CheckpointError(f"{folder}/classifier: no {HEAD_KERNEL} variable")
    return tensors


def check_teacher_labels(teacher: Teacher, label_list, data_dir):
    """The teacher must score the task's labels, in the task's order."""
    theirs = teacher.info.labels
    ours = None if label_list is None else [str(x) for x in label_list]
    if theirs != ours:
        describe = (lambda labels: "regression (one score)" if labels is None else
                    ", ".join(labels))
        raise UsageError(f"{FLAG}={teacher.path}: the teacher's labels ({describe(theirs)}) are "
                         f"not the task's ({describe(ours)} in {data_dir})")


def predict_logits(model, features, batch_size: int = 32, multiple: int = 8) -> np.ndarray:
    """`model`'s logits [n, k] on packed features (a list of `InputFeatures`), in their order.

    Rows go through in order of length, each batch cut to its longest row (rounded up to a
    multiple of 8): padding never changes a row's logits, so this only saves work.
    """
    ids = np.array([f.input_ids for f in features], np.int32)
    mask = np.array([f.input_mask for f in features], np.int32)
    types = np.array([f.segment_ids for f in features], np.int32)
    lengths = mask.sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    step = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                       autograph=False)
    out = np.zeros((len(features), model.num_labels), np.float32)
    # Plain ops: the XLA kernels would compile again for every batch length.
    with portable_ops():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            longest = -(-int(lengths[rows].max()) // multiple) * multiple
            width = int(min(ids.shape[1], max(1, longest)))
            batch = {"input_word_ids": ids[rows, :width], "input_mask": mask[rows, :width],
                     "input_type_ids": types[rows, :width]}
            out[rows] = np.asarray(step({k: tf.constant(v) for k, v in batch.items()}))
    return out


def teacher_logits(teacher: Teacher, features, batch_size: int, log=print) -> np.ndarray:
    """Builds the teacher and runs it once over `features` (its own tokenization)."""
    started = time.time()
    model = teacher.build()
    logits = predict_logits(model, features, batch_size)
    log(f"teacher logits: {len(features)} examples in {time.time() - started:.1f} s "
        f"({teacher.path})")
    return logits
