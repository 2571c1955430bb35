"""extract_features' input side: the text file, the `--layers` list, and packed batches.

The input file holds one example a line: a text, or a pair as `text_a ||| text_b` (split as
the original does, on the last " ||| "). Every line is an example, a blank one included, so
that `linex_index` in the output is always the 0-based line number.

Example:
    >>> parse_layers("-1,-2", num_hidden_layers=6)
    [-1, -2]
    >>> split_pair("the cat ||| a dog")
    ('the cat', 'a dog')
"""

import dataclasses
import os
import re
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from bert_tf.data.processors import DataFormatError, data_error
from bert_tf.tokenization import convert_to_unicode, pack_tokens
from bert_tf.training.model_files import UsageError

SEPARATOR = "|||"
_PAIR = re.compile(r"^(.*) \|\|\| (.*)$")


def split_pair(line: str) -> Tuple[str, Optional[str]]:
    """(text_a, text_b or None) of one stripped line, as the original's `read_examples`."""
    m = _PAIR.match(line)
    if m is None:
        return line, None
    return m.group(1), m.group(2)


def read_examples(path: str) -> List[Tuple[str, Optional[str]]]:
    """[(text_a, text_b or None)], one per line of `path` (UTF-8).

    Raises:
        UsageError: `path` is not a file (the message names --input_file).
        TextDecodeError: a line is not UTF-8 (file and line named).
        DataFormatError: the file has no lines, or a line has more than one `|||`.
    """
    if not os.path.isfile(path):
        raise UsageError(f"--input_file: {path} does not exist")
    examples = []
    # Binary lines split on "\n" only, as the original's readline did; strip() drops "\r".
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            line = convert_to_unicode(raw, source=f"{path}, line {number}").strip()
            count = line.count(SEPARATOR)
            if count > 1:
                raise data_error(path, number, f"{count} '{SEPARATOR}' separators; a line holds "
                                 f"one text, or two as 'text_a {SEPARATOR} text_b'")
            examples.append(split_pair(line))
    if not examples:
        raise DataFormatError(f"{path}: the file is empty (expected one text, or "
                              f"'text_a {SEPARATOR} text_b', per line)")
    return examples


def parse_layers(spec, num_hidden_layers: int) -> List[int]:
    """The `--layers` list: comma-separated block indices, Python-style (-1 is the last block).

    Index i selects `encoder_outputs[i]`, the output of transformer block i, as the original's
    `all_encoder_layers[i]`; the embeddings are not a layer here.
    """
    text = "" if spec is None else str(spec)
    parts = [p.strip() for p in text.split(",")]
    low, high = -num_hidden_layers, num_hidden_layers - 1
    layers = []
    for part in parts:
        try:
            index = int(part)
        except ValueError:
            raise UsageError(f"--layers={text}: {part!r} is not an integer (expected "
                             f"comma-separated layer indices such as -1,-2,-3,-4)") from None
        if not low <= index <= high:
            raise UsageError(f"--layers={text}: layer {index} is out of range for a "
                             f"{num_hidden_layers}-layer model (use {low}..{high})")
        layers.append(index)
    return layers


@dataclasses.dataclass
class Batch:
    """One batch of packed examples, padded with all-zero rows up to the batch size."""
    first_index: int
    tokens: List[List[str]]  # the real tokens of each real row, [CLS] ... [SEP]
    features: dict  # int32 [batch_size, max_seq_length] arrays, TF Hub input names

    @property
    def num_real(self) -> int:
        return len(self.tokens)


def pack_example(text_a: str, text_b: Optional[str], max_seq_length: int, tokenizer):
    """(tokens, InputFeatures) of one example, truncated as the original's extract_features."""
    tokens_a = tokenizer.tokenize(text_a)
    tokens_b = tokenizer.tokenize(text_b) if text_b else None
    try:
        features = pack_tokens(tokens_a, tokens_b, max_seq_length, tokenizer)
    except ValueError as e:
        raise UsageError(f"--max_seq_length: {e}") from None
    length = sum(features.input_mask)
    return tokenizer.convert_ids_to_tokens(features.input_ids[:length]), features


def batches(examples: Sequence[Tuple[str, Optional[str]]], tokenizer, max_seq_length: int,
            batch_size: int) -> Iterator[Batch]:
    """Packs `examples` in order, `batch_size` at a time (tokenized lazily, batch by batch).

    Every batch has the full [batch_size, max_seq_length] shape, so the model is traced once;
    the last one is filled with rows whose mask is all zero.
    """
    for start in range(0, len(examples), batch_size):
        ids, mask, types = (np.zeros((batch_size, max_seq_length), np.int32) for _ in range(3))
        tokens = []
        for row, (text_a, text_b) in enumerate(examples[start:start + batch_size]):
            row_tokens, f = pack_example(text_a, text_b, max_seq_length, tokenizer)
            tokens.append(row_tokens)
            ids[row], mask[row], types[row] = f.input_ids, f.input_mask, f.segment_ids
        yield Batch(start, tokens, {"input_word_ids": ids, "input_mask": mask,
                                    "input_type_ids": types})
