"""Fixtures for the processor tests: task directories written from `task_layouts`."""

import pytest

from data.task_layouts import GLUE_LAYOUTS, XNLI_LAYOUT, write_layout


@pytest.fixture
def glue_dir(tmp_path):
    """A factory: glue_dir("mrpc") -> a directory holding that task's fixture files."""

    def make(task):
        return write_layout(tmp_path / task, GLUE_LAYOUTS[task])

    return make


@pytest.fixture
def xnli_dir(tmp_path):
    return write_layout(tmp_path / "xnli", XNLI_LAYOUT)


# --- Pretraining data (create_pretraining_data and its tf.data reader) ---------------------


@pytest.fixture(scope="session")
def minilm_vocab_file(minilm_dir):
    """The MiniLM (uncased BERT, 30522 tokens) vocab.txt."""
    return str(minilm_dir / "vocab.txt")


@pytest.fixture(scope="session")
def drugreview_pretraining_text(tmp_path_factory, drugreview_zip):
    """The 600 train drug reviews split into sentences: one per line, blank line between reviews."""
    from bert_tf.data.pretraining_text import drugreview_corpus

    path = tmp_path_factory.mktemp("pretraining_text") / "drugreview.txt"
    drugreview_corpus(str(path), ("train",), zip_path=str(drugreview_zip))
    return str(path)


@pytest.fixture(scope="session")
def small_pretraining_text(tmp_path_factory, drugreview_pretraining_text):
    """The first 120 documents of the drug-review corpus (for tests that run the generator
    often)."""
    with open(drugreview_pretraining_text, encoding="utf-8") as f:
        documents = f.read().split("\n\n")
    path = tmp_path_factory.mktemp("pretraining_text") / "small.txt"
    path.write_text("\n\n".join(documents[:120]), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def drugreview_pretraining_records(tmp_path_factory, drugreview_pretraining_text,
                                   minilm_vocab_file):
    """create_pretraining_data over the drug-review corpus (MiniLM vocab, dupe_factor 2, other
    flags at their defaults) -> (record path, PretrainingDataStats)."""
    from bert_tf.data.pretraining import create_pretraining_data
    from bert_tf.data.pretraining_instances import PretrainingParams

    path = str(tmp_path_factory.mktemp("pretraining_records") / "drugreview.tfrecord")
    stats = create_pretraining_data([drugreview_pretraining_text], [path], minilm_vocab_file,
                                    params=PretrainingParams(dupe_factor=2))
    return path, stats


@pytest.fixture(scope="session")
def read_pretraining_records():
    """A function: (path, max_seq_length=128, max_predictions_per_seq=20) -> {feature: numpy
    array [records, ...]}, parsed with the original run_pretraining spec written out here."""
    import numpy as np
    import tensorflow as tf

    def read(path, max_seq_length=128, max_predictions_per_seq=20):
        spec = {
            "input_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
            "input_mask": tf.io.FixedLenFeature([max_seq_length], tf.int64),
            "segment_ids": tf.io.FixedLenFeature([max_seq_length], tf.int64),
            "masked_lm_positions": tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
            "masked_lm_ids": tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64),
            "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
            "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
        }
        batches = list(tf.data.TFRecordDataset(path)
                       .map(lambda record: tf.io.parse_single_example(record, spec))
                       .batch(4096).as_numpy_iterator())
        return {name: np.concatenate([b[name] for b in batches]) for name in spec}

    return read
