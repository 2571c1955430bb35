"""CoNLL reading: columns and the tag column, -DOCSTART- and blank lines, tag schemes converted
to IOB2, label lists (given or from the training file), every bad-input message, and the real
CoNLL-2003 files when they sit beside the repository."""

import pathlib

import pytest

from bert_tf.data.conll import (NerFlagError, NerSentence, canonical_tag_scheme, iob2_labels,
                                labels_from_sentences, read_conll, to_iob2)
from bert_tf.data.processors import DataFormatError, MissingDataError

CONLL_DIR = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conll2003"

THREE_COLUMNS = """-DOCSTART- -X- O

EU NNP B-ORG
rejects VBZ O
German JJ B-MISC
call NN O
. . O

Peter NNP B-PER
Blackburn NNP I-PER
"""


def write(tmp_path, text, name="train.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def test_reads_sentences_words_tags_and_first_lines(tmp_path):
    sentences = read_conll(write(tmp_path, THREE_COLUMNS))
    assert sentences == [
        NerSentence(("EU", "rejects", "German", "call", "."),
                    ("B-ORG", "O", "B-MISC", "O", "O"), 3),
        NerSentence(("Peter", "Blackburn"), ("B-PER", "I-PER"), 9)]


def test_any_number_of_columns_tabs_crlf_bom_and_no_final_blank_line(tmp_path):
    text = ("\ufeffEU\tNNP I-NP  B-ORG\r\nrejects VBZ\tI-VP O\r\n\r\n\r\n"
            "-DOCSTART- -X- -X- O\r\nPeter NNP I-NP B-PER")
    sentences = read_conll(write(tmp_path, text))
    assert [s.words for s in sentences] == [("EU", "rejects"), ("Peter",)]
    assert [s.tags for s in sentences] == [("B-ORG", "O"), ("B-PER",)]


def test_docstart_ends_a_sentence_even_without_a_blank_line(tmp_path):
    text = "a X O\nb X B-PER\n-DOCSTART- -X- O\nc X O\n"
    sentences = read_conll(write(tmp_path, text))
    assert [s.words for s in sentences] == [("a", "b"), ("c",)]


def test_a_no_break_space_is_part_of_the_word_not_a_separator(tmp_path):
    sentences = read_conll(write(tmp_path, "New\u00a0York NNP B-LOC\n"))
    assert sentences[0].words == ("New\u00a0York",)


def test_tag_column_picks_another_column(tmp_path):
    path = write(tmp_path, "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_conll(path, tag_column=2)[0].tags == ("B-NP", "B-VP")
    assert read_conll(path, tag_column=-2)[0].tags == ("B-NP", "B-VP")
    assert read_conll(path, tag_column=3)[0].tags == ("B-ORG", "O")


@pytest.mark.parametrize("column", [0, 1.0, True, "2"])
def test_a_tag_column_that_is_not_a_column_index_is_a_flag_error(tmp_path, column):
    with pytest.raises(NerFlagError, match="--tag_column"):
        read_conll(write(tmp_path, THREE_COLUMNS), tag_column=column)


def test_iob1_is_converted_to_iob2():
    iob1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-ORG", "B-ORG", "O", "B-MISC"]
    assert to_iob2(iob1, "IOB1") == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "B-ORG",
                                     "B-ORG", "O", "B-MISC"]


def test_bioes_is_converted_to_iob2():
    bioes = ["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-ORG", "E-ORG"]
    assert to_iob2(bioes, "bioes") == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC", "B-LOC",
                                       "B-ORG", "I-ORG"]


def test_iob2_is_kept_as_written_broken_sequences_included():
    tags = ["I-PER", "O", "B-LOC", "I-ORG"]
    assert to_iob2(tags, "IOB2") == tags


def test_read_converts_with_the_tag_scheme(tmp_path):
    path = write(tmp_path, "Peter X I-PER\nBlackburn X I-PER\nin X O\nBonn X I-LOC\n")
    assert read_conll(path, tag_scheme="iob1")[0].tags == ("B-PER", "I-PER", "O", "B-LOC")
    path = write(tmp_path, "Peter X B-PER\nBlackburn X E-PER\nin X O\nBonn X S-LOC\n",
                 name="bioes.txt")
    assert read_conll(path, tag_scheme="BIOES")[0].tags == ("B-PER", "I-PER", "O", "B-LOC")


@pytest.mark.parametrize("name,canonical", [("IOB1", "IOB1"), ("iob2", "IOB2"), ("BIO", "IOB2"),
                                            ("bioes", "BIOES"), (" IOBES ", "BIOES")])
def test_scheme_spellings(name, canonical):
    assert canonical_tag_scheme(name) == canonical


def test_an_unknown_scheme_names_the_flag(tmp_path):
    with pytest.raises(NerFlagError, match=r"^--tag_scheme='BILOU' is not supported; choose "
                                           r"one of IOB1, IOB2"):
        read_conll(write(tmp_path, THREE_COLUMNS), tag_scheme="BILOU")


