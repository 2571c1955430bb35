"""The training records of a distillation run, and the unlabelled text it may add.

`distill_train.tf_record` holds run_classifier's training features (`input_ids`, `input_mask`,
`segment_ids`, `label_ids`, `is_real_example`) plus `teacher_logits` [labels], the teacher's
outputs on the row, computed once when the file is written. Rows from `--unlabeled_file` take
the teacher's prediction as their `label_ids` (its argmax; its score for regression).

The training dataset gives (features, {"label_ids", "teacher_logits"}, weights), the labels
dict being what `losses.make_loss_fn` reads.
"""

from typing import List, Optional

import numpy as np
import tensorflow as tf

from bert_tf.data.features import (encoder_inputs, feature_spec, pipeline_records,
                                   serialize_features, trim_to_longest, write_records)
from bert_tf.data.processors import DataFormatError, MissingDataError, data_error
from bert_tf.tokenization.examples import InputExample

TEACHER_LOGITS = "teacher_logits"


def read_unlabeled(path: str, num_segments: int) -> List[InputExample]:
    """`--unlabeled_file`: one text per line (UTF-8; blank lines skipped). For sentence-pair
    tasks each line holds the two texts separated by one tab."""
    if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
        raise MissingDataError(f"{path}: no such file (expected --unlabeled_file, one text per "
                               "line)")
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    examples = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            raise data_error(path, number, f"not valid UTF-8 ({e.reason})") from None
        if not line.strip():
            continue
        text_b = None
        if num_segments == 2:
            parts = line.split("\t")
            if len(parts) != 2:
                raise data_error(path, number, "expected two tab-separated texts (the task has "
                                               f"sentence pairs), found {len(parts)} field(s)")
            line, text_b = parts
        examples.append(InputExample(f"unlabeled-{number}", line, text_b, None))
    if not examples:
        raise DataFormatError(f"{path}: no text (--unlabeled_file holds one text per line)")
    return examples


def serialize_row(features, logits, is_regression: bool) -> bytes:
    """A classifier record with the teacher's logits added."""
    example = tf.train.Example.FromString(serialize_features(features, is_regression))
    example.features.feature[TEACHER_LOGITS].float_list.value.extend(
        [float(v) for v in logits])
    return example.SerializeToString()


def write_distillation_records(path: str, features, logits: np.ndarray,
                               is_regression: bool) -> int:
    """Writes the rows (no padding: training rows) atomically; returns the row count."""
    if len(features) != len(logits):
        raise ValueError(f"{len(features)} rows but {len(logits)} teacher outputs")
    return write_records(path, (serialize_row(f, row, is_regression)
                                for f, row in zip(features, logits)))


def label_unlabeled(features, logits: np.ndarray, is_regression: bool):
    """Gives rows without a label the teacher's prediction as label (in place)."""
    for f, row in zip(features, logits):
        f.label_id = float(row[0]) if is_regression else int(np.argmax(row))


def read_teacher_logits(path: str, num_labels: int) -> np.ndarray:
    """The `teacher_logits` of every row of a records file, in file order: [n, num_labels]."""
    spec = {TEACHER_LOGITS: tf.io.FixedLenFeature([num_labels], tf.float32)}
    rows = [tf.io.parse_single_example(r, spec)[TEACHER_LOGITS].numpy()
            for r in tf.data.TFRecordDataset(path)]
    return np.array(rows, np.float32).reshape([-1, num_labels])


def distillation_dataset(path: str, max_seq_length: int, num_labels: int, batch_size: int,
                         is_regression: bool = False, seed: int = 12345,
                         input_context: Optional[tf.distribute.InputContext] = None,
                         bucket_by_length: bool = False) -> tf.data.Dataset:
    """Training batches of (features, {"label_ids", "teacher_logits"}, weights), shuffled with
    a fixed seed and repeated, as run_classifier's training input (a resumed run skips the
    batches it already saw). `bucket_by_length` groups rows of similar length and cuts each
    batch to its longest row, as run_classifier's flag does."""
    spec = dict(feature_spec(max_seq_length, is_regression))
    spec[TEACHER_LOGITS] = tf.io.FixedLenFeature([num_labels], tf.float32)
    ds, per_pipeline = pipeline_records(path, batch_size, True, seed, input_context)

    def decode(records):
        parsed = tf.io.parse_example(records, spec)
        labels = parsed["label_ids"] if is_regression else tf.cast(parsed["label_ids"], tf.int32)
        targets = {"label_ids": labels, TEACHER_LOGITS: parsed[TEACHER_LOGITS]}
        return encoder_inputs(parsed), targets, tf.cast(parsed["is_real_example"], tf.float32)

    if bucket_by_length:
        ds = ds.map(lambda record: decode(tf.expand_dims(record, 0)),
                    num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        boundaries = list(range(16, max_seq_length, 16))
        ds = ds.bucket_by_sequence_length(
            lambda features, labels, weight: tf.reduce_sum(features["input_mask"]),
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[per_pipeline] * (len(boundaries) + 1), drop_remainder=True)
        ds = ds.map(trim_to_longest, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.batch(per_pipeline, drop_remainder=True).map(
            decode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
