"""In-graph packing of token-id segments into BERT inputs, with the original truncation rule.

The original pops from the end of the currently longer segment (the second one on a tie). Its
result has a closed form (`trimmed_pair_lengths`, the vectorised `packing.truncated_lengths`),
so packing is a few dense [batch, seq_length] ops that put every position of
`[CLS] a [SEP] b [SEP]` + padding in place. As in the original, a row whose second
segment is empty packs as a single segment (budget `seq_length - 2`, not `seq_length - 3`),
and a second segment truncated to nothing gets no second `[SEP]`. That per-row budget is why
tf-text's trimmers (one budget for the whole batch) are not used; for the record,
`RoundRobinTrimmer` gives the original's pair lengths and `ShrinkLongestTrimmer` does not (it
cuts the first segment on ties).

Example:
    >>> a = tf.ragged.constant([[5, 6, 7, 8], [9]])
    >>> b = tf.ragged.constant([[10, 11], []])
    >>> pack_segments([a, b], seq_length=6, cls_id=2, sep_id=3)["input_word_ids"].numpy()
    array([[ 2,  5,  6,  3, 10,  3],
           [ 2,  9,  3,  0,  0,  0]], dtype=int32)
"""

import tensorflow as tf


def trimmed_pair_lengths(len_a, len_b, max_length):
    """Lengths left by the original `_truncate_seq_pair` (int tensors, broadcastable)."""
    total_fits = len_a + len_b <= max_length
    a_short = (len_a <= len_b) & (2 * len_a <= max_length)  # a kept whole, b cut
    b_short = (len_b < len_a) & (2 * len_b <= max_length)  # b kept whole, a cut
    # Otherwise both were cut until they met: a keeps the odd token.
    new_a = tf.where(a_short, len_a, tf.where(b_short, max_length - len_b, (max_length + 1) // 2))
    new_b = tf.where(a_short, max_length - len_a, tf.where(b_short, len_b, max_length // 2))
    return tf.where(total_fits, len_a, new_a), tf.where(total_fits, len_b, new_b)


def pack_segments(segments, seq_length, cls_id, sep_id):
    """One or two int RaggedTensors [batch, (tokens)] -> the BERT encoder inputs.

    Args:
        segments: list of 1 or 2 RaggedTensors of token ids, same batch size.
        seq_length: output length (>= 3 with two segments, >= 2 with one): a Python int, or
            a scalar int tensor (as an exported `bert_pack_inputs` receives it; its outputs
            then have a dynamic length).
        cls_id, sep_id: ids of `[CLS]` and `[SEP]`.

    Returns:
        dict of int32 [batch, seq_length]: `input_word_ids` (padded with 0), `input_mask`,
        `input_type_ids`.
    """
    if len(segments) not in (1, 2):
        raise ValueError(f"bert_pack_inputs takes 1 or 2 segments, got {len(segments)}")
    static = not tf.is_tensor(seq_length)
    if static and seq_length < len(segments) + 1:
        raise ValueError(f"seq_length={seq_length} leaves no room for the special tokens")
    if not static:
        seq_length = tf.cast(seq_length, tf.int64)  # the length arithmetic below is int64
    a = tf.cast(segments[0], tf.int32)
    len_a = a.row_lengths()  # int64 [batch]
    if len(segments) == 2:
        b = tf.cast(segments[1], tf.int32)
        len_b = b.row_lengths()
        pair_a, pair_b = trimmed_pair_lengths(len_a, len_b, seq_length - 3)
        pair = len_b > 0  # an empty second segment packs as a single one
        keep_a = tf.where(pair, pair_a, tf.minimum(len_a, seq_length - 2))
        keep_b = tf.where(pair, pair_b, tf.zeros_like(len_b))
    else:
        keep_a = tf.minimum(len_a, seq_length - 2)
        keep_b = tf.zeros_like(len_a)
    has_b = keep_b > 0  # a second segment cut to nothing loses its [SEP] too
    total = keep_a + 2 + tf.where(has_b, keep_b + 1, 0)  # real tokens per row, [batch]

    # Dense layout by position: [CLS] at 0, a at 1..keep_a, [SEP] at keep_a + 1, b from
    # keep_a + 2, the last [SEP] at total - 1. to_tensor crops rows to seq_length.
    position = tf.range(seq_length, dtype=tf.int64)[tf.newaxis, :]  # [1, seq_length]
    keep_a, keep_b = keep_a[:, tf.newaxis], keep_b[:, tf.newaxis]  # [batch, 1]
    total, has_b = total[:, tf.newaxis], has_b[:, tf.newaxis]
    a_dense = a.to_tensor(0, shape=_dense_shape(a, seq_length - 1, static))
    a_dense = tf.pad(a_dense, [[0, 0], [1, 0]])  # a token i sits at position i + 1
    word_ids = tf.where((position >= 1) & (position <= keep_a), a_dense, 0)
    if len(segments) == 2:
        b_dense = b.to_tensor(0, shape=_dense_shape(b, seq_length, static))
        b_index = tf.clip_by_value(position - keep_a - 2, 0, seq_length - 1)  # [batch, seq]
        in_b = (position >= keep_a + 2) & (position < keep_a + 2 + keep_b)
        word_ids = tf.where(in_b, tf.gather(b_dense, b_index, batch_dims=1), word_ids)
    word_ids = tf.where(position == 0, cls_id, word_ids)
    is_sep = (position == keep_a + 1) | (has_b & (position == total - 1))
    word_ids = tf.where(is_sep, sep_id, word_ids)
    mask = position < total
    type_ids = mask & (position >= keep_a + 2)
    shape = [None, seq_length if static else None]
    return {
        "input_word_ids": tf.ensure_shape(word_ids, shape),
        "input_mask": tf.ensure_shape(tf.cast(mask, tf.int32), shape),
        "input_type_ids": tf.ensure_shape(tf.cast(type_ids, tf.int32), shape),
    }


def _dense_shape(ragged, width, static):
    """`to_tensor`'s shape: [None, width] for a Python int, else a full shape tensor."""
    return [None, width] if static else tf.stack([ragged.nrows(), width])
