"""The pretraining tf.data reader: layout, order, sharding, dynamic masking and record checks."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data.pretraining_dataset import pretraining_dataset
from bert_tf.data.pretraining_instances import PretrainingDataError
from bert_tf.data.pretraining_masking import special_ids_from_vocab
from bert_tf.tokenization import load_vocab

PAD, CLS, SEP, MASK = 0, 101, 102, 103  # MiniLM (uncased BERT) vocab


@pytest.fixture(scope="module")
def masking_args(minilm_vocab_file):
    return special_ids_from_vocab(load_vocab(minilm_vocab_file))


def _write(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def _first_records(path, n):
    return list(tf.data.TFRecordDataset(path).take(n).as_numpy_iterator())


def _collect(dataset, batches=None):
    """{name: numpy array} over the batches of a dataset (features and labels merged)."""
    parts = {}
    for features, labels, weights in dataset.take(batches) if batches else dataset:
        for name, value in {**features, **labels, "weights": weights}.items():
            parts.setdefault(name, []).append(value.numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}


def _restored(batch):
    """input_word_ids with every prediction's original id put back."""
    ids = batch["input_word_ids"].copy()
    for row, (pos, lab, w) in enumerate(zip(batch["masked_lm_positions"], batch["masked_lm_ids"],
                                            batch["masked_lm_weights"])):
        ids[row, pos[w > 0]] = lab[w > 0]
    return ids


def test_training_batches_have_the_hub_layout(drugreview_pretraining_records):
    path, _ = drugreview_pretraining_records
    ds = pretraining_dataset(path, 128, 20, batch_size=16, is_training=True)
    features, labels, weights = ds.element_spec
    assert {k: (v.dtype, tuple(v.shape)) for k, v in features.items()} == {
        "input_word_ids": (tf.int32, (16, 128)), "input_mask": (tf.int32, (16, 128)),
        "input_type_ids": (tf.int32, (16, 128)), "masked_lm_positions": (tf.int32, (16, 20))}
    assert {k: (v.dtype, tuple(v.shape)) for k, v in labels.items()} == {
        "masked_lm_ids": (tf.int32, (16, 20)), "masked_lm_weights": (tf.float32, (16, 20)),
        "next_sentence_labels": (tf.int32, (16,)), "next_sentence_weights": (tf.float32, (16,))}
    assert (weights.dtype, tuple(weights.shape)) == (tf.float32, (16,))
    batch = _collect(ds, 2)
    assert (batch["weights"] == 1).all() and (batch["next_sentence_weights"] == 1).all()


def test_eval_is_one_pass_in_file_order(drugreview_pretraining_records, read_pretraining_records):
    path, stats = drugreview_pretraining_records
    stored = read_pretraining_records(path)
    got = _collect(pretraining_dataset(path, 128, 20, batch_size=1000, is_training=False))
    assert len(got["input_word_ids"]) == stats.instances  # last, partial batch kept
    assert (got["input_word_ids"] == stored["input_ids"]).all()
    assert (got["input_type_ids"] == stored["segment_ids"]).all()
    assert (got["masked_lm_weights"] == stored["masked_lm_weights"]).all()
    assert (got["next_sentence_labels"] == stored["next_sentence_labels"][:, 0]).all()


def test_training_order_is_seeded(drugreview_pretraining_records):
    path, _ = drugreview_pretraining_records

    def first_ids(seed):
        ds = pretraining_dataset(path, 128, 20, batch_size=32, is_training=True, seed=seed)
        return _collect(ds, 3)["input_word_ids"]

    a, b, c = first_ids(1), first_ids(1), first_ids(2)
    assert (a == b).all() and not (a == c).all()


def test_no_nsp_zeroes_the_next_sentence_weights(drugreview_pretraining_records):
    path, _ = drugreview_pretraining_records
    got = _collect(pretraining_dataset(path, 128, 20, 64, is_training=True, no_nsp=True), 1)
    assert (got["next_sentence_weights"] == 0).all()
    assert set(np.unique(got["next_sentence_labels"])) == {0, 1}  # labels are still there


@pytest.mark.parametrize("files", [2, 1])  # 2 files: files are sharded; 1: records are
def test_input_pipelines_read_disjoint_shares(tmp_path, drugreview_pretraining_records, files):
    records = _first_records(drugreview_pretraining_records[0], 40)
    paths = [_write(tmp_path / f"r{i}.tfrecord", records[i::files]) for i in range(files)]
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, num_replicas_in_sync=2)
        ds = pretraining_dataset(",".join(paths), 128, 20, batch_size=8, is_training=False,
                                 input_context=context)
        got = _collect(ds)
        assert ds.element_spec[0]["input_word_ids"].shape[0] in (None, 4)  # per-replica batch
        seen.append({tuple(row) for row in got["input_word_ids"]})
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == len({tuple(row) for row in _collect(
        pretraining_dataset(paths, 128, 20, 8, is_training=False))["input_word_ids"]})


# --- Dynamic masking ----------------------------------------------------------------------


