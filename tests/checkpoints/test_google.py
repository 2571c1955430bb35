"""Google checkpoints: load by TF1 names, bit-exact round trip, reports and errors."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.checkpoints import (CheckpointError, load_google_checkpoint, load_pretrained,
                                 save_google_checkpoint)
from bert_tf.modeling import BertClassifier, BertConfig, BertEncoder, BertPretrainer

from support.builders import google_names_and_shapes, write_tf1_checkpoint


def listed(prefix):
    return dict(tf.train.list_variables(prefix))


def test_load_then_save_is_bit_exact_with_googles_names(make_google_folder, tiny_config_dict, tmp_path):
    folder, arrays = make_google_folder(tiny_config_dict)
    model = BertPretrainer.from_pretrained(str(folder))
    assert sorted(model.load_report.loaded) == sorted(arrays)
    assert model.load_report.missing == [] and model.load_report.unused == []
    prefix = save_google_checkpoint(model, str(tmp_path / "out"), vocab_file=model.vocab_file)
    written = listed(prefix)
    expected = google_names_and_shapes(tiny_config_dict)
    assert {k: tuple(v) for k, v in written.items()} == expected
    reader = tf.train.load_checkpoint(prefix)
    for name, value in arrays.items():
        assert np.array_equal(reader.get_tensor(name), value), name
    assert os.path.exists(tmp_path / "out" / "vocab.txt")
    assert json.loads((tmp_path / "out" / "bert_config.json").read_text()) == tiny_config_dict
    assert not [n for n in os.listdir(tmp_path / "out") if n.startswith(".")]  # no staging left


def test_classifier_head_is_transposed_output_weights(make_google_folder, tiny_config_dict):
    folder, arrays = make_google_folder(tiny_config_dict, with_pretraining_heads=False, num_labels=3)
    model = BertClassifier.from_pretrained(str(folder), num_labels=3)
    np.testing.assert_array_equal(model.head.dense.kernel.numpy(), arrays["output_weights"].T)
    np.testing.assert_array_equal(model.head.dense.bias.numpy(), arrays["output_bias"])


def test_missing_heads_are_reported_not_fatal(make_google_folder, tiny_config_dict):
    folder, _ = make_google_folder(tiny_config_dict, with_pretraining_heads=False)
    model = BertPretrainer.from_pretrained(str(folder / "bert_model.ckpt"))
    assert "cls/predictions/output_bias" in model.load_report.missing
    assert "cls/seq_relationship/output_weights" in model.load_report.missing
    assert "not in checkpoint" in model.load_report.summary()


def test_encoder_reports_unused_heads(make_google_folder, tiny_config_dict):
    folder, _ = make_google_folder(tiny_config_dict)
    encoder = BertEncoder(BertConfig.from_dict(tiny_config_dict))
    report = load_google_checkpoint(encoder, str(folder))
    assert "cls/predictions/output_bias" in report.unused
    assert not any(n.endswith("adam_m") or n == "global_step" for n in report.unused)


def test_shape_mismatch_names_variable_and_shapes(make_google_folder, tiny_config_dict):
    folder, _ = make_google_folder(tiny_config_dict)
    bigger = dict(tiny_config_dict, intermediate_size=40)
    encoder = BertEncoder(BertConfig.from_dict(bigger))
    with pytest.raises(CheckpointError) as err:
        load_google_checkpoint(encoder, str(folder))
    msg = str(err.value)
    assert "bert/encoder/layer_0/intermediate/dense/kernel" in msg
    assert "[32, 37]" in msg and "[32, 40]" in msg


def test_missing_encoder_variable_is_fatal(tmp_path, tiny_config_dict):

    arrays = {n: np.zeros(s, np.float32) for n, s in google_names_and_shapes(
        tiny_config_dict, with_pretraining_heads=False).items() if "layer_1" not in n}
    prefix = write_tf1_checkpoint(str(tmp_path / "bert_model.ckpt"), arrays)
    with pytest.raises(CheckpointError, match="lacks variables the model needs: bert/encoder/layer_1"):
        load_google_checkpoint(BertEncoder(BertConfig.from_dict(tiny_config_dict)), prefix)


def test_paths_that_are_no_checkpoint(tmp_path, tiny_config_dict):
    with pytest.raises(CheckpointError, match="not a recognised BERT model"):
        load_pretrained(str(tmp_path))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a TF checkpoint"):
        load_google_checkpoint(BertEncoder(BertConfig.from_dict(tiny_config_dict)),
                               str(tmp_path / "notes.txt"))


def test_vocab_size_disagreement(make_google_folder, tiny_config_dict):
    folder, _ = make_google_folder(tiny_config_dict)
    with open(folder / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("extra_token\n")
    with pytest.raises(CheckpointError) as err:
        BertEncoder.from_pretrained(str(folder))
    assert str(folder / "vocab.txt") in str(err.value) and "vocab_size is 99" in str(err.value)


def test_missing_config_field_in_folder(make_google_folder, tiny_config_dict):
    folder, _ = make_google_folder(tiny_config_dict)
    config = dict(tiny_config_dict)
    del config["intermediate_size"]
    (folder / "bert_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="bert_config.json: missing field 'intermediate_size'"):
        BertEncoder.from_pretrained(str(folder))


def test_a_save_removes_what_an_earlier_save_wrote_and_this_one_does_not(
        make_google_folder, tiny_config_dict, tmp_path):
    """A classifier folder saved again without classifier_info.json (or with fewer checkpoint
    shards) does not keep the earlier file beside the new weights."""
    from bert_tf.checkpoints import load_pretrained, save_google_checkpoint
    from bert_tf.modeling import BertEncoder

    folder, _ = make_google_folder(tiny_config_dict, with_pretraining_heads=False)
    encoder = load_pretrained(str(folder), BertEncoder)
    out = tmp_path / "final_model"
    save_google_checkpoint(encoder, out, extra_files={"classifier_info.json": "{}"})
    (out / "bert_model.ckpt.data-00001-of-00002").write_bytes(b"an older shard")
    (out / "notes.txt").write_text("the user's")
    save_google_checkpoint(encoder, out)
    names = sorted(p.name for p in out.iterdir())
    assert "classifier_info.json" not in names and "bert_model.ckpt.data-00001-of-00002" not in names
    assert "notes.txt" in names and "bert_model.ckpt.index" in names and "bert_config.json" in names
    assert not [n for n in names if n.startswith(".staging")]
