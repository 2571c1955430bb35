"""Classifier features: InputExamples -> packed rows -> TFRecords -> a batched tf.data pipeline.

TFRecords use the original run_classifier feature names (`input_ids`, `input_mask`,
`segment_ids`, `label_ids`, `is_real_example`); the dataset renames them to the TF Hub input
names the encoder takes. Each file has a fingerprint beside it (`<file>.fingerprint`) so that a
rerun with unchanged inputs and flags reuses it instead of tokenizing again.
"""

import hashlib
import json
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from bert_tf.atomic_files import atomic_path, write_text_atomic
from bert_tf.tokenization.examples import InputExample, InputFeatures
from bert_tf.tokenization.packing import convert_single_example


def feature_spec(max_seq_length: int, is_regression: bool = False) -> Dict[str, tf.io.FixedLenFeature]:
    """The original run_classifier TFRecord layout."""
    return {
        "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
        "label_ids": tf.io.FixedLenFeature([], tf.float32 if is_regression else tf.int64),
        "is_real_example": tf.io.FixedLenFeature([], tf.int64),
    }


def padding_features(max_seq_length: int) -> InputFeatures:
    """A fake row that fills the last batch (weight 0), as the original's PaddingInputExample."""
    zeros = [0] * max_seq_length
    return InputFeatures(list(zeros), list(zeros), list(zeros), 0, False)


def serialize_features(f: InputFeatures, is_regression: bool) -> bytes:
    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    label = (tf.train.Feature(float_list=tf.train.FloatList(value=[float(f.label_id)]))
             if is_regression else ints([int(f.label_id)]))
    example = tf.train.Example(features=tf.train.Features(feature={
        "input_ids": ints(f.input_ids), "input_mask": ints(f.input_mask),
        "segment_ids": ints(f.segment_ids), "label_ids": label,
        "is_real_example": ints([int(f.is_real_example)])}))
    return example.SerializeToString()


def examples_to_features(examples: Sequence[InputExample], label_list: Optional[List[str]],
                         max_seq_length: int, tokenizer) -> List[InputFeatures]:
    """Tokenizes and packs every example (label_list None means regression)."""
    label_map = None if label_list is None else {label: i for i, label in enumerate(label_list)}
    return [convert_single_example(e, label_map, max_seq_length, tokenizer) for e in examples]


def write_tfrecord(path: str, features: Sequence[InputFeatures], is_regression: bool,
                   pad_to_multiple_of: int = 1, max_seq_length: Optional[int] = None) -> int:
    """Writes rows (plus padding rows up to a multiple of a batch) atomically; returns row count."""
    rows = list(features)
    if pad_to_multiple_of > 1 and rows:
        seq = max_seq_length or len(rows[0].input_ids)
        while len(rows) % pad_to_multiple_of:
            rows.append(padding_features(seq))
    return write_records(path, (serialize_features(row, is_regression) for row in rows))


def write_records(path: str, records: Iterable[bytes]) -> int:
    """Writes serialized records to a TFRecord file atomically; returns how many."""
    count = 0
    with atomic_path(path) as temp:
        with tf.io.TFRecordWriter(temp) as writer:
            for record in records:
                writer.write(record)
                count += 1
    return count


