"""The SQuAD head in checkpoints: Google's `cls/squad/output_weights [2, H]` / `output_bias`
(as the original run_squad.py writes them) and HF's `qa_outputs`, loaded into and saved from
`BertQuestionAnswerer` bit for bit; parity with HF `BertForQuestionAnswering`;
`squad_info.json`."""

import json

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.checkpoints import (SQUAD_INFO_NAME, CheckpointError, SquadInfo, hf_name_to_google,
                                 load_google_checkpoint, load_pretrained, load_weights_into,
                                 read_squad_info, save_google_checkpoint)
from bert_tf.modeling import BertConfig, BertEncoder, BertQuestionAnswerer
from support.builders import google_names_and_shapes, write_tf1_checkpoint, write_vocab

SQUAD_HEAD = {"cls/squad/output_weights": (2, 32), "cls/squad/output_bias": (2,)}


def write_run_squad_folder(folder, config, seed=0):
    """A folder as the original run_squad leaves a fine-tuned model: encoder + `cls/squad/*`
    (and optimizer slots), written by TF1's Saver."""
    rng = np.random.default_rng(seed)
    table = dict(google_names_and_shapes(config, with_pretraining_heads=False), **SQUAD_HEAD)
    arrays = {n: (rng.standard_normal(s) * 0.2).astype(np.float32) for n, s in table.items()}
    folder.mkdir()
    write_tf1_checkpoint(str(folder / "bert_model.ckpt"), arrays)
    (folder / "bert_config.json").write_text(json.dumps(config))
    write_vocab(folder / "vocab.txt", [f"t{i}" for i in range(config["vocab_size"])])
    return arrays


