"""Processors for the GLUE TSV layouts and XNLI, read as the original reads them.

Each GLUE processor is a column map of its files (the layouts of the GLUE
download script, REFERENCE.md section 4): which columns hold text_a, text_b
and the label in train/dev, which hold the texts in test, whether a file
starts with a header, and where the guid number comes from (the row index,
as the original MRPC/CoLA processors do, or the file's own id column, as the
MNLI processor does). Test rows get the first label as a placeholder.

Each also says what GLUE's leaderboard wants back: `submission` (the file name
stem, "MRPC" -> MRPC.tsv), `index_header` (the test file's first column, whose
values the submission repeats), `extra_metrics` (GLUE scores beyond accuracy,
e.g. CoLA's Matthews correlation) and, for MNLI, `companion` (the mismatched
sets that GLUE evaluates beside the matched ones).

Example:

```python
processor = MnliProcessor()
dev = processor.get_dev_examples("glue_data/MNLI")   # reads dev_matched.tsv
dev[0].guid                                          # "dev_matched-0"
```
"""

import os

from bert_tf.data.processors import (
    DataProcessor,
    check_label,
    data_error,
    parse_float_label,
    read_rows,
    require_columns,
    require_file,
)
from bert_tf.tokenization.packing import short_repr
from bert_tf.tokenization.examples import InputExample

_SPLITS = ("train", "dev", "test")


class GlueProcessor(DataProcessor):
    """A GLUE task described by its column layout (subclasses set the attributes).

    Attributes:
        labels: the label list (for regression: (None,)).
        files: split -> file name inside data_dir.
        set_types: split -> the guid prefix.
        headers: splits whose first line is a header (skipped).
        text_a, text_b, label: columns of train/dev (negative = from the end).
        test_text_a, test_text_b: columns of test.
        guid_column: None to number guids by row index (header included, as
            the original `enumerate(lines)`), else the column holding the id.
        layout: a human description of the columns for error messages.
        submission: the GLUE leaderboard file name without ".tsv" (None: no file).
        index_header: the header of the test file's first column (its row ids).
        extra_metrics: metric names beyond accuracy/F1 (see training.metrics).
        companion: a processor class evaluated and predicted beside this one.
    """

    labels = ("0", "1")
    files = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
    set_types = {"train": "train", "dev": "dev", "test": "test"}
    headers = frozenset(_SPLITS)
    text_a, text_b, label = 0, None, 1
    test_text_a, test_text_b = 0, None
    guid_column = None
    layout = ""
    submission = None
    index_header = "index"
    extra_metrics = ()
    companion = None

    def get_labels(self, data_dir=None):
        return list(self.labels)

    def path_of(self, data_dir, split):
        return os.path.join(data_dir, self.files[split])

    def require_split(self, data_dir, split):
        """Raises `MissingDataError` naming the file if `split`'s file is absent."""
        name = self.layout.split(":")[0]
        return require_file(self.path_of(data_dir, split),
                            f"the {name} {split} file {self.files[split]} of the GLUE download")

    def test_index(self, data_dir):
        """The test file's `index` column (QQP: `id`), one string per test row, in order.

        Raises:
            DataFormatError: the file does not start with that column (e.g. a dev-layout
                file given as the test file), naming the file and line 1.
        """
        path = self.path_of(data_dir, "test")
        rows = read_rows(path)
        if not rows or rows[0][1][0].strip() != self.index_header:
            found = short_repr(rows[0][1][0]) if rows else "an empty file"
            raise data_error(path, rows[0][0] if rows else 1,
                             f"expected a header whose first column is `{self.index_header}` "
                             f"(a GLUE test file's row ids, repeated in {self.submission}.tsv), "
                             f"found {found}")
        return [fields[0] for _, fields in rows[1:]]

    def _columns(self, split):
        if split == "test":
            return self.test_text_a, self.test_text_b, None
        return self.text_a, self.text_b, self.label

    def _create_examples(self, data_dir, split):
        path = self.path_of(data_dir, split)
        rows = read_rows(path)
        text_a, text_b, label_col = self._columns(split)
        used = [c for c in (text_a, text_b, label_col, self.guid_column) if c is not None]
        needed = max([c + 1 for c in used if c >= 0] or [1])
        if any(c < 0 for c in used):
            needed += 1  # a label counted from the end lies past the text columns
        examples = []
        for index, (line, fields) in enumerate(rows):
            if index == 0 and split in self.headers:
                continue
            require_columns(path, line, fields, needed, f"tab-separated, {self.layout}")
            guid_number = index if self.guid_column is None else fields[self.guid_column]
            if split == "test":
                label = 0.0 if self.is_regression else self.labels[0]
            elif self.is_regression:
                label = parse_float_label(path, line, fields[label_col])
            else:
                label = fields[label_col]
                check_label(path, line, label, self.labels)
            examples.append(
                InputExample(
                    guid=f"{self.set_types[split]}-{guid_number}",
                    text_a=fields[text_a],
                    text_b=None if text_b is None else fields[text_b],
                    label=label,
                )
            )
        return self._require_examples(examples, path, rows)


