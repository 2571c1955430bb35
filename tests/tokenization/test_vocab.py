"""load_vocab: the original's line semantics and one-line errors for unusable files."""

import re

import pytest

from bert_tf.tokenization import REQUIRED_TOKENS, VocabError, load_vocab
from conftest import write_vocab


def test_ids_are_line_numbers(original_test_vocab_file):
    vocab = load_vocab(original_test_vocab_file)
    assert list(vocab)[:4] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    assert vocab["lowest"] == 14 and len(vocab) == 15


def test_original_line_semantics(tmp_path):
    path = tmp_path / "vocab.txt"
    # CRLF endings, surrounding spaces stripped, a blank line is the token "", a duplicate keeps
    # its first position but takes the last id, no trailing newline needed.
    path.write_bytes(b"[PAD]\r\n[UNK]\n  [CLS] \n\n[SEP]\nx\nx\ny")
    vocab = load_vocab(path)
    assert list(vocab.items()) == [("[PAD]", 0), ("[UNK]", 1), ("[CLS]", 2), ("", 3),
                                   ("[SEP]", 4), ("x", 6), ("y", 7)]


def test_missing_file(tmp_path):
    with pytest.raises(VocabError, match=r"nope\.txt: cannot read vocabulary file"):
        load_vocab(tmp_path / "nope.txt")


def test_empty_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"")
    with pytest.raises(VocabError, match=r"vocab\.txt: vocabulary file is empty"):
        load_vocab(path)


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n[UNK]\ncaf\xe9\n[CLS]\n[SEP]\n")
    with pytest.raises(VocabError, match=r"vocab\.txt:3: not valid UTF-8 at byte 3"):
        load_vocab(path)


@pytest.mark.parametrize("missing", REQUIRED_TOKENS)
def test_missing_special_token(tmp_path, missing):
    path = write_vocab(tmp_path / "vocab.txt", [t for t in REQUIRED_TOKENS if t != missing] + ["a"])
    with pytest.raises(VocabError, match=r"lacks the special token\(s\) " + re.escape(missing)):
        load_vocab(path)


def test_errors_are_one_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"\xff\n")
    with pytest.raises(VocabError) as info:
        load_vocab(path)
    assert "\n" not in str(info.value)
