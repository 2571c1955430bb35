"""FullTokenizer end to end, id conversion, casing inference and input errors."""

import logging

import pytest

from bert_tf.tokenization import FullTokenizer, TextDecodeError, convert_to_unicode
from conftest import ORIGINAL_TEST_VOCAB, write_vocab


def test_original_full_tokenizer(original_test_vocab_file):
    tokenizer = FullTokenizer(original_test_vocab_file, do_lower_case=True)
    tokens = tokenizer.tokenize("UNwant\u00e9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    ids = tokenizer.convert_tokens_to_ids(tokens)
    assert ids == [9, 6, 7, 12, 10, 11]
    assert tokenizer.convert_ids_to_tokens(ids) == tokens
    assert tokenizer.inv_vocab[2] == "[CLS]" and tokenizer.vocab["[SEP]"] == 3


def test_cased_keeps_case(original_test_vocab_file):
    tokenizer = FullTokenizer(original_test_vocab_file, do_lower_case=False)
    assert tokenizer.tokenize("UNwant\u00e9d,running") == ["[UNK]", ",", "runn", "##ing"]


def test_unknown_token_or_id_is_a_clear_key_error(original_test_vocab_file):
    tokenizer = FullTokenizer(original_test_vocab_file)
    with pytest.raises(KeyError, match="token 'zzz' is not in the vocabulary"):
        tokenizer.convert_tokens_to_ids(["want", "zzz"])
    with pytest.raises(KeyError, match="id 999 is not in the vocabulary"):
        tokenizer.convert_ids_to_tokens([999])


def test_bytes_and_bad_bytes(original_test_vocab_file):
    tokenizer = FullTokenizer(original_test_vocab_file)
    assert tokenizer.tokenize("want".encode()) == ["want"]
    with pytest.raises(TextDecodeError, match=r"^text is not valid UTF-8 at byte 2 "):
        tokenizer.tokenize(b"wa\xffnt")


def test_convert_to_unicode_names_the_source():
    with pytest.raises(TextDecodeError, match=r"^train\.tsv:7: text is not valid UTF-8 at byte 1"):
        convert_to_unicode(b"a\xc3(", source="train.tsv:7")
    with pytest.raises(TypeError, match="expected str or UTF-8 bytes, got int"):
        convert_to_unicode(5)
    assert convert_to_unicode("x") == "x"


@pytest.mark.parametrize(
    "folder, expected",
    [("uncased_L-12_H-768_A-12", True), ("uncased_L-2_H-128_A-2", True),
     ("cased_L-12_H-768_A-12", False), ("multi_cased_L-12_H-768_A-12", False),
     ("multilingual_L-12_H-768_A-12", True), ("chinese_L-12_H-768_A-12", True),
     ("my_model", True)],
)
def test_do_lower_case_inferred_from_folder(tmp_path, folder, expected):
    (tmp_path / folder).mkdir()
    path = write_vocab(tmp_path / folder / "vocab.txt", ORIGINAL_TEST_VOCAB)
    assert FullTokenizer(path).do_lower_case is expected


def test_contradicting_flag_is_used_but_warned(tmp_path, caplog):
    (tmp_path / "cased_L-12_H-768_A-12").mkdir()
    path = write_vocab(tmp_path / "cased_L-12_H-768_A-12" / "vocab.txt", ORIGINAL_TEST_VOCAB)
    with caplog.at_level(logging.WARNING):
        tokenizer = FullTokenizer(path, do_lower_case=True)
    assert tokenizer.do_lower_case is True
    assert "do_lower_case=True" in caplog.text and "cased model" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        FullTokenizer(path, do_lower_case=False)
    assert "do_lower_case" not in caplog.text