class MrpcProcessor(GlueProcessor):
    """MRPC: `Quality  #1 ID  #2 ID  #1 String  #2 String`; test has `index` first."""

    submission = "MRPC"

    text_a, text_b, label = 3, 4, 0
    test_text_a, test_text_b = 3, 4
    layout = "MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String"


class ColaProcessor(GlueProcessor):
    """CoLA: train/dev without header (source, label, mark, sentence); test `index sentence`."""

    submission = "CoLA"
    extra_metrics = ("mcc",)

    headers = frozenset({"test"})
    text_a, label = 3, 1
    test_text_a = 1
    layout = "CoLA: source, label, original mark, sentence"


class Sst2Processor(GlueProcessor):
    """SST-2: `sentence  label`; test `index  sentence`."""

    submission = "SST-2"

    text_a, label = 0, 1
    test_text_a = 1
    layout = "SST-2: sentence, label (test: index, sentence)"


class MnliMatchedProcessor(GlueProcessor):
    """MNLI matched only: sentence1/sentence2 in columns 8/9, gold label last."""

    labels = ("contradiction", "entailment", "neutral")
    files = {"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv"}
    set_types = {"train": "train", "dev": "dev_matched", "test": "test"}
    text_a, text_b, label = 8, 9, -1
    test_text_a, test_text_b = 8, 9
    guid_column = 0
    layout = "MNLI: index, promptID, pairID, genre, 4 parses, sentence1, sentence2, ..., gold_label"
    submission = "MNLI-m"


class MnliMismatchedProcessor(MnliMatchedProcessor):
    """MNLI mismatched: the MNLI train set, dev/test from the *_mismatched files."""

    files = {"train": "train.tsv", "dev": "dev_mismatched.tsv", "test": "test_mismatched.tsv"}
    set_types = {"train": "train", "dev": "dev_mismatched", "test": "test_mismatched"}
    submission = "MNLI-mm"


class MnliProcessor(MnliMatchedProcessor):
    """MNLI as GLUE scores it: train and matched dev/test, plus the mismatched dev/test
    (`companion`), which run_classifier evaluates and predicts beside them."""

    companion = MnliMismatchedProcessor


class DiagnosticProcessor(MnliMatchedProcessor):
    """GLUE's diagnostic set (AX): `index sentence1 sentence2`, predicted by an MNLI model.

    Args:
        path: the diagnostic file (GLUE's download: diagnostic/diagnostic.tsv).
    """

    test_text_a, test_text_b = 1, 2
    layout = "AX: index, sentence1, sentence2"
    submission = "AX"

    def __init__(self, path):
        self.files = {"test": os.path.basename(path)}
        self.folder = os.path.dirname(os.path.abspath(path))
        self.set_types = {"test": "ax"}

    def get_test_examples(self, data_dir=None):
        return self._create_examples(self.folder, "test")

    def test_index(self, data_dir=None):
        return super().test_index(self.folder)

    def path_of(self, data_dir, split):
        return os.path.join(self.folder, self.files[split])


class QqpProcessor(GlueProcessor):
    """QQP: `id qid1 qid2 question1 question2 is_duplicate`; test `id question1 question2`."""

    submission = "QQP"
    index_header = "id"

    text_a, text_b, label = 3, 4, 5
    test_text_a, test_text_b = 1, 2
    guid_column = 0
    layout = "QQP: id, qid1, qid2, question1, question2, is_duplicate"


