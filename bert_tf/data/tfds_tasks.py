"""Classification tasks read from TensorFlow Datasets you have already prepared.

`--task_name=imdb` reads `imdb_reviews`; `--task_name=glue/mrpc` (and the
other `glue/*` configs) reads TFDS's GLUE. `data_dir` is the TFDS data
directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets). Nothing is
downloaded here: when the data is not prepared the processor fails at once,
before importing TensorFlow Datasets, with the command that prepares it.

Splits: train -> "train"; dev -> "validation" ("validation_matched" /
"validation_mismatched" for MNLI, "test" for IMDB, which has no validation
split); test -> "test" ("test_matched" / "test_mismatched"). Labels are the
TFDS ClassLabel names; test examples get the first label as a placeholder (GLUE test labels are -1).

Example:

```python
processor = get_processor("imdb")
train = processor.get_train_examples("~/tensorflow_datasets")
processor.get_labels()        # ["neg", "pos"]
```
"""

import glob
import os

from bert_tf.data.processors import DataProcessor, MissingDataError
from bert_tf.tokenization.examples import InputExample

# task -> (tfds name, text_a key, text_b key, labels, split per role)
_GLUE_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
TFDS_TASKS = {
    "imdb": ("imdb_reviews", "text", None, ("neg", "pos"),
             {"train": "train", "dev": "test", "test": "test"}),
    "glue/cola": ("glue/cola", "sentence", None, ("unacceptable", "acceptable"), _GLUE_SPLITS),
    "glue/sst2": ("glue/sst2", "sentence", None, ("negative", "positive"), _GLUE_SPLITS),
    "glue/mrpc": ("glue/mrpc", "sentence1", "sentence2", ("not_equivalent", "equivalent"),
                  _GLUE_SPLITS),
    "glue/qqp": ("glue/qqp", "question1", "question2", ("not_duplicate", "duplicate"),
                 _GLUE_SPLITS),
    "glue/stsb": ("glue/stsb", "sentence1", "sentence2", None, _GLUE_SPLITS),
    "glue/mnli": ("glue/mnli", "premise", "hypothesis", ("entailment", "neutral", "contradiction"),
                  {"train": "train", "dev": "validation_matched", "test": "test_matched"}),
    "glue/mnli_mismatched": (
        "glue/mnli", "premise", "hypothesis", ("entailment", "neutral", "contradiction"),
        {"train": "train", "dev": "validation_mismatched", "test": "test_mismatched"}),
    "glue/qnli": ("glue/qnli", "question", "sentence", ("entailment", "not_entailment"),
                  _GLUE_SPLITS),
    "glue/rte": ("glue/rte", "sentence1", "sentence2", ("entailment", "not_entailment"),
                 _GLUE_SPLITS),
    "glue/wnli": ("glue/wnli", "sentence1", "sentence2", ("not_entailment", "entailment"),
                  _GLUE_SPLITS),
}


def default_tfds_data_dir():
    """Where TFDS keeps prepared data when no data_dir is given."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.join("~", "tensorflow_datasets")


class TfdsProcessor(DataProcessor):
    """Examples from a prepared TFDS text-classification dataset.

    Args:
        tfds_name: the TFDS name, with config if any ("imdb_reviews", "glue/mrpc").
        text_a_key: feature holding the first text.
        text_b_key: feature holding the second text, or None.
        labels: ClassLabel names in id order; None for a float (regression) label.
        splits: {"train": ..., "dev": ..., "test": ...} TFDS split names.
        label_key: feature holding the label.

    Example:

    ```python
    processor = TfdsProcessor.for_task("glue/rte")
    ```
    """

    def __init__(self, tfds_name, text_a_key, text_b_key=None, labels=None, splits=None,
                 label_key="label"):
        self.tfds_name = tfds_name
        self.text_a_key = text_a_key
        self.text_b_key = text_b_key
        self.labels = None if labels is None else list(labels)
        self.is_regression = labels is None
        self.splits = dict(splits or _GLUE_SPLITS)
        self.label_key = label_key

    @classmethod
    def for_task(cls, task_name):
        """The processor of a `TFDS_TASKS` entry ("imdb", "glue/mrpc", ...)."""
        name, text_a, text_b, labels, splits = TFDS_TASKS[task_name]
        return cls(name, text_a, text_b, labels, splits)

    def get_labels(self, data_dir=None):
        return [None] if self.is_regression else list(self.labels)

    def _not_prepared(self, data_dir):
        return MissingDataError(
            f"TFDS dataset {self.tfds_name!r} is not prepared in {data_dir}: run "
            f"`tfds build {self.tfds_name} --data_dir={data_dir}` on a machine with internet access"
        )

    def _builder(self, data_dir):
        data_dir = os.path.expanduser(data_dir or default_tfds_data_dir())
        # Look for the prepared files before importing TFDS (seconds) or letting it
        # reach for the network: offline and unprepared must fail at once.
        if "://" not in data_dir:
            pattern = os.path.join(data_dir, *self.tfds_name.split("/"), "**", "dataset_info.json")
            if not glob.glob(pattern, recursive=True):
                raise self._not_prepared(data_dir)
        import tensorflow_datasets as tfds

        builder = tfds.builder(self.tfds_name, data_dir=data_dir)
        if not builder.is_prepared():
            raise self._not_prepared(data_dir)
        return builder

    def _create_examples(self, data_dir, role):
        builder = self._builder(data_dir)
        import tensorflow_datasets as tfds  # already loaded by _builder, after its fast check

        split = self.splits[role]
        if split not in builder.info.splits:
            raise MissingDataError(
                f"TFDS dataset {self.tfds_name!r} in {builder.data_dir} has no split {split!r} "
                f"(it has {sorted(builder.info.splits)})"
            )
        if not self.is_regression:
            names = builder.info.features[self.label_key].names
            if list(names) != self.labels:
                raise MissingDataError(
                    f"TFDS dataset {self.tfds_name!r} in {builder.data_dir} has labels {names}, "
                    f"expected {self.labels}"
                )
        dataset = builder.as_dataset(split=split, shuffle_files=False)
        examples = []
        for index, record in enumerate(tfds.as_numpy(dataset)):
            examples.append(
                InputExample(
                    guid=f"{role}-{index}",
                    text_a=_text(record[self.text_a_key]),
                    text_b=None if self.text_b_key is None else _text(record[self.text_b_key]),
                    label=self._label(record[self.label_key], role),
                )
            )
        if not examples:
            raise MissingDataError(f"TFDS dataset {self.tfds_name!r} split {split!r} is empty")
        return examples

    def _label(self, value, role):
        # Test examples carry a placeholder, as for the TSV tasks (GLUE test labels are -1).
        if role == "test":
            return 0.0 if self.is_regression else self.labels[0]
        if self.is_regression:
            return float(value)
        index = int(value)
        if not 0 <= index < len(self.labels):
            raise MissingDataError(
                f"TFDS dataset {self.tfds_name!r} split {self.splits[role]!r} has label {index}, "
                f"outside {self.labels}"
            )
        return self.labels[index]


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