def test_a_tag_that_is_not_of_the_scheme_names_file_line_and_tag(tmp_path):
    path = write(tmp_path, "Peter X B-PER\nBlackburn X E-PER\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert str(error.value) == (f"{path}, line 2: tag 'E-PER' is not a tag of the IOB2 scheme "
                                f"(O, or B-, I- followed by a type); is the tag scheme right?")
    for bad in ("PER", "B-", "-PER"):
        with pytest.raises(DataFormatError, match=rf"line 1: tag '{bad}' is not a tag of the IOB2"):
            read_conll(write(tmp_path, f"Peter X {bad}\n", name="bad.txt"))


def test_too_few_columns_names_file_and_line(tmp_path):
    path = write(tmp_path, "EU NNP B-ORG\n\nrejects\n")
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert str(error.value) == (f"{path}, line 3: expected at least 2 columns (the word first, "
                                f"the tag last), found 1")
    assert "\n" not in str(error.value)
    with pytest.raises(DataFormatError, match=r"line 1: expected at least 4 columns .*in "
                                              r"column 3\), found 3"):
        read_conll(write(tmp_path, "EU NNP B-ORG\n", name="three.txt"), tag_column=3)


def test_a_tag_outside_the_label_list_names_file_line_and_tag(tmp_path):
    path = write(tmp_path, THREE_COLUMNS)
    labels = ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    with pytest.raises(DataFormatError) as error:
        read_conll(path, label_list=labels)
    assert str(error.value) == (f"{path}, line 5: tag 'B-MISC' is not one of ['O', 'B-ORG', "
                                f"'I-ORG', 'B-PER', 'I-PER']")


def test_the_label_list_is_checked_as_written_before_conversion(tmp_path):
    path = write(tmp_path, "Peter X S-PER\nin X O\n")
    sentences = read_conll(path, tag_scheme="BIOES", label_list=["O", "S-PER"])
    assert sentences[0].tags == ("B-PER", "O")
    with pytest.raises(DataFormatError, match="line 1: tag 'S-PER' is not one of"):
        read_conll(path, tag_scheme="BIOES", label_list=["O", "B-PER", "I-PER"])


@pytest.mark.parametrize("text", ["", "\n\n  \n", "-DOCSTART- -X- O\n\n-DOCSTART- -X- O\n"])
def test_a_file_without_sentences_is_one_line_error(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError) as error:
        read_conll(path)
    assert str(error.value) == (f"{path}: no sentences (the file is empty or holds only blank "
                                f"and -DOCSTART- lines)")


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = write(tmp_path, b"EU NNP B-ORG\n\nM\xfcller NNP B-PER\n")
    with pytest.raises(DataFormatError, match=rf"^{path}, line 3: not valid UTF-8 \(invalid "
                                              r"start byte at byte 1 of the line\)$"):
        read_conll(path)


def test_a_missing_file_is_a_missing_data_error(tmp_path):
    with pytest.raises(MissingDataError, match="no such file"):
        read_conll(str(tmp_path / "absent.txt"))


def test_labels_from_the_training_file_are_o_first_then_sorted(tmp_path):
    sentences = read_conll(write(tmp_path, THREE_COLUMNS))
    assert labels_from_sentences(sentences) == ["O", "B-MISC", "B-ORG", "B-PER", "I-MISC",
                                                "I-ORG", "I-PER"]
    only_outside = [NerSentence(("a",), ("O",))]
    assert labels_from_sentences(only_outside) == ["O"]


def test_a_given_label_list_in_iob2_keeps_its_order_and_gets_missing_partners():
    assert iob2_labels(["O", "I-PER", "B-PER", "B-LOC"]) == ["O", "I-PER", "B-PER", "B-LOC",
                                                             "I-LOC"]
    assert iob2_labels(["O", "S-PER", "B-PER", "I-PER", "E-PER", "S-LOC"], "BIOES") == [
        "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    # An IOB1 list often has I- tags only; its files convert to B- tags too.
    assert iob2_labels(["O", "I-PER", "I-LOC"], "IOB1") == ["O", "I-PER", "I-LOC", "B-LOC",
                                                            "B-PER"]


def test_a_label_list_entry_not_of_the_scheme_is_a_flag_error():
    with pytest.raises(NerFlagError,
                       match=r"^--label_list: 'E-PER' is not a tag of the IOB2 scheme"):
        iob2_labels(["O", "B-PER", "E-PER"])
    with pytest.raises(NerFlagError, match="--label_list is empty"):
        iob2_labels([])


@pytest.mark.skipif(not CONLL_DIR.is_dir(),
                    reason=f"the real CoNLL-2003 files are absent ({CONLL_DIR}); they sit "
                           f"beside the repository on development machines only")
def test_the_real_conll2003_files():
    train = read_conll(str(CONLL_DIR / "train.txt"))
    labels = labels_from_sentences(train)
    dev = read_conll(str(CONLL_DIR / "dev.txt"), label_list=labels)
    assert (len(train), len(dev)) == (14041, 3250)
    types = ("LOC", "MISC", "ORG", "PER")
    assert labels == ["O"] + [f"{p}-{t}" for p in ("B", "I") for t in types]
    assert labels_from_sentences(dev) == labels
    # Already IOB2: reading it as IOB2 and as IOB1 gives the same tags.
    assert read_conll(str(CONLL_DIR / "dev.txt"), tag_scheme="IOB1") == dev
    assert all(len(s.words) == len(s.tags) > 0 for s in train + dev)
