"""Task processors: files in a data directory -> lists of `InputExample`.

The base `DataProcessor` keeps the API of the original `run_classifier.py`
(`get_train_examples(data_dir)`, `get_dev_examples`, `get_test_examples`,
`get_labels`) and its file reading: `csv.reader(f, delimiter="\\t",
quotechar=None)`, so a `"` inside a GLUE sentence stays a literal character.
Unlike the original, bad input fails with a one-line `DataFormatError` that
names the file and the 1-based line instead of an `IndexError` or a `KeyError`
deep inside feature conversion.

`get_processor(task_name)` maps the `--task_name` flag to a processor.

Example:

```python
processor = get_processor("mrpc")
train = processor.get_train_examples("glue_data/MRPC")
label_list = processor.get_labels()        # ["0", "1"]
```
"""

import csv
import inspect
import io
import os
import sys

from bert_tf.tokenization.packing import describe_labels, short_repr

# Long documents (reviews, articles) exceed csv's default 128 KiB field limit.
_FIELD_SIZE_LIMIT = min(sys.maxsize, 2**31 - 1)


class DataFormatError(ValueError):
    """Bad task data; the message is one line naming the file (and line)."""


class MissingDataError(DataFormatError):
    """A data file (or a prepared TFDS dataset) that a task needs is absent."""


def data_error(path, line, message):
    """A `DataFormatError` whose message reads "<path>, line <n>: <message>"."""
    return DataFormatError(f"{path}, line {line}: {message}")


def _is_remote(path):
    return "://" in str(path)


def _exists(path):
    if _is_remote(path):
        import tensorflow as tf  # only remote paths (gs://...) need TF's file system

        return tf.io.gfile.exists(path)
    return os.path.isfile(path)


def _open_binary(path):
    if _is_remote(path):
        import tensorflow as tf

        # Read whole: GFile is not an io.RawIOBase, and the text layer below needs one.
        with tf.io.gfile.GFile(path, "rb") as f:
            return io.BytesIO(f.read())
    return open(path, "rb")


def _open_text(path):
    # utf-8-sig: a BOM would otherwise end up glued to the first header name.
    if _is_remote(path):
        return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", newline="")
    return open(path, "r", encoding="utf-8-sig", newline="")


def _first_bad_utf8_line(path):
    with _open_binary(path) as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def require_file(path, what):
    """Raises `MissingDataError` naming `path` if it is not a file."""
    if not _exists(path):
        raise MissingDataError(f"{path}: no such file (expected {what})")
    return path


def read_rows(path, delimiter="\t", quotechar=None):
    """Reads a delimited text file with the original's csv semantics.

    Args:
        path: the file (local, or any `tf.io.gfile` URL such as gs://).
        delimiter: field separator.
        quotechar: None (the original's TSV reading: quotes are literal) or
            a quote character (CSV).

    Returns:
        A list of `(line_number, fields)`; `line_number` is the 1-based line
        on which the row starts. Blank lines are skipped.

    Raises:
        MissingDataError: the file does not exist.
        DataFormatError: the file is not UTF-8 or is not parseable.
    """
    require_file(path, "a data file")
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_SIZE_LIMIT))
    quoting = csv.QUOTE_NONE if quotechar is None else csv.QUOTE_MINIMAL
    rows = []
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter, quotechar=quotechar, quoting=quoting)
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError as e:
                line = _first_bad_utf8_line(path)
                raise data_error(path, line, f"not valid UTF-8 ({e.reason})") from None
            except csv.Error as e:
                raise data_error(path, start, f"cannot parse the row ({e})") from None
            if fields:
                rows.append((start, fields))
    return rows


def require_columns(path, line, fields, needed, layout):
    """Raises a `DataFormatError` if the row has fewer than `needed` fields."""
    if len(fields) < needed:
        raise data_error(
            path,
            line,
            f"expected at least {needed} columns ({layout}), found {len(fields)}",
        )


def check_label(path, line, label, label_list):
    """Raises a `DataFormatError` if `label` is not one of `label_list`."""
    if label not in label_list:
        raise data_error(path, line, f"label {short_repr(label)} is not one of "
                                     f"{describe_labels(label_list)}")


def parse_float_label(path, line, text):
    """The float target of a regression row, or a `DataFormatError`."""
    try:
        return float(text)
    except ValueError:
        raise data_error(path, line, f"label {text!r} is not a number") from None


