"""bench.glue's pieces on tiny data: the train subset, the scores, the tokenization check, and a
whole side-by-side run (both systems, two seeds) on a tiny MRPC-layout folder with a tiny model
that exists in both formats (HF folder, converted to a Google folder)."""

import json
import random
import subprocess
import sys

import pytest
import sklearn.metrics as sklearn_metrics

from bench import glue

WORDS = [f"w{i}" for i in range(60)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"


def sentence(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12)))


def write_glue_dir(root, n_train=40, n_dev=12):
    rng = random.Random(0)
    folder = root / "MRPC"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("dev", n_dev)):
        rows = [f"{i % 2}\t{i}\t{i}\t{sentence(rng)}\t{sentence(rng)}" for i in range(n)]
        # GLUE's own files start with a BOM.
        (folder / f"{name}.tsv").write_text("\ufeff" + "\n".join([MRPC_HEADER] + rows) + "\n",
                                            encoding="utf-8")
    return root


def test_prepare_keeps_dev_and_draws_a_fixed_train_subset(tmp_path):
    glue_dir = write_glue_dir(tmp_path / "glue")
    counts = glue.prepare("mrpc", str(glue_dir), str(tmp_path / "a"), subset=10)
    assert counts == {"train": 10, "dev": 12}
    glue.prepare("mrpc", str(glue_dir), str(tmp_path / "b"), subset=10)
    assert (tmp_path / "a/train.tsv").read_text() == (tmp_path / "b/train.tsv").read_text()
    a, b, y = glue.read_split(str(tmp_path / "a/train.tsv"), "mrpc")
    original = glue.read_split(str(glue_dir / "MRPC/train.tsv"), "mrpc")
    assert len(a) == len(b) == len(y) == 10
    assert set(a) <= set(original[0])
    # In file order, so the subset is a plain cut of train.tsv.
    assert [original[0].index(x) for x in a] == sorted(original[0].index(x) for x in a)
    assert glue.prepare("mrpc", str(glue_dir), str(tmp_path / "c"))["train"] == 40


def test_binary_scores_match_scikit_learn():
    rng = random.Random(1)
    for n in (1, 7, 100):
        labels = [rng.randint(0, 1) for _ in range(n)]
        predictions = [rng.randint(0, 1) for _ in range(n)]
        got = glue.binary_scores(predictions, labels)
        assert got["accuracy"] == pytest.approx(
            sklearn_metrics.accuracy_score(labels, predictions))
        assert got["f1"] == pytest.approx(
            sklearn_metrics.f1_score(labels, predictions, zero_division=0))
    assert glue.binary_scores([0, 0], [0, 0]) == {"accuracy": 1.0, "f1": 0.0}


def test_summary_and_targets():
    runs = [{"accuracy": 0.8, "f1": 0.85, "seconds": 100.0},
            {"accuracy": 0.82, "f1": 0.86, "seconds": 120.0}]
    s = glue.summarize(runs)
    assert s["accuracy_mean"] == pytest.approx(0.81) and s["seconds_range"] == [100.0, 120.0]
    entry = {"bert_tf": dict(s), "hf_torch": dict(s, accuracy_mean=0.816, seconds_mean=143.0)}
    t = glue.check_targets(entry)
    assert t["accuracy_gap_points"] == pytest.approx(-0.6) and not t["accuracy_ok"]
    assert t["speedup"] == pytest.approx(1.3) and t["speed_ok"]


@pytest.fixture
def tiny_pair(tmp_path):
    """A tiny model as an HF folder and as the Google folder converted from it."""
    pytest.importorskip("torch", reason="the HF peer (torch) is not installed")
    transformers = pytest.importorskip("transformers", reason="the HF peer is not installed")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=37,
                                     max_position_embeddings=128, num_labels=2)
    transformers.BertForSequenceClassification(config).save_pretrained(hf)
    # From the folder's vocab.txt (transformers 5 ignores a `vocab_file=` argument).
    transformers.BertTokenizerFast.from_pretrained(str(hf)).save_pretrained(hf)
    google = tmp_path / "google"
    subprocess.run([sys.executable, "-m", "bert_tf.convert", "--input", str(hf), "--output",
                    str(google)], check=True, capture_output=True)
    return hf, google


def test_hf_tokenizer_gives_bert_tf_ids(tiny_pair, tmp_path):
    hf, google = tiny_pair
    from transformers import BertTokenizerFast

    glue_dir = write_glue_dir(tmp_path / "glue")
    data = tmp_path / "data"
    glue.prepare("mrpc", str(glue_dir), str(data))
    ours = glue.bert_tf_dev_ids("mrpc", str(data), str(google / "vocab.txt"))
    a, b, _ = glue.read_split(str(data / "dev.tsv"), "mrpc")
    theirs = BertTokenizerFast.from_pretrained(str(hf))(a, b, truncation=True,
                                                        max_length=glue.SEQ)["input_ids"]
    assert ours == theirs


def test_side_by_side_run_on_tiny_data(tiny_pair, tmp_path, capsys):
    hf, google = tiny_pair
    glue_dir = write_glue_dir(tmp_path / "glue")
    output = tmp_path / "results_glue.json"
    assert glue.main(["--tasks", "mrpc", "--seeds", "1,2", "--glue_dir", str(glue_dir),
                      "--model_dir", str(google), "--hf_model", str(hf),
                      "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    entry = result["tasks"]["mrpc"]
    assert entry["train_examples"] == 40 and entry["dev_examples"] == 12
    assert entry["steps"] == 1  # int(40 / 32 * 1 epoch)
    assert entry["hf_tokenizer_same_ids_as_bert_tf"] == "12/12"
    for system in ("bert_tf", "hf_torch"):
        runs = entry[system]["runs"]
        assert [r["seed"] for r in runs] == [1, 2]
        assert all(r["steps"] == 1 and 0.0 <= r["accuracy"] <= 1.0 and r["seconds"] > 0
                   for r in runs)
    assert set(entry["targets"]) == {"accuracy_gap_points", "accuracy_ok", "speedup", "speed_ok"}
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    assert "| MRPC | bert_tf |" in capsys.readouterr().out
