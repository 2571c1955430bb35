"""distill_train.tf_record: each row's teacher logits travel with its features and label through
the shuffled, optionally length-bucketed training input."""

import numpy as np
import pytest
from support.builders import random_classifier_features

from bert_tf.distillation.records import (distillation_dataset, label_unlabeled,
                                          read_teacher_logits, write_distillation_records)

SEQ = 48


@pytest.mark.parametrize("bucket_by_length", [False, True])
def test_every_batch_row_keeps_its_own_teacher_logits(tmp_path, bucket_by_length):
    features = random_classifier_features(40, SEQ, seed=2, num_labels=3)
    # Logits that encode the row: [row id, its first token, 0.5]
    logits = np.array([[i, f.input_ids[1], 0.5] for i, f in enumerate(features)], np.float32)
    path = str(tmp_path / "distill_train.tf_record")
    assert write_distillation_records(path, features, logits, is_regression=False) == 40
    np.testing.assert_array_equal(read_teacher_logits(path, 3), logits)
    ds = distillation_dataset(path, SEQ, 3, batch_size=8, seed=3,
                              bucket_by_length=bucket_by_length)
    seen = set()
    for batch_features, labels, weights in ds.take(10):
        ids = batch_features["input_word_ids"].numpy()
        teacher = labels["teacher_logits"].numpy()
        assert ids.shape[0] == 8 and teacher.shape == (8, 3)
        if bucket_by_length:  # cut to the longest row, rounded up to a multiple of 8
            longest = int(batch_features["input_mask"].numpy().sum(axis=1).max())
            assert ids.shape[1] == min(SEQ, -(-longest // 8) * 8)
        for row, logit, label in zip(ids, teacher, labels["label_ids"].numpy()):
            source = features[int(logit[0])]
            assert row[1] == source.input_ids[1] == logit[1]
            np.testing.assert_array_equal(row, source.input_ids[:len(row)])
            assert label == source.label_id
            seen.add(int(logit[0]))
        assert (weights.numpy() == 1).all()
    assert len(seen) == 40  # 80 rows drawn: every row came, the input repeats


def test_unlabelled_rows_take_the_teachers_prediction():
    features = random_classifier_features(3, 8, seed=1)
    label_unlabeled(features, np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [0, 0, 5.0]]), False)
    assert [f.label_id for f in features] == [1, 0, 2]
    label_unlabeled(features[:1], np.array([[2.5]]), True)
    assert features[0].label_id == 2.5
