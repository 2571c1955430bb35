"""Processors: GLUE/XNLI layouts, custom TSV/CSV, TFDS tasks, the registry and errors."""

import os
import subprocess
import sys
import textwrap

import pytest

from bert_tf.data import (
    CsvProcessor,
    DataFormatError,
    MissingDataError,
    TsvProcessor,
    XnliProcessor,
    get_processor,
)
from data.task_layouts import GLUE_LAYOUTS, MRPC_HEADER, QUOTED, QUOTED2, write_table

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# task -> split -> [(guid, text_a, text_b, label)], from the rows in conftest.GLUE_LAYOUTS.
EXPECTED = {
    "mrpc": {
        "train": [("train-1", QUOTED, QUOTED2, "1"),
                  ("train-2", "Yucaipa owned it .", "Yucaipa bought it .", "0")],
        "dev": [("dev-1", "He is .", "He was .", "1")],
        "test": [("test-1", "PCCW 's chief .", QUOTED, "0"),
                 ("test-2", "The world 's .", "Its share .", "0")],
    },
    "cola": {
        "train": [("train-0", QUOTED, None, "1"), ("train-1", "They drank the pub .", None, "0")],
        "dev": [("dev-0", "The sailors rode the breeze clear of the rocks .", None, "1")],
        "test": [("test-1", "Bill whistled past the house .", None, "0"),
                 ("test-2", QUOTED2, None, "0")],
    },
    "sst2": {
        "train": [("train-1", "hide new secretions ", None, "0"), ("train-2", QUOTED, None, "1")],
        "dev": [("dev-1", "it 's a charming journey . ", None, "1")],
        "test": [("test-1", "uneasy mishmash .", None, "0"), ("test-2", QUOTED2, None, "0")],
    },
    "mnli": {
        "train": [("train-0", QUOTED, "Product and geography .", "neutral"),
                  ("train-1", "You know .", "You lose .", "entailment")],
        "dev": [("dev_matched-9815", "The new rights .", QUOTED2, "neutral")],
        "test": [("test-0", "Hierbas .", "Hierbas is a name .", "contradiction")],
    },
    "qqp": {
        "train": [("train-133273", QUOTED, "How is ?", "0"),
                  ("train-402555", "How do I ?", "How can I ?", "1")],
        "dev": [("dev-201359", "Why are ?", "Why do ?", "1")],
        "test": [("test-0", "Would ?", QUOTED2, "0")],
    },
    "qnli": {
        "train": [("train-0", "When ?", QUOTED, "not_entailment"),
                  ("train-1", "What ?", "This .", "entailment")],
        "dev": [("dev-0", "Who ?", "Him .", "entailment")],
        "test": [("test-0", "Where ?", QUOTED2, "entailment")],
    },
    "rte": {
        "train": [("train-0", QUOTED, "Christopher Reeve had an accident .", "not_entailment")],
        "dev": [("dev-0", "Dana .", "Dana Reeve .", "entailment")],
        "test": [("test-0", "Mangla .", QUOTED2, "entailment")],
    },
    "wnli": {
        "train": [("train-0", QUOTED, "The drain .", "1")],
        "dev": [("dev-0", "The trophy .", "It .", "0")],
        "test": [("test-0", "Maude .", QUOTED2, "0")],
    },
    "stsb": {
        "train": [("train-0", QUOTED, "A plane is taking off .", 5.0),
                  ("train-1", "A man .", "A man plays .", 3.8)],
        "dev": [("dev-0", "A man with a hard hat .", QUOTED2, 5.0)],
        "test": [("test-0", "A girl .", "A girl styles .", 0.0)],
    },
}
LABELS = {"mrpc": ["0", "1"], "cola": ["0", "1"], "sst2": ["0", "1"], "qqp": ["0", "1"],
          "wnli": ["0", "1"], "mnli": ["contradiction", "entailment", "neutral"],
          "qnli": ["entailment", "not_entailment"], "rte": ["entailment", "not_entailment"],
          "stsb": [None]}


