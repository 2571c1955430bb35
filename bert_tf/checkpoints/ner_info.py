"""`ner_info.json`: what a fine-tuned tagger's folder needs beyond its weights.

A Google folder holds the encoder and the tagging head (`output_weights [num_labels, H]`,
`output_bias`), but not what the outputs mean nor how the words were windowed. run_ner writes
this file beside `bert_config.json` in `final_model/` so that export and serving tag raw
sentences as prediction did, without the training flags:

    {"labels": ["O", "B-LOC", "I-LOC", ...], "do_lower_case": false, "max_seq_length": 128,
     "stride": 63}
"""

import json
import os
from dataclasses import asdict, dataclass
from typing import List, Optional

import tensorflow as tf

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.modeling.config import write_text_atomic

NER_INFO_NAME = "ner_info.json"


@dataclass
class NerInfo:
    """The meaning of a tagger's outputs and how its windows were made.

    Args:
        labels: IOB2 tags in output order (`O` and `B-X`/`I-X` per entity type).
        do_lower_case: the tokenizer's casing.
        max_seq_length: window length in WordPieces, `[CLS]` and `[SEP]` included.
        stride: at most how many pieces a window starts after the previous one.
    """

    labels: List[str]
    do_lower_case: bool = False
    max_seq_length: int = 128
    stride: int = 63

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def as_extra_file(self) -> dict:
        """{file name: text}, for `save_google_checkpoint(..., extra_files=...)`."""
        return {NER_INFO_NAME: self.to_json()}

    def save(self, folder: str) -> str:
        path = os.path.join(folder, NER_INFO_NAME)
        write_text_atomic(path, self.to_json())
        return path


def _problem(info: NerInfo) -> Optional[str]:
    labels = info.labels
    if not isinstance(labels, list) or len(labels) < 2 or \
            not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        return "labels must be a list of at least two distinct tags"
    if not isinstance(info.do_lower_case, bool):
        return "do_lower_case must be true or false"
    for name in ("max_seq_length", "stride"):
        value = getattr(info, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{name} must be a positive integer, got {value!r}"
    if info.max_seq_length < 3 or info.stride > info.max_seq_length - 2:
        return "max_seq_length must be at least 3 and stride at most max_seq_length - 2"
    return None


def read_ner_info(folder: str) -> Optional[NerInfo]:
    """The `NerInfo` in `folder`, or None when the folder has none (not a tagger).

    Raises `CheckpointError` naming the file when it is not valid JSON, has unknown or
    mistyped fields, or settings that cannot make windows.
    """
    path = os.path.join(folder, NER_INFO_NAME)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        info = NerInfo(**data)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: not a valid NER info file ({e})") from None
    problem = _problem(info)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    return info
