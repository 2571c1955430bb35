"""SQuAD windows <-> TFRecords (the original run_squad layout) and their tf.data pipeline.

Each record holds `unique_ids`, `input_ids`, `input_mask`, `segment_ids` and, in training files,
`start_positions`, `end_positions` and `is_impossible`, as the original's `FeatureWriter`
wrote them, so files written by either can be read by both. A prediction file may end with
padding rows (unique id 0, all zeros) that fill the last batch; decoding ignores them, as no
window has that id. Files are written atomically and cached by fingerprint like the classifier
features (`bert_tf.data.features`): `<file>.fingerprint` beside each.

Example:

```python
meta = cached_squad_tfrecord("out/train.tf_record", key, lambda: (features, True, 1, {}))
dataset = squad_dataset("out/train.tf_record", 384, 32, is_training=True)
```
"""

from typing import Callable, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from bert_tf.data.squad_features import SquadFeatures
from bert_tf.data.features import (cached_records, encoder_inputs, pipeline_records,
                                   write_records)

PADDING_UNIQUE_ID = 0


def squad_feature_spec(max_seq_length: int, is_training: bool) -> Dict[str, tf.io.FixedLenFeature]:
    """The original run_squad TFRecord layout."""
    spec = {
        "unique_ids": tf.io.FixedLenFeature([], tf.int64),
        "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
    }
    if is_training:
        for name in ("start_positions", "end_positions", "is_impossible"):
            spec[name] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def serialize_squad_features(feature: SquadFeatures, is_training: bool) -> bytes:
    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    row = {"unique_ids": ints([feature.unique_id]), "input_ids": ints(feature.input_ids),
           "input_mask": ints(feature.input_mask), "segment_ids": ints(feature.segment_ids)}
    if is_training:
        row["start_positions"] = ints([feature.start_position])
        row["end_positions"] = ints([feature.end_position])
        row["is_impossible"] = ints([int(feature.is_impossible)])
    return tf.train.Example(features=tf.train.Features(feature=row)).SerializeToString()


def _padding_row(max_seq_length: int) -> SquadFeatures:
    zeros = [0] * max_seq_length
    return SquadFeatures(PADDING_UNIQUE_ID, -1, 0, [], {}, {}, list(zeros), list(zeros),
                         list(zeros), 0, 0, False)


def write_squad_tfrecord(path: str, features: Sequence[SquadFeatures], is_training: bool,
                         pad_to_multiple_of: int = 1) -> int:
    """Writes the windows (plus padding rows up to a multiple of a batch) atomically.

    Returns:
        The number of records written.
    """
    rows = list(features)
    if pad_to_multiple_of > 1 and rows:
        rows += [_padding_row(len(rows[0].input_ids))] * (-len(rows) % pad_to_multiple_of)
    return write_records(path, (serialize_squad_features(row, is_training) for row in rows))


def cached_squad_tfrecord(path: str, key: str, build: Callable) -> Dict:
    """The metadata of `path`, rebuilt with `build()` unless its fingerprint file holds `key`.

    `build()` returns (features, is_training, pad_to_multiple_of, extra_meta). The metadata
    has the keys of `bert_tf.data.features.cached_tfrecord`'s (`key`, `num_rows`, `num_real`,
    `reused`) plus `extra_meta`; the fingerprint is written last, so a crash in between
    forces a rebuild. Make `key` with `bert_tf.data.features.fingerprint`.
    """
    def write(target):
        features, is_training, pad, extra = build()
        return write_squad_tfrecord(target, features, is_training, pad), len(features), extra

    return cached_records(path, key, write)


def read_squad_tfrecord(path: str, max_seq_length: int, is_training: bool) -> Dict[str, np.ndarray]:
    """Every record of a file as NumPy arrays ({name: [records, ...]}), in file order."""
    spec = squad_feature_spec(max_seq_length, is_training)
    columns = {name: [] for name in spec}
    for batch in tf.data.TFRecordDataset(path).batch(1024):
        parsed = tf.io.parse_example(batch, spec)
        for name in spec:
            columns[name].append(parsed[name].numpy())
    return {name: (np.concatenate(parts) if parts else np.zeros([0] + list(spec[name].shape),
                                                              np.int64))
            for name, parts in columns.items()}


def squad_dataset(path: str, max_seq_length: int, batch_size: int, is_training: bool,
                  seed: int = 12345, input_context: Optional[tf.distribute.InputContext] = None,
                  shuffle_buffer: int = 10000) -> tf.data.Dataset:
    """Batches of (features with TF Hub input names, labels, weights).

    Training: labels are `[batch, 2]` int32 (start, end) and weights 1; the data repeats and
    is shuffled with a fixed seed. Prediction: labels are the windows' `unique_ids` (int32, as
    the original cast them for TPUs) and weights are 0 for padding rows; file order is kept.
    Batches are whole (`drop_remainder`, static shapes for XLA and TPUs): pad prediction files
    to a multiple of the batch when writing them. `batch_size` is the global batch; with an
    `input_context` each pipeline gets its per-replica share and its own shard of the rows.
    """
    spec = squad_feature_spec(max_seq_length, is_training)
    ds, per_pipeline = pipeline_records(path, batch_size, is_training, seed, input_context,
                                        shuffle_buffer)

    def decode(records):
        parsed = tf.io.parse_example(records, spec)
        features = encoder_inputs(parsed)
        if is_training:
            labels = tf.cast(tf.stack([parsed["start_positions"], parsed["end_positions"]], 1),
                             tf.int32)
            return features, labels, tf.ones_like(parsed["unique_ids"], tf.float32)
        weights = tf.cast(tf.not_equal(parsed["unique_ids"], PADDING_UNIQUE_ID), tf.float32)
        return features, tf.cast(parsed["unique_ids"], tf.int32), weights

    ds = ds.batch(per_pipeline, drop_remainder=True)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
