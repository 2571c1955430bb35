"""BasicTokenizer against the original's documented behaviour and a literal restatement of it."""

import random
import unicodedata

import pytest

from bert_tf.tokenization import BasicTokenizer, whitespace_tokenize
from bert_tf.tokenization import char_classes as cc
from tokenization.hostile_corpus import hostile_corpus


def literal_basic_tokenize(text, do_lower_case):
    """REFERENCE.md section 3 spelled out character by character (slow, obviously faithful)."""
    cleaned = ""
    for char in text:
        if ord(char) in (0, 0xFFFD) or cc.is_control(char):
            continue
        cleaned += " " if cc.is_whitespace(char) else char
    spaced = "".join(f" {c} " if cc.is_chinese_char(c) else c for c in cleaned)
    pieces = []
    for token in spaced.strip().split():
        if do_lower_case:
            token = token.lower()
            token = "".join(c for c in unicodedata.normalize("NFD", token)
                            if unicodedata.category(c) != "Mn")
        current = []
        for char in token:
            if cc.is_punctuation(char):
                pieces += ["".join(current), char]
                current = []
            else:
                current.append(char)
        pieces.append("".join(current))
    return " ".join(p for p in pieces if p).split()


@pytest.mark.parametrize(
    "text, expected",
    [
        (" \tHeLLo!how  \n Are yoU?  ", ["hello", "!", "how", "are", "you", "?"]),
        ("H\u00e9llo", ["hello"]),
        ("ah\u535a\u63a8zz", ["ah", "\u535a", "\u63a8", "zz"]),
        ("UNwant\u00e9d,running", ["unwanted", ",", "running"]),
        ("ΟΔΟΣ", ["οδος"]),  # word-final capital sigma -> final sigma
        ("ΟΔΟΣ.ΟΔΟΣ", ["οδοσ", ".", "οδος"]),  # "." is case-ignorable: not final
        ("İ", ["i"]),  # lower() gives i + U+0307, the mark is stripped
        ("a\u200bb\x00c\ufffdd", ["abcd"]),  # dropped, not split
        ("a\u2028b\u00a0c", ["a", "b", "c"]),
        ("", []),
        ("\x00\ufffd", []),
        ("\u0301", []),  # a lone accent strips to nothing
    ],
)
def test_lower(text, expected):
    assert BasicTokenizer(do_lower_case=True).tokenize(text) == expected


def test_hangul_and_kana_are_not_split_but_decomposed_when_lower_casing():
    # NFD turns Hangul syllables into conjoining jamo (category Lo, kept), as the original does.
    hangul = unicodedata.normalize("NFD", "한국어")
    assert len(hangul) == 8
    assert BasicTokenizer(True).tokenize("한국어 カタカナ") == [hangul, "カタカナ"]
    assert BasicTokenizer(False).tokenize("한국어 カタカナ") == ["한국어", "カタカナ"]


@pytest.mark.parametrize(
    "text, expected",
    [
        (" \tHeLLo!how  \n Are yoU?  ", ["HeLLo", "!", "how", "Are", "yoU", "?"]),
        ("H\u00e9llo", ["H\u00e9llo"]),
        ("ΟΔΟΣ", ["ΟΔΟΣ"]),
        ("e\u0301", ["e\u0301"]),
        ("ah\u535a\u63a8zz", ["ah", "\u535a", "\u63a8", "zz"]),
    ],
)
def test_no_lower(text, expected):
    assert BasicTokenizer(do_lower_case=False).tokenize(text) == expected


def test_bytes_input_is_utf8():
    assert BasicTokenizer().tokenize("Caf\u00e9!".encode("utf-8")) == ["cafe", "!"]


def test_whitespace_tokenize():
    assert whitespace_tokenize("  a \t b\n") == ["a", "b"]
    assert whitespace_tokenize("   ") == []


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_matches_literal_rules_on_hostile_corpus(do_lower_case):
    tokenizer = BasicTokenizer(do_lower_case)
    for text in hostile_corpus(mixtures=400):
        assert tokenizer.tokenize(text) == literal_basic_tokenize(text, do_lower_case), repr(text)


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_matches_literal_rules_on_every_bmp_character(do_lower_case):
    tokenizer = BasicTokenizer(do_lower_case)
    rng = random.Random(7)
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        text = "Aa" + chr(cp) + rng.choice(["b", " ", "Σ", ".", "\u0301"])
        assert tokenizer.tokenize(text) == literal_basic_tokenize(text, do_lower_case), hex(cp)