def fingerprint(**parts) -> str:
    """A stable hash of everything that determines a features file."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Optional[str]) -> Optional[str]:
    if not path or not tf.io.gfile.exists(path):
        return None
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_records(path: str, key: str, write: Callable[[str], tuple]) -> Dict:
    """The metadata of the records file `path`, rewritten by `write(path)` unless its
    fingerprint file holds `key` (make it with `fingerprint`).

    `write(path)` writes the file and returns (rows written, real rows, extra metadata). The
    metadata has `key`, `num_rows`, `num_real`, `reused` and the extras. The fingerprint file is
    written after the records, so a crash in between forces a rebuild.
    """
    meta_path = path + ".fingerprint"
    gfile = tf.io.gfile  # `path` may be local or remote (gs://...)
    if gfile.exists(path) and gfile.exists(meta_path):
        with gfile.GFile(meta_path, "rb") as f:
            meta = json.loads(f.read().decode("utf-8"))
        if meta.get("key") == key:
            return dict(meta, reused=True)
    if gfile.exists(meta_path):
        gfile.remove(meta_path)
    rows, real, extra = write(path)
    meta = dict(extra, key=key, num_rows=rows, num_real=real, reused=False)
    write_text_atomic(meta_path, json.dumps(meta, indent=1))
    return meta


def cached_tfrecord(path: str, key: str, build) -> Dict:
    """`cached_records` for classifier features: `build()` returns (features, is_regression,
    pad_to_multiple_of, max_seq_length, extra_meta)."""
    def write(target):
        features, is_regression, pad, seq, extra = build()
        return write_tfrecord(target, features, is_regression, pad, seq), len(features), extra

    return cached_records(path, key, write)


def pipeline_records(path: str, batch_size: int, is_training: bool, seed: int = 12345,
                     input_context: Optional[tf.distribute.InputContext] = None,
                     shuffle_buffer: int = 10000):
    """(records, per-pipeline batch size) of a TFRecord file for one input pipeline: its shard
    of the rows and, for training, shuffled with a fixed seed and repeated."""
    ds = tf.data.TFRecordDataset(path)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if is_training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    per_pipeline = batch_size
    if input_context is not None:
        per_pipeline = input_context.get_per_replica_batch_size(batch_size)
    return ds, per_pipeline


def encoder_inputs(parsed) -> Dict[str, tf.Tensor]:
    """The encoder's inputs (TF Hub names, int32) from parsed `input_ids`/`input_mask`/
    `segment_ids` features."""
    return {"input_word_ids": tf.cast(parsed["input_ids"], tf.int32),
            "input_mask": tf.cast(parsed["input_mask"], tf.int32),
            "input_type_ids": tf.cast(parsed["segment_ids"], tf.int32)}


def classifier_dataset(path: str, max_seq_length: int, batch_size: int, is_training: bool,
                       is_regression: bool = False, seed: int = 12345,
                       input_context: Optional[tf.distribute.InputContext] = None,
                       shuffle_buffer: int = 10000,
                       bucket_by_length: bool = False,
                       sort_window: int = 8192) -> tf.data.Dataset:
    """Batches of (features dict with TF Hub names, labels, weights).

    With `bucket_by_length`, training batches group examples of similar length and every
    batch (training and eval) is cut to its longest real sequence (rounded up to a multiple
    of 8): padding never affects results, so this only saves work. Eval batches then come
    sorted by length within windows of `sort_window` rows, and each element carries a fourth
    item, the rows' positions in the file ([batch] int64), by which `Trainer.predict` puts its
    outputs back in file order.

    Training data repeats and is shuffled with a fixed seed (so a resumed run can skip the
    batches it already saw and continue on the same sequence); eval/predict keep file order
    (or, length-sorted, give back the rows by which it is restored).
    `batch_size` is the global batch; with an `input_context` each input pipeline gets its
    per-replica share and its own shard of the files' rows.
    """
    spec = feature_spec(max_seq_length, is_regression)
    ds, per_pipeline = pipeline_records(path, batch_size, is_training, seed, input_context,
                                        shuffle_buffer)

    def decode(records):
        parsed = tf.io.parse_example(records, spec)
        features = encoder_inputs(parsed)
        labels = parsed["label_ids"] if is_regression else tf.cast(parsed["label_ids"], tf.int32)
        return features, labels, tf.cast(parsed["is_real_example"], tf.float32)

    if bucket_by_length and is_training:
        ds = ds.map(lambda record: decode(tf.expand_dims(record, 0)),
                    num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        boundaries = [b for b in range(16, max_seq_length, 16)]
        ds = ds.bucket_by_sequence_length(
            lambda features, label, weight: tf.reduce_sum(features["input_mask"]),
            bucket_boundaries=boundaries, bucket_batch_sizes=[per_pipeline] * (len(boundaries) + 1),
            drop_remainder=True)
    elif bucket_by_length:
        # Eval: windows of rows (whole batches) sorted by length, then cut into batches.
        window = max(1, -(-sort_window // per_pipeline)) * per_pipeline
        ds = ds.enumerate().batch(window).map(
            lambda rows, records: length_sorted_batches(*decode(records), rows, per_pipeline),
            num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    else:
        # drop_remainder keeps shapes static (XLA, TPU); eval files are padded to whole batches.
        ds = ds.batch(per_pipeline, drop_remainder=True).map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    if bucket_by_length:
        ds = ds.map(trim_to_longest, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def length_sorted_batches(features, labels, weights, rows, batch_size: int):
    """A window of decoded rows -> the same rows stably sorted by length, as [n, batch_size, ...].

    Each batch then holds rows of similar length and cuts well (`trim_to_longest`). `rows` are
    the rows' positions in the file, to restore its order. Rows past the last whole batch are
    dropped, as `drop_remainder` does (eval files are padded to whole batches).
    """
    order = tf.argsort(tf.reduce_sum(features["input_mask"], axis=1), stable=True)
    order = order[:tf.size(order) // batch_size * batch_size]

    def cut(x):
        x = tf.gather(x, order)
        return tf.reshape(x, tf.concat([[-1, batch_size], tf.shape(x)[1:]], 0))

    return tf.nest.map_structure(cut, (features, labels, weights, rows))


def trim_to_longest(features, labels, weights, *rest, multiple: int = 8):
    """Cuts a batch's [batch, seq] features to its longest real sequence (dynamic padding).

    Any further items of the element (the rows of a length-sorted eval batch) pass through.
    """
    seq = tf.shape(features["input_mask"])[1]
    longest = tf.reduce_max(tf.reduce_sum(features["input_mask"], axis=1))
    length = tf.minimum(seq, (longest + multiple - 1) // multiple * multiple)
    length = tf.maximum(length, 1)
    return ({k: v[:, :length] for k, v in features.items()}, labels, weights, *rest)


def count_records(path: str) -> int:
    return int(sum(1 for _ in tf.data.TFRecordDataset(path)))


def real_example_count(weights: np.ndarray) -> int:
    return int(np.asarray(weights).sum())