def inputs(batch=2, seq=10, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 99, (batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    mask[1, 7:] = 0
    types = np.zeros((batch, seq), np.int32)
    types[:, 4:] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def test_run_squad_folder_loads_and_saves_bit_exactly(tiny_config_dict, tmp_path):
    arrays = write_run_squad_folder(tmp_path / "squad_model", tiny_config_dict)
    model = load_pretrained(str(tmp_path / "squad_model"), BertQuestionAnswerer)
    assert sorted(model.load_report.loaded) == sorted(arrays)
    assert model.load_report.missing == [] and model.load_report.unused == []
    np.testing.assert_array_equal(model.head.dense.kernel.numpy(),
                                  arrays["cls/squad/output_weights"].T)
    np.testing.assert_array_equal(model.head.dense.bias.numpy(), arrays["cls/squad/output_bias"])
    info = SquadInfo(max_seq_length=64, doc_stride=16, max_query_length=12,
                     version_2_with_negative=True, null_score_diff_threshold=-1.5)
    prefix = save_google_checkpoint(model, str(tmp_path / "final_model"),
                                    vocab_file=model.vocab_file, extra_files=info.as_extra_file())
    written = {k: tuple(v) for k, v in tf.train.list_variables(prefix)}
    assert written == {n: a.shape for n, a in arrays.items()}
    reader = tf.train.load_checkpoint(prefix)
    for name, value in arrays.items():
        assert np.array_equal(reader.get_tensor(name), value), name
    assert read_squad_info(str(tmp_path / "final_model")) == info
    again = BertQuestionAnswerer.from_pretrained(str(tmp_path / "final_model"))
    np.testing.assert_array_equal(again(inputs()).numpy(), model(inputs()).numpy())


def test_load_weights_into_an_existing_model(tiny_config_dict, tmp_path):
    arrays = write_run_squad_folder(tmp_path / "squad_model", tiny_config_dict, seed=3)
    model = BertQuestionAnswerer(BertConfig.from_dict(tiny_config_dict)).ensure_built()
    report = load_weights_into(model, str(tmp_path / "squad_model"))
    assert "cls/squad/output_bias" in report.loaded and report.missing == []
    np.testing.assert_array_equal(model.head.dense.bias.numpy(), arrays["cls/squad/output_bias"])


def test_pretrained_encoder_leaves_the_head_fresh_and_says_so(make_google_folder,
                                                               tiny_config_dict):
    folder, _ = make_google_folder(tiny_config_dict)
    model = load_pretrained(str(folder), BertQuestionAnswerer)
    assert model.load_report.missing == ["cls/squad/output_weights", "cls/squad/output_bias"]
    assert "cls/seq_relationship/output_weights" in model.load_report.unused
    assert np.all(model.head.dense.bias.numpy() == 0)


def test_hf_qa_outputs_name_mapping():
    assert hf_name_to_google("qa_outputs.weight") == ("cls/squad/output_weights", False)
    assert hf_name_to_google("qa_outputs.bias") == ("cls/squad/output_bias", False)


def test_parity_with_hf_bert_for_question_answering(tmp_path):
    import torch
    import transformers
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, hidden_act="gelu")
    hf = transformers.BertForQuestionAnswering(hf_config).eval()
    with torch.no_grad():  # HF initialises the bias at 0: make it count in the comparison
        hf.qa_outputs.bias.copy_(torch.tensor([0.3, -0.2]))
    hf.save_pretrained(str(tmp_path / "hf"), safe_serialization=True)
    x = inputs()
    with torch.no_grad():
        out = hf(input_ids=torch.tensor(x["input_word_ids"], dtype=torch.long),
                 attention_mask=torch.tensor(x["input_mask"], dtype=torch.long),
                 token_type_ids=torch.tensor(x["input_type_ids"], dtype=torch.long))
    model = load_pretrained(str(tmp_path / "hf"), BertQuestionAnswerer)
    # HF's question answerer has no pooler; nor needs one.
    assert model.load_report.missing == ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]
    assert model.config.hidden_act == "gelu_exact"
    logits = model(x).numpy()
    real = x["input_mask"].astype(bool)  # padding positions mean nothing in either
    for i, want in enumerate((out.start_logits.numpy(), out.end_logits.numpy())):
        assert np.abs(np.where(real, logits[..., i] - want, 0)).max() <= 5e-5
    # Through a Google folder and back: the same weights.
    save_google_checkpoint(model, str(tmp_path / "google"))
    again = load_pretrained(str(tmp_path / "google"), BertQuestionAnswerer)
    for a, b in zip(again.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_squad_info_absent_written_and_bad(tmp_path):
    assert read_squad_info(str(tmp_path)) is None
    info = SquadInfo(do_lower_case=False, n_best_size=5)
    info.save(str(tmp_path))
    assert read_squad_info(str(tmp_path)) == info
    assert json.loads((tmp_path / SQUAD_INFO_NAME).read_text())["n_best_size"] == 5
    bad = {"not json": "{", "unknown field": '{"labels": []}', "a list": "[]",
           "a string size": '{"max_seq_length": "384"}',
           "stride too long": '{"max_seq_length": 64, "max_query_length": 20, "doc_stride": 41}',
           "threshold": '{"null_score_diff_threshold": "high"}'}
    for case, text in bad.items():
        (tmp_path / SQUAD_INFO_NAME).write_text(text)
        with pytest.raises(CheckpointError, match="squad_info.json") as err:
            read_squad_info(str(tmp_path))
        assert str(tmp_path) in str(err.value), case


def test_pooler_is_optional_for_the_answerer_only(tiny_config_dict, tmp_path):
    arrays = write_run_squad_folder(tmp_path / "squad_model", tiny_config_dict)
    no_pooler = {n: a for n, a in arrays.items() if not n.startswith("bert/pooler/")}
    write_tf1_checkpoint(str(tmp_path / "no_pooler" / "bert_model.ckpt"), no_pooler)
    model = BertQuestionAnswerer(BertConfig.from_dict(tiny_config_dict)).ensure_built()
    report = load_weights_into(model, str(tmp_path / "no_pooler" / "bert_model.ckpt"))
    assert report.missing == ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]
    with pytest.raises(CheckpointError, match="lacks variables the model needs: bert/pooler"):
        load_google_checkpoint(BertEncoder(BertConfig.from_dict(tiny_config_dict)),
                               str(tmp_path / "no_pooler" / "bert_model.ckpt"))
