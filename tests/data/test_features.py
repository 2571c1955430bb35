"""Classifier features: TFRecord layout, caching by fingerprint, and length bucketing that
never changes results."""

import os

import numpy as np
import tensorflow as tf

from bert_tf.data.features import (cached_tfrecord, classifier_dataset, feature_spec,
                                   write_tfrecord)
from bert_tf.modeling import BertClassifier, BertConfig
from support.builders import random_classifier_features

SEQ = 24


def random_features(n, seed=0, num_labels=3):
    return random_classifier_features(n, SEQ, seed, num_labels)


def test_records_use_the_original_feature_names_and_pad_to_whole_batches(tmp_path):
    path = str(tmp_path / "eval.tf_record")
    assert write_tfrecord(path, random_features(13), is_regression=False, pad_to_multiple_of=8) == 16
    records = list(tf.data.TFRecordDataset(path))
    parsed = [tf.io.parse_single_example(r, feature_spec(SEQ)) for r in records]
    assert sorted(parsed[0]) == ["input_ids", "input_mask", "is_real_example", "label_ids", "segment_ids"]
    assert [int(p["is_real_example"]) for p in parsed] == [1] * 13 + [0] * 3
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_cache_reused_only_for_the_same_fingerprint(tmp_path):
    path = str(tmp_path / "train.tf_record")
    calls = []

    def build():
        calls.append(1)
        return random_features(5), False, 1, SEQ, {}

    assert not cached_tfrecord(path, "key-a", build)["reused"]
    assert cached_tfrecord(path, "key-a", build)["reused"]
    assert not cached_tfrecord(path, "key-b", build)["reused"]
    assert len(calls) == 2
    os.remove(path + ".fingerprint")  # e.g. a crash between records and fingerprint
    assert not cached_tfrecord(path, "key-b", build)["reused"]


def test_trimmed_batches_give_the_same_logits_as_full_padding(tmp_path, tiny_config_dict):
    path = str(tmp_path / "eval.tf_record")
    write_tfrecord(path, random_features(20, seed=3), False, pad_to_multiple_of=4)
    model = BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=3, pooling="mean")
    model.ensure_built()
    outputs = {}
    for bucket in (False, True):
        ds = classifier_dataset(path, SEQ, 4, is_training=False, bucket_by_length=bucket)
        lengths = [f["input_mask"].shape[1] for f, *_ in ds]
        outputs[bucket] = np.concatenate([model(f).numpy() for f, *_ in ds])
        if bucket:
            assert min(lengths) < SEQ  # some batch really was cut
            rows = np.concatenate([element[3].numpy() for element in ds])
            outputs[bucket] = outputs[bucket][np.argsort(rows)]  # back to file order
    diff = np.abs(outputs[True] - outputs[False]).max()
    print("max |logits(trimmed) - logits(fixed)|:", diff)
    assert diff <= 1e-5


def test_length_sorted_eval_batches_hold_every_row_once_sorted_within_windows(tmp_path):
    path = str(tmp_path / "eval.tf_record")
    features = random_features(46, seed=7)
    write_tfrecord(path, features, False, pad_to_multiple_of=4)  # 48 rows, 2 of them padding
    file_lengths = np.array([sum(f.input_mask) for f in features] + [0, 0])
    file_labels = np.array([f.label_id for f in features] + [0, 0])
    ds = classifier_dataset(path, SEQ, 4, is_training=False, bucket_by_length=True, sort_window=16)
    rows, sorted_tokens = [], 0
    for features_, labels, weights, batch_rows in ds:
        batch_rows = batch_rows.numpy()
        lengths = features_["input_mask"].numpy().sum(1)
        np.testing.assert_array_equal(lengths, file_lengths[batch_rows])
        np.testing.assert_array_equal(labels.numpy(), file_labels[batch_rows])
        np.testing.assert_array_equal(weights.numpy(), (batch_rows < 46).astype(np.float32))
        width = features_["input_mask"].shape[1]
        assert width == min(SEQ, max(8, -(-lengths.max() // 8) * 8))
        rows.append(batch_rows)
        sorted_tokens += 4 * width
    rows = np.concatenate(rows)
    assert sorted(rows.tolist()) == list(range(48))
    for start in range(0, 48, 16):  # each window of 16 rows comes sorted by length, stably
        window = rows[start:start + 16]
        assert sorted(window.tolist()) == list(range(start, start + 16))
        keys = list(zip(file_lengths[window], window))
        assert keys == sorted(keys)
    file_order = sum(4 * min(SEQ, max(8, -(-file_lengths[i:i + 4].max() // 8) * 8))
                     for i in range(0, 48, 4))
    assert sorted_tokens < file_order


def test_bucketed_training_batches_group_similar_lengths(tmp_path):
    path = str(tmp_path / "train.tf_record")
    write_tfrecord(path, random_features(64, seed=5), False)
    ds = classifier_dataset(path, SEQ, 4, is_training=True, bucket_by_length=True, seed=1)
    spreads, widths = [], []
    for features, labels, weights in ds.take(40):
        lengths = features["input_mask"].numpy().sum(1)
        spreads.append(lengths.max() - lengths.min())
        widths.append(features["input_mask"].shape[1])
        assert features["input_mask"].shape[1] >= lengths.max()
    assert max(spreads) < 16  # one bucket is 16 wide
    assert min(widths) < SEQ