def as_tuples(examples):
    return [(e.guid, e.text_a, e.text_b, e.label) for e in examples]


def read_all(processor, data_dir):
    return {"train": as_tuples(processor.get_train_examples(data_dir)),
            "dev": as_tuples(processor.get_dev_examples(data_dir)),
            "test": as_tuples(processor.get_test_examples(data_dir))}


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_glue_processor_reads_the_real_layout(task, glue_dir):
    processor = get_processor(task)
    assert read_all(processor, glue_dir(task)) == EXPECTED[task]
    assert processor.get_labels() == LABELS[task]
    assert processor.is_regression == (task == "stsb")


def test_mnli_mismatched_and_aliases(glue_dir):
    data_dir = glue_dir("mnli")
    got = read_all(get_processor("MNLI_Mismatched"), data_dir)
    assert got["train"] == EXPECTED["mnli"]["train"]
    assert got["dev"] == [("dev_mismatched-7", "Your gift .", "Hundreds .", "contradiction")]
    assert got["test"] == [("test_mismatched-3", "What changes ?", QUOTED, "contradiction")]
    assert type(get_processor("SST-2")) is type(get_processor("sst2"))
    assert get_processor("sts-b").is_regression


def test_xnli_reads_translated_train_and_filters_dev_on_language(xnli_dir):
    zh = XnliProcessor()  # the original's default language
    assert zh.language == "zh" and zh.get_labels() == ["contradiction", "entailment", "neutral"]
    assert read_all(zh, xnli_dir) == {
        "train": [("train-1", "他说 " + QUOTED, "他没说", "contradiction"),
                  ("train-2", "好", "不错", "entailment")],
        "dev": [("dev-2", "我", QUOTED2, "entailment"), ("dev-4", "你", "他", "neutral")],
        "test": [("test-1", "一", "二", "contradiction")],
    }
    de = get_processor("xnli", language="de")
    assert as_tuples(de.get_train_examples(xnli_dir)) == [("train-1", "Ja", "Nein", "neutral")]
    assert as_tuples(de.get_dev_examples(xnli_dir)) == [("dev-3", "c", "d", "contradiction")]
    with pytest.raises(DataFormatError,
                       match=r"xnli\.dev\.tsv, line 5: no examples .*'fr'.*'ar', 'de', 'zh'"):
        XnliProcessor("fr").get_dev_examples(xnli_dir)


# ----------------------------------------------------------------------------- errors