def test_dynamic_masks_follow_the_original_rules(drugreview_pretraining_records, masking_args):
    path, _ = drugreview_pretraining_records
    static = _collect(pretraining_dataset(path, 128, 20, 1000, is_training=False), 1)
    dynamic = _collect(pretraining_dataset(path, 128, 20, 1000, is_training=False,
                                           dynamic_masking=True, **masking_args), 1)
    # The stored masks are undone and the original tokens come back.
    assert (_restored(dynamic) == _restored(static)).all()
    assert not (dynamic["masked_lm_positions"] == static["masked_lm_positions"]).all()
    real = dynamic["masked_lm_weights"] > 0
    lengths = dynamic["input_mask"].sum(1)
    assert 0.13 <= real.sum() / lengths.sum() <= 0.17
    assert (real.sum(1) == np.minimum(20, np.maximum(1, np.round(lengths * 0.15)))).all()
    originals = np.take_along_axis(_restored(static), dynamic["masked_lm_positions"], 1)[real]
    assert not np.isin(originals, [PAD, CLS, SEP]).any()  # specials and padding never chosen
    assert (dynamic["masked_lm_positions"][real] < np.repeat(lengths, real.sum(1))).all()
    assert (dynamic["masked_lm_ids"][real] == originals).all()
    assert (dynamic["masked_lm_positions"][~real] == 0).all()
    shown = np.take_along_axis(dynamic["input_word_ids"], dynamic["masked_lm_positions"], 1)[real]
    as_mask, kept = np.mean(shown == MASK), np.mean(shown == originals)
    assert abs(as_mask - 0.8) < 0.03 and abs(kept - 0.1) < 0.03
    assert abs(1 - as_mask - kept - 0.1) < 0.03  # random ids
    untouched = np.ones(dynamic["input_word_ids"].shape, bool)
    for row, (pos, is_real) in enumerate(zip(dynamic["masked_lm_positions"], real)):
        untouched[row, pos[is_real]] = False
    assert (dynamic["input_word_ids"] == _restored(static))[untouched].all()


def test_dynamic_masks_change_between_epochs(tmp_path, drugreview_pretraining_records,
                                             masking_args):
    records = _first_records(drugreview_pretraining_records[0], 20)
    small = _write(tmp_path / "small.tfrecord", records)
    ds = pretraining_dataset(small, 128, 20, batch_size=20, is_training=True,
                             dynamic_masking=True, **masking_args)
    got = _collect(ds, 6)  # every sequence read about 6 times
    masks = {}
    for ids, pos, w in zip(_restored(got), got["masked_lm_positions"], got["masked_lm_weights"]):
        masks.setdefault(tuple(ids), []).append(tuple(pos[w > 0]))
    repeated = [views for views in masks.values() if len(views) > 1]
    assert len(repeated) >= 15
    assert sum(len(set(views)) > 1 for views in repeated) >= 0.9 * len(repeated)


def test_dynamic_masking_needs_the_token_ids(drugreview_pretraining_records):
    with pytest.raises(ValueError, match="vocab_size and mask_id"):
        pretraining_dataset(drugreview_pretraining_records[0], 128, 20, 8, True,
                            dynamic_masking=True)
    with pytest.raises(ValueError, match="special_ids"):
        pretraining_dataset(drugreview_pretraining_records[0], 128, 20, 8, True,
                            dynamic_masking=True, vocab_size=30522, mask_id=103)


# --- Bad records: one-line errors naming file and feature, raised before any reading -------


def _example(**overrides):
    features = {
        "input_ids": [1] * 128, "input_mask": [1] * 128, "segment_ids": [0] * 128,
        "masked_lm_positions": [0] * 20, "masked_lm_ids": [0] * 20,
        "masked_lm_weights": [0.0] * 20, "next_sentence_labels": [0]}
    features.update(overrides)
    feature = {}
    for name, values in features.items():
        if values is None:
            continue
        if isinstance(values[0], float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.mark.parametrize("overrides, max_seq_length, message", [
    ({"masked_lm_weights": None}, 128, r"records lack the feature 'masked_lm_weights'"),
    ({"masked_lm_weights": [0] * 20}, 128,
     r"feature 'masked_lm_weights' is int64_list, expected float_list"),
    ({"input_ids": [1] * 64}, 128,
     r"feature 'input_ids' has 64 values, expected --max_seq_length=128"),
    ({"masked_lm_ids": [0] * 19}, 128,
     r"feature 'masked_lm_ids' has 19 values, expected --max_predictions_per_seq=20"),
])
def test_records_with_wrong_features(tmp_path, overrides, max_seq_length, message):
    good = _write(tmp_path / "good.tfrecord", [_example()])
    bad = _write(tmp_path / "bad.tfrecord", [_example(**overrides)])
    with pytest.raises(PretrainingDataError, match=r"bad\.tfrecord: " + message) as e:
        pretraining_dataset([good, bad], max_seq_length, 20, 8, is_training=True)
    assert "\n" not in str(e.value)


def test_unreadable_missing_and_empty_inputs(tmp_path):
    garbage = tmp_path / "garbage.tfrecord"
    garbage.write_bytes(b"this is not a TFRecord file at all")
    with pytest.raises(PretrainingDataError, match=r"garbage\.tfrecord: cannot read as a TFRecord"):
        pretraining_dataset(str(garbage), 128, 20, 8, is_training=True)
    with pytest.raises(PretrainingDataError, match=r"'.*nothing-\*\.tfrecord' matches no file"):
        pretraining_dataset(str(tmp_path / "nothing-*.tfrecord"), 128, 20, 8, is_training=True)
    empty = _write(tmp_path / "empty.tfrecord", [])
    with pytest.raises(PretrainingDataError, match=r"no records in .*empty\.tfrecord"):
        pretraining_dataset(empty, 128, 20, 8, is_training=True)