class DataProcessor:
    """Base class: turns one task's data directory into `InputExample`s.

    Subclasses implement the four getters. Guids are "<split>-<n>" like the
    original ("train-3", "dev-0", "test-5"); test examples carry a placeholder
    label (the first label) so that features can be built, as the original does.

    Attributes:
        is_regression: True for a float target (STS-B); `get_labels()` is then [None].

    Example:

    ```python
    class MyProcessor(DataProcessor):
        def get_train_examples(self, data_dir):
            rows = read_rows(os.path.join(data_dir, "train.tsv"))
            return [InputExample(f"train-{i}", r[1], label=r[0]) for i, (_, r) in enumerate(rows)]
        ...
    ```
    """

    is_regression = False

    def get_train_examples(self, data_dir):
        """The train split's `InputExample`s."""
        return self._create_examples(data_dir, "train")

    def get_dev_examples(self, data_dir):
        """The dev split's `InputExample`s."""
        return self._create_examples(data_dir, "dev")

    def get_test_examples(self, data_dir):
        """The test split's `InputExample`s (placeholder labels)."""
        return self._create_examples(data_dir, "test")

    def _create_examples(self, data_dir, split):
        """One split ("train", "dev" or "test"); subclasses implement this or the getters."""
        raise NotImplementedError()

    def get_labels(self, data_dir=None):
        """The label list; index i is label id i.

        Args:
            data_dir: only used by processors whose labels come from the data
                (tsv/csv without a label list); the others ignore it.
        """
        raise NotImplementedError()

    @classmethod
    def _read_tsv(cls, input_file, quotechar=None):
        """The original's helper: all rows of a TSV file, as lists of fields."""
        return [fields for _, fields in read_rows(input_file, "\t", quotechar)]

    @staticmethod
    def _require_examples(examples, path, rows, reason="the file is empty or holds only a header"):
        """Raises a `DataFormatError` if a split produced no example."""
        if not examples:
            last_line = rows[-1][0] if rows else 1
            raise data_error(path, last_line, f"no examples ({reason})")
        return examples


_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli_matched",
            "mnli-mm": "mnli_mismatched"}


def task_names():
    """Every `--task_name` value `get_processor` accepts (canonical spellings)."""
    from bert_tf.data import glue, tfds_tasks

    return list(glue.GLUE_PROCESSORS) + ["tsv", "csv"] + list(tfds_tasks.TFDS_TASKS)


def get_processor(task_name, **kwargs):
    """The processor for `--task_name`.

    Args:
        task_name: case-insensitive; a GLUE task ("mrpc", "cola", "sst2"/"sst-2",
            "mnli" (matched and mismatched), "mnli_matched"/"mnli-m",
            "mnli_mismatched"/"mnli-mm", "qqp", "qnli", "rte", "wnli",
            "stsb"/"sts-b"), "xnli", "tsv"/"csv" (your own files) or a TFDS
            task ("imdb", "glue/mrpc", ...).
        **kwargs: options of that processor, e.g. `language` for xnli, or
            `text_a_column`, `text_b_column`, `label_column`, `label_list`,
            `has_header` for tsv/csv. None values are ignored.

    Returns:
        A `DataProcessor`.

    Raises:
        ValueError: unknown task, or options the task does not take.
    """
    # Imported here: those modules subclass DataProcessor from this one.
    from bert_tf.data import custom, glue, tfds_tasks

    name = str(task_name).strip().lower()
    name = _ALIASES.get(name, name)
    options = {k: v for k, v in kwargs.items() if v is not None}
    if name in glue.GLUE_PROCESSORS:
        factory = glue.GLUE_PROCESSORS[name]
    elif name in ("tsv", "csv"):
        factory = custom.TsvProcessor if name == "tsv" else custom.CsvProcessor
    elif name in tfds_tasks.TFDS_TASKS:
        factory = lambda: tfds_tasks.TfdsProcessor.for_task(name)  # noqa: E731
    else:
        raise ValueError(
            f"--task_name={task_name!r} is not supported; choose one of {task_names()}"
        )
    accepted = inspect.signature(factory).parameters
    unknown = sorted(k for k in options if k not in accepted)
    if unknown:
        raise ValueError(
            f"--task_name={name} does not take option(s) {unknown}; "
            f"it takes {sorted(accepted) or 'none'}"
        )
    return factory(**options)
