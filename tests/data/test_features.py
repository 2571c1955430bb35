"""Classifier features: TFRecord layout, caching by fingerprint, and length bucketing that
never changes results."""

import os

import numpy as np
import tensorflow as tf

from bert_tf.data.features import (cached_tfrecord, classifier_dataset, feature_spec,
                                   write_tfrecord)
from bert_tf.modeling import BertClassifier, BertConfig
from bert_tf.tokenization.examples import InputFeatures

SEQ = 24


def random_features(n, seed=0, num_labels=3):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        length = int(rng.integers(3, SEQ + 1))
        ids = [2] + list(rng.integers(5, 99, length - 2)) + [3] + [0] * (SEQ - length)
        mask = [1] * length + [0] * (SEQ - length)
        split = int(rng.integers(1, length))
        seg = [0] * split + [1] * (length - split) + [0] * (SEQ - length)
        rows.append(InputFeatures(ids, mask, seg, int(rng.integers(0, num_labels)), True))
    return rows


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
        lengths = [f["input_mask"].shape[1] for f, _, _ in ds]
        outputs[bucket] = np.concatenate([model(f).numpy() for f, _, _ in ds])
        if bucket:
            assert min(lengths) < SEQ  # some batch really was cut
    diff = np.abs(outputs[True] - outputs[False]).max()
    print("max |logits(trimmed) - logits(fixed)|:", diff)
    assert diff <= 1e-5


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
