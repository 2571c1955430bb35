"""The original run_classifier's units of data: one example in, one packed feature row out."""

import dataclasses
from typing import List, Optional, Union


@dataclasses.dataclass
class InputExample:
    """One training/eval/test example for sequence (pair) classification.

    Args:
        guid: unique id, e.g. "train-12" (used in error messages and output order).
        text_a: the first sequence, untokenized.
        text_b: the second sequence for pair tasks, else None.
        label: the label string (or float for regression); None for unlabelled test rows.
    """

    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: Optional[Union[str, float]] = None


@dataclasses.dataclass
class InputFeatures:
    """One packed row: `[CLS] a [SEP] (b [SEP])` padded to max_seq_length.

    Args:
        input_ids: token ids, length max_seq_length, padded with 0.
        input_mask: 1 for real tokens, 0 for padding.
        segment_ids: 0 up to and including the first [SEP], 1 after.
        label_id: index into the label list (or the float target for regression).
        is_real_example: False for the padding rows added to fill a TPU batch.
    """

    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    label_id: Union[int, float] = 0
    is_real_example: bool = True
