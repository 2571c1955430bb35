"""`classifier_info.json`: what a fine-tuned classifier folder needs beyond its weights.

A Google folder holds the encoder, `output_weights` and `output_bias`, but not what the outputs
mean. run_classifier writes this file beside `bert_config.json` in `final_model/` (and `best/`)
so that export and serving can turn raw strings into label names without the training flags:

    {"labels": ["0", "1"], "pooling": "cls", "do_lower_case": true, "max_seq_length": 128,
     "num_segments": 2, "task_name": "mrpc"}

`labels` is null for regression (STS-B), whose single output is the score.
"""

import json
import os
from dataclasses import asdict, dataclass
from typing import List, Optional

import tensorflow as tf

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.modeling.config import write_text_atomic

CLASSIFIER_INFO_NAME = "classifier_info.json"


@dataclass
class ClassifierInfo:
    """The meaning of a classifier's outputs and how its inputs were made.

    Args:
        labels: label names in output order (None: regression, one output).
        pooling: "cls" or "mean" (see `BertClassifier`).
        do_lower_case: the tokenizer's casing.
        max_seq_length: the packed length used in training.
        num_segments: 1 for single sentences, 2 for sentence pairs.
        task_name: the processor name (informational).
    """

    labels: Optional[List[str]]
    pooling: str = "cls"
    do_lower_case: bool = True
    max_seq_length: int = 128
    num_segments: int = 1
    task_name: str = ""

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def as_extra_file(self) -> dict:
        """{file name: text}, for `save_google_checkpoint(..., extra_files=...)`."""
        return {CLASSIFIER_INFO_NAME: self.to_json()}

    def save(self, folder: str) -> str:
        path = os.path.join(folder, CLASSIFIER_INFO_NAME)
        write_text_atomic(path, self.to_json())
        return path


def read_classifier_info(folder: str) -> Optional[ClassifierInfo]:
    """The `ClassifierInfo` in `folder`, or None when the folder has none (not a classifier)."""
    path = os.path.join(folder, CLASSIFIER_INFO_NAME)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
        info = ClassifierInfo(**data)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: not a valid classifier info file ({e})") from None
    if info.pooling not in ("cls", "mean") or info.num_segments not in (1, 2):
        raise CheckpointError(f"{path}: pooling must be cls|mean and num_segments 1|2")
    return info