def one_line(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_row_with_too_few_columns_names_file_and_line(tmp_path):
    rows = [MRPC_HEADER, ["1", "1", "2", "a", "b"], ["0", "3", "4", "only a"]]
    path = write_table(tmp_path / "train.tsv", rows)
    with pytest.raises(DataFormatError) as excinfo:
        get_processor("mrpc").get_train_examples(str(tmp_path))
    message = one_line(excinfo)
    assert f"{path}, line 3:" in message
    assert "at least 5 columns" in message and "found 4" in message


@pytest.mark.parametrize("content", ["", "sentence\tlabel\n", "sentence\tlabel\n\n\n"])
def test_empty_train_file(tmp_path, content):
    (tmp_path / "train.tsv").write_text(content)
    with pytest.raises(DataFormatError) as excinfo:
        get_processor("sst2").get_train_examples(str(tmp_path))
    assert "train.tsv, line 1: no examples" in one_line(excinfo)


def test_missing_file_names_the_expected_path(tmp_path, glue_dir):
    data_dir = glue_dir("mnli")
    os.remove(os.path.join(data_dir, "dev_matched.tsv"))
    with pytest.raises(MissingDataError) as excinfo:
        get_processor("mnli").get_dev_examples(data_dir)
    assert os.path.join(data_dir, "dev_matched.tsv") in one_line(excinfo)
    with pytest.raises(MissingDataError, match="train.csv: no such file"):
        CsvProcessor().get_train_examples(str(tmp_path))


def test_glue_label_and_score_errors(tmp_path):
    write_table(tmp_path / "train.tsv",
                [MRPC_HEADER, ["1", "1", "2", "a", "b"], ["yes", "3", "4", "a", "b"]])
    with pytest.raises(DataFormatError,
                       match=r"train\.tsv, line 3: label 'yes' is not one of \['0', '1'\]"):
        get_processor("mrpc").get_train_examples(str(tmp_path))
    rows = GLUE_LAYOUTS["stsb"]["dev.tsv"]
    write_table(tmp_path / "dev.tsv", [rows[0], rows[1][:-1] + ["n/a"]])
    with pytest.raises(DataFormatError, match=r"dev\.tsv, line 2: label 'n/a' is not a number"):
        get_processor("stsb").get_dev_examples(str(tmp_path))


def test_invalid_utf8_names_the_line(tmp_path):
    (tmp_path / "train.tsv").write_bytes(b"sentence\tlabel\ngood\t1\nbad \xff byte\t0\n")
    with pytest.raises(DataFormatError, match=r"train\.tsv, line 3: not valid UTF-8"):
        get_processor("sst2").get_train_examples(str(tmp_path))


def test_registry_errors_name_the_flag():
    with pytest.raises(ValueError, match=r"--task_name='squad' .*'mrpc'.*'stsb'.*'tsv'.*'imdb'"):
        get_processor("squad")
    with pytest.raises(ValueError,
                       match=r"--task_name=mrpc does not take option\(s\) \['label_column'\]"):
        get_processor("mrpc", label_column=2)
    # None-valued options are ignored, so a script may always pass the custom flags.
    assert isinstance(get_processor("tsv", text_b_column=None), TsvProcessor)
    assert isinstance(get_processor("mrpc", label_list=None), type(get_processor("mrpc")))


# ----------------------------------------------------------------------------- custom TSV / CSV


def test_tsv_without_header_by_index_derives_sorted_labels(tmp_path):
    write_table(tmp_path / "train.tsv",
                [["pos", 'a "great" film'], ["neg", "dull"], ["meh", "so so"]])
    write_table(tmp_path / "dev.tsv", [["neg", "bad"]])
    write_table(tmp_path / "test.tsv", [["x", "unlabelled one"]])
    processor = get_processor("tsv", text_a_column=1, label_column=0)
    with pytest.raises(ValueError, match="read the train examples first or pass --label_list"):
        processor.get_labels()
    assert processor.get_labels(str(tmp_path)) == ["meh", "neg", "pos"]
    train = as_tuples(processor.get_train_examples(str(tmp_path)))
    assert train[0] == ("train-0", 'a "great" film', None, "pos") and len(train) == 3
    assert as_tuples(processor.get_dev_examples(str(tmp_path))) == [("dev-0", "bad", None, "neg")]
    test = as_tuples(processor.get_test_examples(str(tmp_path)))
    assert test == [("test-0", "unlabelled one", None, "meh")]


def test_tsv_with_header_by_name_pair_task_and_test_without_label(tmp_path):
    header = ["id", "question", "answer", "is_match"]
    write_table(tmp_path / "train.tsv",
                [header, ["7", "Why ?", "Because .", "yes"], ["8", "Who ?", "Me .", "no"]])
    write_table(tmp_path / "dev.tsv", [header, ["9", "When ?", "Now .", "no"]])
    write_table(tmp_path / "test.tsv", [["id", "question", "answer"], ["1", "How ?", "So ."]])
    processor = TsvProcessor(text_a_column="question", text_b_column="answer",
                             label_column="is_match", label_list=["no", "yes"], has_header=True)
    assert read_all(processor, str(tmp_path)) == {
        "train": [("train-0", "Why ?", "Because .", "yes"), ("train-1", "Who ?", "Me .", "no")],
        "dev": [("dev-0", "When ?", "Now .", "no")],
        "test": [("test-0", "How ?", "So .", "no")],
    }
    wrong_name = TsvProcessor(text_a_column="text", label_column="is_match", has_header=True)
    with pytest.raises(DataFormatError,
                       match=r"train\.tsv, line 1: no column named 'text' .*\['id', 'question'"):
        wrong_name.get_train_examples(str(tmp_path))
    with pytest.raises(DataFormatError, match="is a column name but the files have no header"):
        TsvProcessor(text_a_column="question", label_column=3).get_train_examples(str(tmp_path))


def test_csv_with_header_handles_quoting_and_multiline_fields(tmp_path):
    (tmp_path / "train.csv").write_text(
        'id,review,sentiment\n1,"Long, ""quoted""\nreview",positive\n2,short,negative\n',
        encoding="utf-8")
    (tmp_path / "dev.csv").write_text('id,review,sentiment\n3,"a,b",negative\n', encoding="utf-8")
    (tmp_path / "test.csv").write_text('id,review\n4,"x ""y"""\n', encoding="utf-8")
    processor = CsvProcessor(text_a_column="review", label_column="sentiment", has_header=True)
    assert read_all(processor, str(tmp_path)) == {
        "train": [("train-0", 'Long, "quoted"\nreview', None, "positive"),
                  ("train-1", "short", None, "negative")],
        "dev": [("dev-0", "a,b", None, "negative")],
        "test": [("test-0", 'x "y"', None, "negative")],
    }
    assert processor.get_labels() == ["negative", "positive"]


def test_csv_by_index_label_errors_and_line_numbers_after_multiline_rows(tmp_path):
    (tmp_path / "train.csv").write_text('"multi\nline",1\nok,0\n', encoding="utf-8")
    (tmp_path / "dev.csv").write_text('"two\nlines",1\nfine,0\nnew,2\n', encoding="utf-8")
    processor = CsvProcessor(text_a_column=0, label_column="1", label_list=["0", "1"])
    assert [e.label for e in processor.get_train_examples(str(tmp_path))] == ["1", "0"]
    with pytest.raises(DataFormatError) as excinfo:
        processor.get_dev_examples(str(tmp_path))
    message = one_line(excinfo)
    assert "dev.csv, line 4:" in message and "label '2' is not one of ['0', '1']" in message
    (tmp_path / "dev.csv").write_text('a,1\nb\n', encoding="utf-8")
    with pytest.raises(DataFormatError,
                       match=r"dev\.csv, line 2: expected at least 2 columns \(comma-separated\)"):
        processor.get_dev_examples(str(tmp_path))
    (tmp_path / "train.csv").write_text('a,1\nb,\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train\.csv, line 2: empty label"):
        CsvProcessor().get_train_examples(str(tmp_path))


def test_custom_label_not_in_derived_list(tmp_path):
    write_table(tmp_path / "train.tsv", [["a", "x"], ["b", "y"]])
    write_table(tmp_path / "dev.tsv", [["c", "z"]])
    with pytest.raises(DataFormatError,
                       match=r"dev\.tsv, line 1: label 'z' is not one of \['x', 'y'\]"):
        TsvProcessor().get_dev_examples(str(tmp_path))  # derives the labels from train itself



def test_label_error_stays_one_short_line_when_the_label_column_is_text(tmp_path):
    # The wrong --label_column (a review text) derives hundreds of long "labels" from train;
    # the error names the file and line and stays short (it printed ~250 KB before).
    reviews = [f"review number {i} " + "words " * 60 for i in range(300)]
    write_table(tmp_path / "train.tsv", [[r, r] for r in reviews])
    write_table(tmp_path / "dev.tsv", [["x", "an unseen review " + "text " * 80]])
    with pytest.raises(DataFormatError) as info:
        TsvProcessor().get_dev_examples(str(tmp_path))
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    assert "dev.tsv, line 1: label 'an unseen review" in message
    assert "the 300 labels ['review number 0 words" in message and "...]" in message

def test_custom_regression(tmp_path):
    write_table(tmp_path / "train.tsv", [["s", "score"], ["a", "0.5"], ["b", "2"]])
    write_table(tmp_path / "test.tsv", [["s"], ["c"]])
    processor = TsvProcessor(text_a_column="s", label_column="score", has_header=True,
                             is_regression=True)
    assert [e.label for e in processor.get_train_examples(str(tmp_path))] == [0.5, 2.0]
    assert as_tuples(processor.get_test_examples(str(tmp_path))) == [("test-0", "c", None, 0.0)]
    assert processor.get_labels() == [None]


# ----------------------------------------------------------------------------- TFDS


def test_tfds_task_fails_fast_and_clearly_when_not_prepared(tmp_path):
    # The failure is timed inside the process, after the import (TF's import alone takes several
    # seconds, more under a parallel test run): what must be fast is the failure, with no
    # download attempt.
    code = textwrap.dedent(f"""
        import time
        from bert_tf.data import get_processor, MissingDataError
        start = time.perf_counter()
        for task in ("imdb", "glue/mrpc"):
            try:
                get_processor(task).get_train_examples({str(tmp_path)!r})
            except MissingDataError as e:
                print(e)
        print(time.perf_counter() - start)
    """)
    pythonpath = os.pathsep.join(filter(None, (REPO_ROOT, os.environ.get("PYTHONPATH"))))
    env = dict(os.environ, PYTHONPATH=pythonpath)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    *lines, elapsed = proc.stdout.splitlines()
    assert lines == [
        f"TFDS dataset 'imdb_reviews' is not prepared in {tmp_path}: run "
        f"`tfds build imdb_reviews --data_dir={tmp_path}` on a machine with internet access",
        f"TFDS dataset 'glue/mrpc' is not prepared in {tmp_path}: run "
        f"`tfds build glue/mrpc --data_dir={tmp_path}` on a machine with internet access",
    ]
    assert float(elapsed) < 5.0, f"the two failures took {float(elapsed):.1f} s after the import"


def test_tfds_tasks_read_prepared_data(tmp_path):
    tf = pytest.importorskip("tensorflow")
    tfds = pytest.importorskip("tensorflow_datasets")

    def prepare(name, config, version, features, splits):
        tfds.dataset_builders.TfDataBuilder(
            name=name, config=config, version=version, data_dir=str(tmp_path),
            split_datasets={k: tf.data.Dataset.from_tensor_slices(v) for k, v in splits.items()},
            features=tfds.features.FeaturesDict(features)).download_and_prepare()

    prepare("imdb_reviews", "plain_text", "1.0.0",
            {"text": tfds.features.Text(),
             "label": tfds.features.ClassLabel(names=["neg", "pos"])},
            {"train": {"text": ['a "fine" film', "dull"], "label": [1, 0]},
             "test": {"text": ["meh"], "label": [0]}})
    imdb = get_processor("imdb")
    assert imdb.get_labels() == ["neg", "pos"]
    assert as_tuples(imdb.get_train_examples(str(tmp_path))) == [
        ("train-0", 'a "fine" film', None, "pos"), ("train-1", "dull", None, "neg")]
    assert as_tuples(imdb.get_dev_examples(str(tmp_path))) == [("dev-0", "meh", None, "neg")]

    pair = {"sentence1": tfds.features.Text(), "sentence2": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=["not_equivalent", "equivalent"]),
            "idx": tf.int32}
    prepare("glue", "mrpc", "2.0.0", pair, {
        "train": {"sentence1": ["a"], "sentence2": ["b"], "label": [1], "idx": [0]},
        "validation": {"sentence1": ["c"], "sentence2": ["d"], "label": [0], "idx": [0]},
        "test": {"sentence1": ["e"], "sentence2": ["f"], "label": [-1], "idx": [0]}})
    mrpc = get_processor("glue/mrpc")
    assert read_all(mrpc, str(tmp_path)) == {
        "train": [("train-0", "a", "b", "equivalent")],
        "dev": [("dev-0", "c", "d", "not_equivalent")],
        "test": [("test-0", "e", "f", "not_equivalent")],
    }
