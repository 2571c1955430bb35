"""HF safetensors folders: parity with HF transformers (PyTorch) on the real MiniLM weights,
the HF -> Google converter, and the refusal of pickles."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bert_tf.checkpoints import CheckpointError, detect_format, hf_name_to_google, load_pretrained
from bert_tf.modeling import BertEncoder

SENTENCES = [
    ("The patient reported fewer headaches after two weeks.", None),
    ("It did not help at all.", "My doctor switched me to another drug, which worked."),
    ("Side effects: nausea, dizziness and a dry mouth!", None),
    ("Great.", "Would recommend it to anyone with chronic pain; truly life-changing."),
]


def hf_batch(minilm_dir, max_len=32):
    from transformers import BertTokenizerFast
    tok = BertTokenizerFast.from_pretrained(str(minilm_dir))
    a = [s[0] for s in SENTENCES]
    b = [s[1] or "" for s in SENTENCES]
    enc = tok(a, b, padding="max_length", truncation=True, max_length=max_len, return_tensors="np")
    # Rows without a second sentence: re-encode as singles so they carry a single [SEP].
    single = tok([s[0] for s in SENTENCES], padding="max_length", truncation=True,
                 max_length=max_len, return_tensors="np")
    for i, (_, second) in enumerate(SENTENCES):
        if second is None:
            for key in enc:
                enc[key][i] = single[key][i]
    return {"input_word_ids": enc["input_ids"].astype(np.int32),
            "input_mask": enc["attention_mask"].astype(np.int32),
            "input_type_ids": enc["token_type_ids"].astype(np.int32)}


def hf_reference(minilm_dir, inputs):
    import torch
    from transformers import BertModel
    model = BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(inputs["input_word_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
                    token_type_ids=torch.tensor(inputs["input_type_ids"], dtype=torch.long),
                    output_hidden_states=True)
    return (out.last_hidden_state.numpy(), out.pooler_output.numpy(),
            [h.numpy() for h in out.hidden_states[1:]])


def max_diffs(encoder, inputs, reference):
    out = encoder(inputs)
    seq, pooled, layers = reference
    mask = inputs["input_mask"][..., None].astype(bool)
    # Padding positions carry no meaning (each implementation masks them differently).
    return {
        "sequence_output": float(np.abs(np.where(mask, out["sequence_output"].numpy() - seq, 0)).max()),
        "pooled_output": float(np.abs(out["pooled_output"].numpy() - pooled).max()),
        "every_layer": max(float(np.abs(np.where(mask, a.numpy() - b, 0)).max())
                           for a, b in zip(out["encoder_outputs"], layers)),
    }


@pytest.fixture(scope="module")
def minilm_google_dir(minilm_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm_google")
    result = subprocess.run([sys.executable, "-m", "bert_tf.convert", "--input", str(minilm_dir),
                             "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_parity_with_hf_transformers_on_minilm(minilm_dir, minilm_google_dir):
    inputs = hf_batch(minilm_dir)
    assert inputs["input_mask"].min() == 0 and inputs["input_type_ids"].max() == 1
    reference = hf_reference(minilm_dir, inputs)
    for source in (minilm_dir, minilm_google_dir):
        encoder = BertEncoder.from_pretrained(str(source))
        diffs = max_diffs(encoder, inputs, reference)
        print(f"MiniLM {detect_format(str(source))}: max abs diff vs HF transformers:", diffs)
        assert max(diffs.values()) <= 5e-5, diffs


def test_converter_records_exact_gelu(minilm_google_dir):
    config = json.loads((minilm_google_dir / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu_exact"
    assert config["vocab_size"] == 30522
    assert (minilm_google_dir / "vocab.txt").exists()
    assert detect_format(str(minilm_google_dir)) == "google"


def test_hf_and_google_folders_give_identical_weights(minilm_dir, minilm_google_dir):
    a = BertEncoder.from_pretrained(str(minilm_dir))
    b = BertEncoder.from_pretrained(str(minilm_google_dir))
    assert a.load_report.missing == [] and len(a.load_report.loaded) == 103
    for x, y in zip(a.weights, b.weights):
        assert np.array_equal(x.numpy(), y.numpy())


def test_pickle_is_refused_with_reason(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    for path in (tmp_path, tmp_path / "pytorch_model.bin"):
        with pytest.raises(CheckpointError) as err:
            load_pretrained(str(path))
        assert "pickle" in str(err.value) and "safetensors" in str(err.value)


def test_hf_names_map_to_google_names():
    assert hf_name_to_google("bert.encoder.layer.3.attention.self.query.weight") == (
        "bert/encoder/layer_3/attention/self/query/kernel", True)
    assert hf_name_to_google("embeddings.LayerNorm.weight") == ("bert/embeddings/LayerNorm/gamma", False)
    assert hf_name_to_google("cls.seq_relationship.weight") == ("cls/seq_relationship/output_weights", False)
    assert hf_name_to_google("cls.predictions.bias") == ("cls/predictions/output_bias", False)
    assert hf_name_to_google("cls.predictions.transform.LayerNorm.bias") == (
        "cls/predictions/transform/LayerNorm/beta", False)
    assert hf_name_to_google("cls.predictions.decoder.weight") is None
    assert hf_name_to_google("classifier.weight") == ("output_weights", False)
