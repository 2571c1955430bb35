"""predictions.txt: the exact CoNLL text (WORD GOLD PRED, a blank line after each sentence), read
back by the CoNLL reader, label ids to tags, and the atomic write (a failure leaves an older
file as it was and no temporary file)."""

import os

import pytest

from bert_tf.data.conll import NerSentence, read_conll
from bert_tf.ner.predictions import (PREDICTIONS_FILENAME, format_predictions, tags_from_ids,
                                     write_predictions)

SENTENCES = [NerSentence(("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"), 3),
             NerSentence(("Peter", "Blackburn"), ("B-PER", "I-PER"), 9)]
PREDICTED = [["B-ORG", "O", "B-LOC"], ["B-PER", "O"]]


def test_the_text_is_word_gold_pred_with_a_blank_line_after_each_sentence():
    assert format_predictions(SENTENCES, PREDICTED) == (
        "EU B-ORG B-ORG\nrejects O O\nGerman B-MISC B-LOC\n\n"
        "Peter B-PER B-PER\nBlackburn I-PER O\n\n")


def test_written_file_reads_back_as_gold_and_predictions(tmp_path):
    path = write_predictions(tmp_path / "out" / PREDICTIONS_FILENAME, SENTENCES, PREDICTED)
    assert path == str(tmp_path / "out" / "predictions.txt")
    gold = read_conll(path, tag_column=1)
    predicted = read_conll(path)
    assert [s.words for s in gold] == [s.words for s in SENTENCES]
    assert [list(s.tags) for s in gold] == [list(s.tags) for s in SENTENCES]
    assert [list(s.tags) for s in predicted] == PREDICTED


def test_label_ids_to_tags():
    labels = ["O", "B-PER", "I-PER"]
    assert tags_from_ids([[1, 2, 0], []], labels) == [["B-PER", "I-PER", "O"], []]


@pytest.mark.parametrize("predicted,message", [
    ([["O", "O", "O"]], "2 sentences but predictions for 1"),
    ([["O", "O", "O"], ["O"]], r"sentence 1 \(line 9\) has 2 words but 1 predicted tags"),
    ([["O", "O", "B LOC"], ["O", "O"]], r"sentence 0 \(line 3\): 'B LOC' is empty or holds a "
                                        r"blank"),
])
def test_a_failed_write_leaves_the_older_file_and_no_temporary_one(tmp_path, predicted,
                                                                   message):
    path = tmp_path / "predictions.txt"
    write_predictions(path, SENTENCES, PREDICTED)
    before = path.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        write_predictions(path, SENTENCES, predicted)
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.txt"]


def test_a_word_with_a_tab_cannot_be_written():
    sentences = [NerSentence(("New\tYork",), ("B-LOC",), 1)]
    with pytest.raises(ValueError, match="holds a blank"):
        format_predictions(sentences, [["B-LOC"]])


def test_the_file_is_moved_into_place_from_its_own_folder(tmp_path, monkeypatch):
    path = tmp_path / "predictions.txt"
    write_predictions(path, SENTENCES, PREDICTED)
    before = path.read_text(encoding="utf-8")
    moves = []

    def failing_replace(source, target):
        moves.append((os.path.dirname(source), str(target)))
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_predictions(path, SENTENCES[:1], PREDICTED[:1])
    assert moves == [(str(tmp_path), str(path))]
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.txt"]
