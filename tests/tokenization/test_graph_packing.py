"""In-graph packing: the closed-form truncation equals the original; what tf-text's trimmers do."""

import itertools
import random

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.tokenization import truncated_lengths
from bert_tf.tokenization.graph_packing import pack_segments, trimmed_pair_lengths

GRID = list(itertools.product(range(20), range(20), range(1, 26)))


def test_trimmed_pair_lengths_equals_original_rule():
    la, lb, m = (tf.constant(np.array(c, np.int64)) for c in zip(*GRID))
    got_a, got_b = trimmed_pair_lengths(la, lb, m)
    expected = [truncated_lengths(*g) for g in GRID]
    assert list(zip(got_a.numpy().tolist(), got_b.numpy().tolist())) == expected


def _trimmer_lengths(trimmer_cls, max_length, cases):
    a = tf.RaggedTensor.from_row_lengths(tf.ones([sum(c[0] for c in cases)], tf.int32),
                                         [c[0] for c in cases])
    b = tf.RaggedTensor.from_row_lengths(tf.ones([sum(c[1] for c in cases)], tf.int32),
                                         [c[1] for c in cases])
    out_a, out_b = trimmer_cls(max_length).trim([a, b])
    return list(zip(out_a.row_lengths().numpy().tolist(), out_b.row_lengths().numpy().tolist()))


def test_round_robin_trimmer_agrees_and_shrink_longest_does_not():
    # Findings recorded for the README: RoundRobinTrimmer (an independent implementation) gives
    # the original's pair lengths; ShrinkLongestTrimmer cuts the first segment on ties.
    shrink_longest_differs = 0
    for m in range(0, 20):
        cases = list(itertools.product(range(12), range(12)))
        expected = [truncated_lengths(la, lb, m) for la, lb in cases]
        assert _trimmer_lengths(tf_text.RoundRobinTrimmer, m, cases) == expected
        got = _trimmer_lengths(tf_text.ShrinkLongestTrimmer, m, cases)
        shrink_longest_differs += sum(g != e for g, e in zip(got, expected))
    # The original gives (1, 0) here.
    assert _trimmer_lengths(tf_text.ShrinkLongestTrimmer, 1, [(1, 1)]) == [(0, 1)]
    assert shrink_longest_differs > 0


def _python_pack(a, b, seq_length, cls_id=101, sep_id=102):
    a, b = list(a), list(b) if b else None
    if b:
        la, lb = truncated_lengths(len(a), len(b), seq_length - 3)
        a, b = a[:la], b[:lb]
    if b:  # checked after truncation, as the original does: a b cut to nothing gets no [SEP]
        ids = [cls_id] + a + [sep_id] + b + [sep_id]
        types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    else:
        a = a[: seq_length - 2]
        ids, types = [cls_id] + a + [sep_id], [0] * (len(a) + 2)
    pad = seq_length - len(ids)
    return ids + [0] * pad, [1] * len(ids) + [0] * pad, types + [0] * pad


@pytest.mark.parametrize("seq_length", [3, 4, 9, 16])
def test_pack_segments_equals_python_packing(seq_length):
    rng = random.Random(seq_length)
    rows_a = [[rng.randint(1000, 2000) for _ in range(rng.randint(0, 20))] for _ in range(300)]
    rows_b = [[rng.randint(1000, 2000) for _ in range(rng.randint(0, 20))] for _ in range(300)]
    for segments in ([rows_a], [rows_a, rows_b]):
        packed = pack_segments([tf.ragged.constant(s, tf.int32, ragged_rank=1) for s in segments],
                               seq_length, 101, 102)
        got = {k: v.numpy().tolist() for k, v in packed.items()}
        for i in range(300):
            b = rows_b[i] if len(segments) == 2 else None
            ids, mask, types = _python_pack(rows_a[i], b, seq_length)
            assert got["input_word_ids"][i] == ids
            assert got["input_mask"][i] == mask
            assert got["input_type_ids"][i] == types


def test_pack_segments_shapes_and_errors():
    a = tf.ragged.constant([[7, 8]], tf.int32)
    packed = pack_segments([a], 5, 1, 2)
    assert all(v.dtype == tf.int32 and v.shape == (1, 5) for v in packed.values())
    with pytest.raises(ValueError, match="takes 1 or 2 segments, got 3"):
        pack_segments([a, a, a], 8, 1, 2)
    with pytest.raises(ValueError, match="seq_length=2 leaves no room"):
        pack_segments([a, a], 2, 1, 2)
