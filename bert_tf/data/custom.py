"""Processors for your own classification data: train/dev/test as TSV or CSV.

`data_dir` holds `train.tsv`, `dev.tsv`, `test.tsv` (or `.csv`). Columns are
given by 0-based index or, with `has_header=True`, by header name. The test
file may lack the label column (its examples get the first label as a
placeholder, like the GLUE test sets). Without `label_list`, the labels are
the sorted set of the train labels.

TSV files are read like the original GLUE TSVs (tab, no quoting: `"` is a
plain character); CSV files use standard CSV quoting, so fields may contain
commas, quotes and newlines.

Example:

```python
# reviews.csv layout: id,review,sentiment
processor = CsvProcessor(text_a_column="review", label_column="sentiment", has_header=True)
train = processor.get_train_examples("my_data")
processor.get_labels()          # e.g. ["negative", "positive"]
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
)
from bert_tf.tokenization.examples import InputExample


class TsvProcessor(DataProcessor):
    """Single-sentence or pair classification (or regression) from TSV files.

    Args:
        text_a_column: index or header name of the first text.
        text_b_column: index or header name of the second text (pair tasks), or None.
        label_column: index or header name of the label (ignored in test files).
        label_list: the labels in id order; None derives them from train.
        has_header: whether every file starts with a header line.
        is_regression: float labels (then `get_labels()` is [None]).
    """

    extension = "tsv"
    delimiter = "\t"
    quotechar = None

    def __init__(
        self,
        text_a_column=0,
        text_b_column=None,
        label_column=1,
        label_list=None,
        has_header=False,
        is_regression=False,
    ):
        for role, spec in (("text_a_column", text_a_column), ("label_column", label_column),
                           ("text_b_column", text_b_column)):
            if isinstance(spec, int) and spec < 0:
                raise ValueError(
                    f"--{role} must be a 0-based column index or a header name, got {spec}"
                )
        self.text_a_column = text_a_column
        self.text_b_column = text_b_column
        self.label_column = label_column
        self.label_list = None if label_list is None else [str(x) for x in label_list]
        self.has_header = bool(has_header)
        self.is_regression = bool(is_regression)
        self._train_labels = None

    def get_labels(self, data_dir=None):
        """The label list: `label_list`, else the sorted train labels.

        Args:
            data_dir: where to read train from if it has not been read yet.
        """
        if self.is_regression:
            return [None]
        if self.label_list is not None:
            return list(self.label_list)
        if self._train_labels is None:
            if data_dir is None:
                raise ValueError(
                    f"the {self.extension} task derives its labels from train.{self.extension}: "
                    "read the train examples first or pass --label_list"
                )
            self.get_train_examples(data_dir)
        return list(self._train_labels)

    def _path(self, data_dir, split):
        return os.path.join(data_dir, f"{split}.{self.extension}")

    def _resolve(self, spec, header, path, role):
        """The 0-based index of a column given by index or header name."""
        if isinstance(spec, int):
            return spec
        if header is not None and spec in header:
            return header.index(spec)
        if str(spec).isdigit():
            return int(spec)
        if header is None:
            raise data_error(
                path, 1, f"{role} {spec!r} is a column name but the files have no header "
                "(set has_header)"
            )
        raise data_error(path, 1, f"no column named {spec!r} ({role}) in the header {header}")

    def _create_examples(self, data_dir, split):
        path = self._path(data_dir, split)
        rows = read_rows(path, self.delimiter, self.quotechar)
        header = rows[0][1] if (self.has_header and rows) else None
        body = rows[1:] if self.has_header else rows
        text_a = self._resolve(self.text_a_column, header, path, "text_a_column")
        text_b = None
        if self.text_b_column is not None:
            text_b = self._resolve(self.text_b_column, header, path, "text_b_column")
        label_col = None if split == "test" else self._resolve(self.label_column, header, path,
                                                                  "label_column")
        needed = max(c for c in (text_a, text_b, label_col) if c is not None) + 1
        separator = "tab-separated" if self.delimiter == "\t" else "comma-separated"
        known = None if (split == "train" or self.is_regression) else self.get_labels(data_dir)

        examples = []
        for index, (line, fields) in enumerate(body):
            require_columns(path, line, fields, needed, separator)
            if split == "test":
                label = 0.0 if self.is_regression else known[0]
            elif self.is_regression:
                label = parse_float_label(path, line, fields[label_col])
            else:
                label = fields[label_col]
                if not label:
                    raise data_error(path, line, f"empty label in column {label_col}")
                allowed = self.label_list if split == "train" else known
                if allowed is not None:
                    check_label(path, line, label, allowed)
            examples.append(
                InputExample(
                    guid=f"{split}-{index}",
                    text_a=fields[text_a],
                    text_b=None if text_b is None else fields[text_b],
                    label=label,
                )
            )
        self._require_examples(examples, path, rows)
        if split == "train" and not self.is_regression and self.label_list is None:
            self._train_labels = sorted({e.label for e in examples})
        return examples


class CsvProcessor(TsvProcessor):
    """As `TsvProcessor`, for comma-separated files with standard CSV quoting."""

    extension = "csv"
    delimiter = ","
    quotechar = '"'