class QnliProcessor(GlueProcessor):
    """QNLI: `index question sentence label`."""

    submission = "QNLI"

    labels = ("entailment", "not_entailment")
    text_a, text_b, label = 1, 2, -1
    test_text_a, test_text_b = 1, 2
    guid_column = 0
    layout = "QNLI: index, question, sentence, label"


class RteProcessor(QnliProcessor):
    """RTE: `index sentence1 sentence2 label` (entailment / not_entailment)."""

    submission = "RTE"

    layout = "RTE: index, sentence1, sentence2, label"


class WnliProcessor(QnliProcessor):
    """WNLI: as RTE with labels 0/1."""

    submission = "WNLI"

    labels = ("0", "1")
    layout = "WNLI: index, sentence1, sentence2, label"


class StsbProcessor(GlueProcessor):
    """STS-B: regression on the float score in column 9; sentences in 7/8."""

    submission = "STS-B"

    labels = (None,)
    is_regression = True
    text_a, text_b, label = 7, 8, 9
    test_text_a, test_text_b = 7, 8
    guid_column = 0
    layout = ("STS-B: index, genre, filename, year, old_index, source1, source2, sentence1, "
              "sentence2, score")


class XnliProcessor(DataProcessor):
    """XNLI: machine-translated MultiNLI train, multilingual dev/test.

    Train is `multinli/multinli.train.<language>.tsv` (header; premise,
    hypo, label; "contradictory" means "contradiction"). Dev and test are
    `xnli.dev.tsv` / `xnli.test.tsv` (header; language in column 0, gold label
    in 1, sentence1/sentence2 in 6/7), filtered on `language`.

    Args:
        language: the XNLI language code (the original's default is "zh").
    """

    labels = ("contradiction", "entailment", "neutral")

    def __init__(self, language="zh"):
        self.language = language

    def get_labels(self, data_dir=None):
        return list(self.labels)

    def get_train_examples(self, data_dir):
        path = os.path.join(data_dir, "multinli", f"multinli.train.{self.language}.tsv")
        rows = read_rows(path)
        examples = []
        for index, (line, fields) in enumerate(rows):
            if index == 0:
                continue
            require_columns(path, line, fields, 3, "tab-separated, XNLI train: premise, hypo, "
                                                   "label")
            label = "contradiction" if fields[2] == "contradictory" else fields[2]
            check_label(path, line, label, self.labels)
            examples.append(InputExample(f"train-{index}", fields[0], fields[1], label))
        return self._require_examples(examples, path, rows)

    def get_dev_examples(self, data_dir):
        return self._multilingual(os.path.join(data_dir, "xnli.dev.tsv"), "dev")

    def get_test_examples(self, data_dir):
        return self._multilingual(os.path.join(data_dir, "xnli.test.tsv"), "test")

    def _multilingual(self, path, split):
        rows = read_rows(path)
        examples, languages = [], set()
        for index, (line, fields) in enumerate(rows):
            if index == 0:
                continue
            require_columns(path, line, fields, 8, "tab-separated, XNLI: language, gold_label, "
                                                   "4 parses, sentence1, sentence2")
            languages.add(fields[0])
            if fields[0] != self.language:
                continue
            if split == "test":
                label = self.labels[0]
            else:
                label = fields[1]
                check_label(path, line, label, self.labels)
            examples.append(InputExample(f"{split}-{index}", fields[6], fields[7], label))
        return self._require_examples(
            examples, path, rows,
            f"no row has language {self.language!r}; found {sorted(languages)}",
        )


GLUE_PROCESSORS = {
    "cola": ColaProcessor,
    "sst2": Sst2Processor,
    "mrpc": MrpcProcessor,
    "stsb": StsbProcessor,
    "qqp": QqpProcessor,
    "mnli": MnliProcessor,
    "mnli_matched": MnliMatchedProcessor,
    "mnli_mismatched": MnliMismatchedProcessor,
    "qnli": QnliProcessor,
    "rte": RteProcessor,
    "wnli": WnliProcessor,
    "xnli": XnliProcessor,
}

