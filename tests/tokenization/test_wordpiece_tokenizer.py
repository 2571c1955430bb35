"""WordpieceTokenizer: the original's test table and the 200-character limit."""

import pytest

from bert_tf.tokenization import WordpieceTokenizer
from conftest import ORIGINAL_TEST_VOCAB


@pytest.fixture
def wordpiece():
    return WordpieceTokenizer({t: i for i, t in enumerate(ORIGINAL_TEST_VOCAB)})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", []),
        ("unwanted running", ["un", "##want", "##ed", "runn", "##ing"]),
        ("unwantedX running", ["[UNK]", "runn", "##ing"]),
        ("lowest low lo", ["lowest", "low", "[UNK]"]),  # longest match first; "lo" matches nothing
        ("wanted", ["want", "##ed"]),
        ("wa", ["wa"]),
    ],
)
def test_original_table(wordpiece, text, expected):
    assert wordpiece.tokenize(text) == expected


def test_word_length_limit_counts_code_points():
    vocab = {"[UNK]": 0, "a": 1, "##a": 2, "é": 3, "##é": 4}
    wordpiece = WordpieceTokenizer(vocab)
    assert wordpiece.tokenize("a" * 199) == ["a"] + ["##a"] * 198
    assert wordpiece.tokenize("a" * 200) == ["a"] + ["##a"] * 199
    assert wordpiece.tokenize("a" * 201) == ["[UNK]"]
    assert wordpiece.tokenize("é" * 200) == ["é"] + ["##é"] * 199  # 400 bytes, 200 code points
    assert wordpiece.tokenize("é" * 201) == ["[UNK]"]
    assert WordpieceTokenizer(vocab, max_input_chars_per_word=100).tokenize("a" * 101) == ["[UNK]"]
