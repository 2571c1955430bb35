"""Every code point through both tokenizers: the in-graph one must agree with Python's."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tokenization import BasicTokenizer, GraphBasicTokenizer
from bert_tf.tokenization import char_classes as cc
from bert_tf.tokenization import graph_unicode

# Planes 4-13 are unassigned and 15-16 private use: a sample of them is enough.
CODE_POINTS = [cp for cp in list(range(0x40000)) + list(range(0xE0000, 0xE1000))
               + list(range(0x40000, 0x110000, 997)) if not 0xD800 <= cp <= 0xDFFF]


def _graph_words(tokenizer, texts):
    ragged = tokenizer(tf.constant([t.encode("utf-8") for t in texts]))
    values = [v.decode("utf-8") for v in ragged.flat_values.numpy()]
    splits = ragged.row_splits.numpy()
    return [values[splits[i]:splits[i + 1]] for i in range(len(texts))]


def _mismatches(do_lower_case, texts):
    python = BasicTokenizer(do_lower_case)
    graph = _graph_words(GraphBasicTokenizer(do_lower_case), texts)
    return [(t, g) for t, g in zip(texts, graph) if python.tokenize(t) != g]


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_every_code_point_between_letters(do_lower_case):
    texts = ["Ab" + chr(cp) + "cD" for cp in CODE_POINTS]
    bad = _mismatches(do_lower_case, texts)
    assert not bad, f"{len(bad)} code points differ, e.g. {bad[:5]!r}"


def test_every_code_point_in_capital_sigma_contexts():
    # Σ is lower-cased by Python's Final_Sigma rule, which looks through case-ignorable
    # characters on both sides: put each character before and after one.
    cps = cc.assigned_code_points()
    contexts = ("ΑΣ{}", "ΑΣ{}Α", "{}Σ", "Α{}Σ")
    texts = [context.format(chr(cp)) for cp in cps for context in contexts]
    bad = _mismatches(True, texts)
    assert not bad, f"{len(bad)} contexts differ, e.g. {bad[:5]!r}"


def test_fixups_are_real_differences_with_unique_placeholders():
    fixups = graph_unicode.lowering_fixups()
    # Version drift between ICU and unicodedata touches few characters (60 with TF 2.21 and
    # Python 3.11, all added in Unicode 14-16); hundreds would mean a pipeline bug.
    assert len(fixups.results) < 300
    placeholders = list(fixups.placeholders.values())
    assert len(set(placeholders)) == len(placeholders) == len(fixups.results)
    assert all(cc.is_dropped(p) for p in placeholders)  # cannot occur in cleaned text
    for char, expected in fixups.results.items():
        assert expected == graph_unicode.python_lowering(char)
        got = graph_unicode.graph_lowering(tf.constant([char.encode("utf-8")])).numpy()[0]
        assert got.decode("utf-8") != expected  # a real difference, not a no-op patch


def test_final_sigma_tables_are_sorted_disjoint_ranges():
    for ranges in graph_unicode.final_sigma_tables():
        assert ranges.dtype == np.int32 and ranges.shape[1] == 2
        assert np.all(ranges[:, 0] <= ranges[:, 1]) and np.all(ranges[1:, 0] > ranges[:-1, 1])
