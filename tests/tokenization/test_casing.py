"""Casing inferred from Google model folder names, and the checkpoint consistency check."""

import pytest

from bert_tf.tokenization import infer_do_lower_case, validate_case_matches_checkpoint


@pytest.mark.parametrize(
    "path, expected",
    [
        ("m/uncased_L-24_H-1024_A-16/vocab.txt", True),
        ("m/uncased_L-4_H-256_A-4/bert_model.ckpt", True),
        ("m/cased_L-24_H-1024_A-16/vocab.txt", False),
        ("m/multi_cased_L-12_H-768_A-12/vocab.txt", False),
        ("m/multilingual_L-12_H-768_A-12/vocab.txt", True),
        ("m/chinese_L-12_H-768_A-12/vocab.txt", True),
        ("m/wwm_uncased_L-24_H-1024_A-16/vocab.txt", None),
        ("vocab.txt", None),
    ],
)
def test_infer(path, expected):
    assert infer_do_lower_case(path) is expected


def test_infer_from_existing_folder(tmp_path):
    folder = tmp_path / "cased_L-12_H-768_A-12"
    folder.mkdir()
    assert infer_do_lower_case(folder) is False
    assert infer_do_lower_case(str(folder) + "/") is False


def test_validate_passes_consistent_and_unknown():
    validate_case_matches_checkpoint(True, "gs://b/uncased_L-12_H-768_A-12/bert_model.ckpt")
    validate_case_matches_checkpoint(False, "/m/cased_L-12_H-768_A-12/bert_model.ckpt")
    validate_case_matches_checkpoint(False, "/runs/mrpc/model.ckpt-343")
    validate_case_matches_checkpoint(True, "")
    validate_case_matches_checkpoint(True, None)


@pytest.mark.parametrize(
    "flag, ckpt",
    [(False, "/m/uncased_L-12_H-768_A-12/bert_model.ckpt"),
     (True, "/m/multi_cased_L-12_H-768_A-12/bert_model.ckpt"),
     (False, "/m/chinese_L-12_H-768_A-12/bert_model.ckpt")],
)
def test_validate_raises_on_contradiction(flag, ckpt):
    with pytest.raises(ValueError, match=rf"--do_lower_case={flag} contradicts --init_checkpoint="):
        validate_case_matches_checkpoint(flag, ckpt)
