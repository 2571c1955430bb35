"""The tagging head in checkpoints: the top-level `output_weights [num_labels, H]` /
`output_bias` of a Google folder and HF's `classifier.*`, loaded into and saved from
`BertTokenClassifier` bit for bit; parity with HF `BertForTokenClassification`; `ner_info.json`."""

import json

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.checkpoints import CheckpointError, load_pretrained, save_google_checkpoint
from bert_tf.checkpoints.ner_info import NER_INFO_NAME, NerInfo, read_ner_info
from bert_tf.modeling import BertConfig, BertTokenClassifier
from checkpoints.test_squad_head import inputs

LABELS = ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]


def test_google_folder_round_trip_with_ner_info(make_google_folder, tiny_config_dict, tmp_path):
    folder, arrays = make_google_folder(tiny_config_dict, with_pretraining_heads=False,
                                        num_labels=len(LABELS))
    model = load_pretrained(str(folder), BertTokenClassifier, num_labels=len(LABELS))
    assert model.load_report.missing == []
    np.testing.assert_array_equal(model.head.dense.kernel.numpy(), arrays["output_weights"].T)
    info = NerInfo(labels=LABELS, do_lower_case=False, max_seq_length=32, stride=10)
    prefix = save_google_checkpoint(model, str(tmp_path / "final_model"),
                                    extra_files=info.as_extra_file())
    reader = tf.train.load_checkpoint(prefix)
    for name, value in arrays.items():
        assert np.array_equal(reader.get_tensor(name), value), name
    assert read_ner_info(str(tmp_path / "final_model")) == info
    again = BertTokenClassifier.from_pretrained(str(tmp_path / "final_model"),
                                                num_labels=len(LABELS))
    np.testing.assert_array_equal(again(inputs()).numpy(), model(inputs()).numpy())
    assert again(inputs()).shape == (2, 10, len(LABELS))


def test_parity_with_hf_bert_for_token_classification(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, hidden_act="gelu",
        num_labels=len(LABELS))
    hf = transformers.BertForTokenClassification(hf_config).eval()
    with torch.no_grad():  # HF initialises the bias at 0: make it count in the comparison
        hf.classifier.bias.copy_(torch.linspace(-0.5, 0.5, len(LABELS)))
    hf.save_pretrained(str(tmp_path / "hf"), safe_serialization=True)
    x = inputs()
    with torch.no_grad():
        want = hf(input_ids=torch.tensor(x["input_word_ids"], dtype=torch.long),
                  attention_mask=torch.tensor(x["input_mask"], dtype=torch.long),
                  token_type_ids=torch.tensor(x["input_type_ids"], dtype=torch.long)).logits
    model = load_pretrained(str(tmp_path / "hf"), BertTokenClassifier, num_labels=len(LABELS))
    assert model.load_report.missing == ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]
    got = model(x).numpy()
    real = x["input_mask"].astype(bool)[..., None]
    assert np.abs(np.where(real, got - want.numpy(), 0)).max() <= 5e-5


def test_ner_info_absent_written_and_bad(tmp_path):
    assert read_ner_info(str(tmp_path)) is None
    NerInfo(labels=LABELS).save(str(tmp_path))
    assert read_ner_info(str(tmp_path)).labels == LABELS
    bad = {"not json": "{", "unknown field": '{"labels": ["O", "B-X"], "pooling": "cls"}',
           "one label": '{"labels": ["O"]}', "repeated": '{"labels": ["O", "O"]}',
           "stride": '{"labels": ["O", "B-X"], "max_seq_length": 8, "stride": 7}'}
    for case, text in bad.items():
        (tmp_path / NER_INFO_NAME).write_text(text)
        with pytest.raises(CheckpointError, match="ner_info.json"):
            read_ner_info(str(tmp_path))


def test_keras_round_trip():
    import keras
    model = BertTokenClassifier(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                           num_attention_heads=4, intermediate_size=37),
                                num_labels=3, dropout_rate=0.2).ensure_built()
    clone = BertTokenClassifier.from_config(json.loads(json.dumps(model.get_config())))
    clone.ensure_built().set_weights(model.get_weights())
    assert clone.num_labels == 3 and clone.dropout_rate == 0.2
    np.testing.assert_array_equal(clone(inputs()).numpy(), model(inputs()).numpy())
    assert keras.saving.get_registered_object("bert_tf>BertTokenClassifier") is BertTokenClassifier
