"""What the GLUE processors say about the leaderboard: submission names, the test files' index
column, the MNLI matched/mismatched pairing, the diagnostic (AX) set and the split checks."""

import os

import pytest
from data.task_layouts import GLUE_LAYOUTS, write_table

from bert_tf.data.glue import (DiagnosticProcessor, MnliMatchedProcessor,
                               MnliMismatchedProcessor, MnliProcessor)
from bert_tf.data.processors import DataFormatError, MissingDataError, get_processor

SUBMISSIONS = {"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B", "qqp": "QQP",
               "mnli": "MNLI-m", "mnli_matched": "MNLI-m", "mnli_mismatched": "MNLI-mm",
               "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI"}


@pytest.mark.parametrize("task", sorted(GLUE_LAYOUTS))
def test_test_index_is_the_first_column_of_every_test_row(task, glue_dir):
    data_dir = glue_dir(task)
    processor = get_processor(task)
    name = "test_matched.tsv" if task == "mnli" else "test.tsv"
    expected = [row[0] for row in GLUE_LAYOUTS[task][name][1:]]
    assert processor.test_index(data_dir) == expected
    assert len(expected) == len(processor.get_test_examples(data_dir))


def test_submission_names_and_extra_metrics():
    assert {t: get_processor(t).submission for t in SUBMISSIONS} == SUBMISSIONS
    assert get_processor("xnli").__class__.__name__ == "XnliProcessor"
    assert getattr(get_processor("xnli"), "submission", None) is None
    assert get_processor("cola").extra_metrics == ("mcc",)
    assert all(get_processor(t).extra_metrics == () for t in SUBMISSIONS if t != "cola")
    assert get_processor("qqp").index_header == "id"


def test_mnli_pairs_matched_with_mismatched():
    assert type(get_processor("MNLI")) is MnliProcessor
    assert MnliProcessor.companion is MnliMismatchedProcessor
    assert type(get_processor("mnli-m")) is MnliMatchedProcessor
    assert MnliMatchedProcessor.companion is None and MnliMismatchedProcessor.companion is None


def test_test_file_without_its_index_column(tmp_path):
    rows = GLUE_LAYOUTS["mrpc"]["dev.tsv"]  # dev layout: first column `Quality`
    path = write_table(tmp_path / "test.tsv", rows)
    with pytest.raises(DataFormatError) as excinfo:
        get_processor("mrpc").test_index(str(tmp_path))
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}, line 1: expected a header whose first column is `index`")
    assert "MRPC.tsv" in message and "'Quality'" in message
    write_table(tmp_path / "test.tsv", [["index", "question1", "question2"], ["0", "a", "b"]])
    with pytest.raises(DataFormatError, match="first column is `id`.*found 'index'"):
        get_processor("qqp").test_index(str(tmp_path))


def test_require_split_names_the_missing_file(glue_dir):
    data_dir = glue_dir("mnli")
    os.remove(os.path.join(data_dir, "dev_mismatched.tsv"))
    assert get_processor("mnli").require_split(data_dir, "dev").endswith("dev_matched.tsv")
    with pytest.raises(MissingDataError) as excinfo:
        MnliMismatchedProcessor().require_split(data_dir, "dev")
    assert str(excinfo.value) == (f"{os.path.join(data_dir, 'dev_mismatched.tsv')}: no such file "
                                  f"(expected the MNLI dev file dev_mismatched.tsv of the GLUE "
                                  f"download)")


def test_diagnostic_set_reads_index_and_sentence_pairs(tmp_path):
    path = write_table(tmp_path / "diagnostic" / "diagnostic.tsv",
                       [["index", "sentence1", "sentence2"], ["0", "The cat sat .", "A cat sat ."],
                        ["1", 'He said "hi', "He spoke ."]])
    ax = DiagnosticProcessor(str(path))
    examples = ax.get_test_examples()
    assert [(e.guid, e.text_a, e.text_b) for e in examples] == [
        ("ax-0", "The cat sat .", "A cat sat ."), ("ax-1", 'He said "hi', "He spoke .")]
    assert ax.test_index() == ["0", "1"] and ax.submission == "AX"
    assert ax.get_labels() == ["contradiction", "entailment", "neutral"]
