"""Packing WordPiece tokens into fixed-length BERT inputs, as the original `run_classifier.py`.

Layout `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`; segment ids 0 up to and including the first
`[SEP]`, 1 after; padded with id 0, mask 0, segment 0. A pair is truncated one token at a time
from the end of the currently longer side (the second side on a tie) until it fits
`max_seq_length - 3`; a single sequence is cut to `max_seq_length - 2`. As in the original, a
second text that is empty, tokenizes to nothing, or is truncated to nothing (budgets below 2)
packs as a single sequence: no second `[SEP]`.

Example:
    >>> a, b = list("abcdef"), list("xyz")
    >>> truncate_seq_pair(a, b, 6); a, b
    (['a', 'b', 'c'], ['x', 'y', 'z'])
"""

from bert_tf.tokenization.examples import InputFeatures


def truncate_seq_pair(tokens_a, tokens_b, max_length):
    """Truncates the two lists in place until `len(a) + len(b) <= max_length`.

    Pops from the end of the longer list; on a tie from `tokens_b`.
    """
    if max_length < 0:
        raise ValueError(f"truncate_seq_pair: max_length must be >= 0, got {max_length}")
    while len(tokens_a) + len(tokens_b) > max_length:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        longer.pop()


def truncated_lengths(len_a, len_b, max_length):
    """The lengths `truncate_seq_pair` leaves, in closed form (what the in-graph packer uses).

    Example:
        >>> truncated_lengths(10, 2, 8), truncated_lengths(5, 5, 7)
        ((6, 2), (4, 3))
    """
    if len_a + len_b <= max_length:
        return len_a, len_b
    if len_a <= len_b and 2 * len_a <= max_length:
        return len_a, max_length - len_a
    if len_b < len_a and 2 * len_b <= max_length:
        return max_length - len_b, len_b
    # Both sides were cut down to meet: the first side keeps the odd token.
    return (max_length + 1) // 2, max_length // 2


def pack_tokens(tokens_a, tokens_b, max_seq_length, tokenizer):
    """WordPiece tokens of one or two segments -> `InputFeatures` (label_id 0).

    Args:
        tokens_a: list of WordPiece tokens of the first segment (not modified).
        tokens_b: list of tokens of the second segment, or None / [] for a single segment.
        max_seq_length: output length; at least 3 for a pair, 2 for a single segment.
        tokenizer: anything with `convert_tokens_to_ids` (e.g. `FullTokenizer`).
    """
    tokens_a = list(tokens_a)
    tokens_b = list(tokens_b) if tokens_b else None
    specials = 3 if tokens_b else 2
    if max_seq_length < specials:
        raise ValueError(
            f"max_seq_length={max_seq_length} leaves no room for {specials} special tokens"
        )
    if tokens_b:
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        tokens_a = tokens_a[: max_seq_length - 2]
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b:
        tokens += tokens_b + ["[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    input_mask = [1] * len(input_ids)
    padding = [0] * (max_seq_length - len(input_ids))
    return InputFeatures(
        input_ids=input_ids + padding,
        input_mask=input_mask + padding,
        segment_ids=segment_ids + padding,
    )


def convert_single_example(example, label_map, max_seq_length, tokenizer):
    """One `InputExample` -> `InputFeatures`, as the original `convert_single_example`.

    Args:
        example: `InputExample` (text_b None or "" for single-sentence tasks).
        label_map: dict label -> id for classification, None for regression (label -> float).
        max_seq_length: output length.
        tokenizer: `FullTokenizer`.

    Raises:
        ValueError: a label not in `label_map`, or a regression label that is not a number.
    """
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    features = pack_tokens(tokens_a, tokens_b, max_seq_length, tokenizer)
    if example.label is None:
        features.label_id = 0
    elif label_map is None:
        try:
            features.label_id = float(example.label)
        except (TypeError, ValueError):
            raise ValueError(
                f"example {example.guid}: regression label {example.label!r} is not a number"
            ) from None
    elif example.label in label_map:
        features.label_id = label_map[example.label]
    else:
        raise ValueError(
            f"example {example.guid}: label {short_repr(example.label)} is not one of the "
            f"task's labels {describe_labels(label_map)}"
        )
    return features


def short_repr(value, limit=60):
    """`repr(value)`, cut to about `limit` characters (error lines stay one short line)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    quote = text[0] if text[0] in "'\"" else ""
    return f"{text[:limit - 5]}...{quote} ({len(str(value))} chars)"


def describe_labels(label_list, shown=8):
    """The label list for an error line: all of a short list, else its first few and a count."""
    labels = list(label_list)
    if len(labels) <= shown:
        return "[" + ", ".join(short_repr(l) for l in labels) + "]"
    return (f"the {len(labels)} labels [" + ", ".join(short_repr(l, 30) for l in labels[:shown])
            + ", ...]")
