"""Character classes: the original's tables, and the derived code-point sets/regexes."""

import re
import unicodedata

import pytest

from bert_tf.tokenization import char_classes as cc


@pytest.mark.parametrize("char", [" ", "\t", "\r", "\n", "\u00a0", "\u3000", "\u2009"])
def test_is_whitespace_true(char):
    assert cc.is_whitespace(char)


@pytest.mark.parametrize("char", ["A", "-", "\u2028", "\x0b", "\u200b"])
def test_is_whitespace_false(char):
    assert not cc.is_whitespace(char)


@pytest.mark.parametrize("char", ["\u0005", "\x7f", "\u200b", "\u200d", "\ufeff", "\u00ad", "\U000e0041"])
def test_is_control_true(char):
    assert cc.is_control(char)


@pytest.mark.parametrize("char", ["A", " ", "\t", "\r", "\n", "\U0001F4A9", "\ue000", "\u0378"])
def test_is_control_false(char):
    # Private use (Co) and unassigned (Cn) are not controls in the original (HF's port drops them).
    assert not cc.is_control(char)


@pytest.mark.parametrize("char", ["-", "$", "`", ".", "^", "~", "¿", "、", "§", "\u2018"])
def test_is_punctuation_true(char):
    assert cc.is_punctuation(char)


@pytest.mark.parametrize("char", ["A", " ", "0", "©", "€", "∑", "\u00b4"])
def test_is_punctuation_false(char):
    assert not cc.is_punctuation(char)


@pytest.mark.parametrize(
    "char, expected",
    [("\u4e00", True), ("\u9fff", True), ("\u3400", True), ("\U00020000", True), ("\uf900", True),
     ("\U0002fa1f", True), ("\U0002ceaf", True), ("\u3042", False), ("\u30a2", False),
     ("\uac00", False), ("\u3000", False), ("\U0002a6e0", False), ("A", False)],
)
def test_is_chinese_char(char, expected):
    assert cc.is_chinese_char(char) is expected


def test_predicates_are_false_on_unassigned_and_private_use():
    # code_points() only tries assigned characters; this is the assumption that makes it exact.
    predicates = (cc.is_dropped, cc.is_whitespace, cc.is_punctuation, cc.is_nonspacing_mark,
                  cc.splits_words)
    for cp in range(cc.MAX_CODE_POINT + 1):
        char = chr(cp)
        if unicodedata.category(char) in ("Cn", "Co", "Cs"):
            assert not any(p(char) for p in predicates), hex(cp)


def test_code_point_sets_match_predicates_on_samples():
    for predicate in (cc.is_dropped, cc.is_whitespace, cc.is_punctuation, cc.is_nonspacing_mark):
        cps = set(cc.code_points(predicate))
        for cp in list(range(0, 0x3000)) + list(range(0xFE00, 0x10000)):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            assert (cp in cps) == predicate(chr(cp)), (predicate.__name__, hex(cp))


def test_splits_words_adds_only_line_and_paragraph_separators():
    extra = [cp for cp in cc.code_points(cc.splits_words) if not cc.is_whitespace(chr(cp))]
    assert extra == [0x2028, 0x2029]


def test_python_regex_class_matches_exactly_its_code_points():
    cps = cc.code_points(cc.is_punctuation)
    pattern = re.compile(cc.python_regex_class(cps))
    members = set(cps)
    for cp in range(0, 0x20000):
        if not 0xD800 <= cp <= 0xDFFF:
            assert bool(pattern.fullmatch(chr(cp))) == (cp in members), hex(cp)


def test_regex_class_syntax():
    assert cc.regex_class([0x41, 0x42, 0x43, 0x5F, 0x10FFFF]) == "[\\x{41}-\\x{43}\\x{5f}\\x{10ffff}]"
    assert cc.to_ranges([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
