"""`squad_info.json`: how a fine-tuned SQuAD model's windows were made and its answers decoded.

A Google folder holds the encoder and `cls/squad/*`, but not the window and decoding settings.
run_squad writes this file beside `bert_config.json` in `final_model/` so that export and
serving answer questions as prediction did, without the training flags:

    {"do_lower_case": true, "doc_stride": 128, "max_answer_length": 30,
     "max_query_length": 64, "max_seq_length": 384, "n_best_size": 20,
     "null_score_diff_threshold": 0.0, "version_2_with_negative": false}
"""

import json
import os
from dataclasses import asdict, dataclass
from typing import Optional

import tensorflow as tf

from bert_tf.checkpoints.errors import CheckpointError
from bert_tf.modeling.config import write_text_atomic

SQUAD_INFO_NAME = "squad_info.json"


@dataclass
class SquadInfo:
    """The settings of a SQuAD model's windows and decoding (run_squad's flags of that name).

    Args:
        do_lower_case: the tokenizer's casing.
        max_seq_length: the packed window length.
        doc_stride: pieces between the starts of consecutive windows of one context.
        max_query_length: the question's WordPieces are cut to this many.
        max_answer_length: the longest answer, in WordPieces.
        n_best_size: start and end candidates per window (and answers kept) in decoding.
        version_2_with_negative: the model was trained on SQuAD v2.0 (it may answer nothing).
        null_score_diff_threshold: v2.0: answer nothing when the null score minus the best
            span's score is above this.
    """

    do_lower_case: bool = True
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best_size: int = 20
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def as_extra_file(self) -> dict:
        """{file name: text}, for `save_google_checkpoint(..., extra_files=...)`."""
        return {SQUAD_INFO_NAME: self.to_json()}

    def save(self, folder: str) -> str:
        path = os.path.join(folder, SQUAD_INFO_NAME)
        write_text_atomic(path, self.to_json())
        return path


def _check(info: SquadInfo) -> Optional[str]:
    """What is wrong with `info`'s values, or None."""
    for name in ("do_lower_case", "version_2_with_negative"):
        if not isinstance(getattr(info, name), bool):
            return f"{name} must be true or false"
    for name in ("max_seq_length", "doc_stride", "max_query_length", "max_answer_length",
                 "n_best_size"):
        value = getattr(info, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{name} must be a positive integer, got {value!r}"
    threshold = info.null_score_diff_threshold
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        return f"null_score_diff_threshold must be a number, got {threshold!r}"
    info.null_score_diff_threshold = float(threshold)
    # The window rules of bert_tf.data.squad_features.validate_window_flags.
    if info.max_seq_length <= info.max_query_length + 3:
        return "max_seq_length must be greater than max_query_length + 3"
    if info.doc_stride >= info.max_seq_length - info.max_query_length - 3:
        return "doc_stride must be smaller than max_seq_length - max_query_length - 3"
    return None


def read_squad_info(folder: str) -> Optional[SquadInfo]:
    """The `SquadInfo` in `folder`, or None when the folder has none (not a SQuAD model).

    Raises `CheckpointError` naming the file when it is not valid JSON, has unknown or
    mistyped fields, or settings that cannot make windows.
    """
    path = os.path.join(folder, SQUAD_INFO_NAME)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        info = SquadInfo(**data)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: not a valid SQuAD info file ({e})") from None
    problem = _check(info)
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    return info
