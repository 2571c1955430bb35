"""bench.ner's own parts: the data subsets, the settings, the step count it hands run_ner.py,
the HF tensors and loss, the scoring of both systems, the targets, and the tagging layer it
gives HF (run_ner's initial one)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from ner.conftest import VOCAB, make_sentences, write_conll
from support.builders import write_vocab

from bench import ner
from bench.squad import STEP_LINE
from bert_tf.data.conll import read_conll

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = {"vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 128, "type_vocab_size": 2, "initializer_range": 0.02}


@pytest.fixture
def conll_dir(tmp_path):
    folder = tmp_path / "conll"
    folder.mkdir()
    write_conll(folder / "train.txt", make_sentences(30, 1))
    write_conll(folder / "dev.txt", make_sentences(12, 2))
    return folder


@pytest.fixture
def tiny_model(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    write_vocab(folder / "vocab.txt", VOCAB)
    (folder / "bert_config.json").write_text(json.dumps(TINY))
    return folder


def env():
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    environment.pop("TF_CONFIG", None)
    return environment


def test_subset_is_fixed_and_keeps_file_order():
    items = list(range(100))
    picked = ner.subset(items, 10)
    assert len(picked) == 10 and picked == sorted(picked) and picked == ner.subset(items, 10)
    assert picked != items[:10]  # drawn over the whole file, not its head
    assert ner.subset(items, 100) == items and ner.subset(items, 500) == items


def test_write_data_writes_the_subsets_run_ner_reads(conll_dir, tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    counts = ner.write_data(str(conll_dir), str(out), train_sentences=8, dev_sentences=50)
    source = read_conll(str(conll_dir / "train.txt"))
    written = read_conll(str(out / "train.txt"))
    assert [(s.words, s.tags) for s in written] == [(s.words, s.tags)
                                                   for s in ner.subset(source, 8)]
    assert counts["train"]["sentences"] == 8 and counts["dev"]["sentences"] == 12
    assert counts["train"]["words"] == sum(len(s.words) for s in written)
    assert counts["dev"]["entities"] == sum(t.startswith("B-") for s in
                                            read_conll(str(out / "dev.txt")) for t in s.tags)


@pytest.mark.parametrize("sentences", [128, 131, 3000, 3017, 14041])
@pytest.mark.parametrize("steps", [1, 6, 12, 40])
def test_a_timing_run_gets_exactly_its_steps(sentences, steps):
    s = dict(ner.DEFAULTS, model_dir="/m")
    cmd = ner.bert_tf_command(s, "/data", sentences, "/out", 1, steps)
    epochs = float(next(a for a in cmd if a.startswith("--num_train_epochs=")).split("=")[1])
    assert ner.train_steps(sentences, s["batch"], epochs) == steps  # run_ner's own count
    assert "--do_eval" not in cmd
    full = ner.bert_tf_command(s, "/data", sentences, "/out", 1)
    assert "--do_eval" in full and f"--num_train_epochs={s['epochs']!r}" in full
    for flag in ("--optimizer=adamw", "--max_seq_length=128", "--clip_norm=1.0",
                 "--weight_decay=0.01", "--classifier_dropout=0.1", "--do_lower_case=true"):
        assert flag in full


def parse(argv):
    parser = ner.build_parser()
    return ner.settings(parser.parse_args(argv), parser)


def test_settings_defaults_quick_and_overrides(monkeypatch):
    monkeypatch.setattr(ner, "minilm_dir", lambda: "/hf/minilm")
    s = parse([])
    assert {k: s[k] for k in ner.DEFAULTS} == ner.DEFAULTS
    assert s["hf_model"] == "/hf/minilm" and s["quick"] is False
    s = parse(["--quick", "--seeds", " 1, 2", "--lr", "3e-5"])
    assert s["train_sentences"] == ner.QUICK["train_sentences"]
    assert s["timing_repeats"] == ner.QUICK["timing_repeats"]
    assert s["batch"] == ner.DEFAULTS["batch"]
    assert (s["seeds"], s["lr"], s["quick"]) == ("1,2", 3e-5, True)
    assert parse(["--hf_model", "/x"])["hf_model"] == "/x"


@pytest.mark.parametrize("argv, message", [
    (["--batch", "0"], "--batch=0: must be at least 1"),
    (["--dev_sentences", "0"], "--dev_sentences=0: must be at least 1"),
    (["--lr", "0"], "--lr=0.0: must be above 0"),
    (["--timing_repeats", "-1"], "--timing_repeats=-1"),
    (["--timing_steps", "5", "--log_every", "3"], "--timing_steps=5: must be at least twice"),
    (["--train_sentences", "100"], "--train_sentences=100: the full runs need at least 8"),
    (["--seeds", "1,x"], "--seeds='1,x'"),
    (["--epochs", "two"], "argument --epochs: invalid float value"),
])
def test_bad_settings_are_usage_errors(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(ner, "minilm_dir", lambda: "/hf/minilm")
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    assert stop.value.code == 2
    assert "error: " + message in capsys.readouterr().err


def windows(tiny_model, sentences, seq=16):
    from bert_tf.data.conll import labels_from_sentences
    from bert_tf.data.ner_features import convert_sentences_to_features
    from bert_tf.tokenization import FullTokenizer

    labels = labels_from_sentences(sentences)
    tokenizer = FullTokenizer(str(tiny_model / "vocab.txt"), do_lower_case=True)
    return labels, convert_sentences_to_features(sentences, labels, seq, tokenizer)


def test_score_of_taken_back_ids_matches_the_predictions_file(conll_dir, tiny_model, tmp_path):
    """The HF side's scoring (token ids -> words -> conlleval) and the rescoring of run_ner's
    eval_predictions.txt give the same numbers for the same tags."""
    from bert_tf.data.ner_features import words_from_tokens
    from bert_tf.ner.predictions import tags_from_ids, write_predictions

    dev = read_conll(str(conll_dir / "dev.txt"))
    labels, features = windows(tiny_model, dev)
    assert len(features) > len(dev)  # long sentences take several windows
    gold = np.array([f.label_ids for f in features])
    rng = np.random.default_rng(0)
    predicted = np.where(rng.random(gold.shape) < 0.15,
                         rng.integers(0, len(labels), gold.shape), np.maximum(gold, 0))
    scores = ner.score(dev, features, predicted, labels)
    assert 0 < scores["f1"] < 100 and scores["num_gold_entities"] > 0
    per_word = words_from_tokens([f.sentence_index for f in features],
                                 [f.word_ids for f in features], predicted,
                                 [len(s.words) for s in dev])
    path = write_predictions(str(tmp_path / "eval_predictions.txt"), dev,
                             tags_from_ids(per_word, labels))
    assert ner.rescore_predictions(path) == pytest.approx(scores)
    perfect = ner.score(dev, features, np.maximum(gold, 0), labels)
    assert perfect["f1"] == 100 and perfect["PER_f1"] == 100


def test_hf_tensors_and_loss_are_run_ners(conll_dir, tiny_model):
    """HF ignores exactly the positions run_ner does not score, and its loss (the mean over
    the positions not -100) is run_ner's token_loss averaged over the batch."""
    torch = pytest.importorskip("torch", reason="torch is in the `bench` extra")
    transformers = pytest.importorskip("transformers",
                                       reason="transformers is in the `bench` extra")
    import tensorflow as tf

    from bert_tf.ner.task import token_loss

    train = read_conll(str(conll_dir / "train.txt"))
    labels, features = windows(tiny_model, train)
    data = ner.hf_tensors(features[:8])
    ids = np.array([f.label_ids for f in features[:8]])
    assert ((data["labels"].numpy() == -100) == (ids == -1)).all()
    assert (data["labels"].numpy()[ids >= 0] == ids[ids >= 0]).all()
    assert data["input_ids"].shape == (8, 16) and data["input_ids"].dtype == torch.int64
    config = transformers.BertConfig(**TINY, num_labels=len(labels))
    model = transformers.BertForTokenClassification(config).eval()
    with torch.no_grad():
        out = model(**data)
    weights = (ids >= 0).astype(np.float32)
    ours = token_loss(tf.constant(out.logits.numpy()),
                      (tf.constant(np.maximum(ids, 0)), tf.constant(weights)))
    assert float(out.loss) == pytest.approx(float(tf.reduce_mean(ours)), rel=1e-5)


def test_hf_worker_trains_logs_steps_and_scores(tmp_path, conll_dir, tiny_model):
    """The HF worker on a tiny HF model: its step lines (what the bench times), its window
    count, and dev scores; each batch cut to its longest row (`--pad longest`)."""
    torch = pytest.importorskip("torch", reason="torch is in the `bench` extra")
    transformers = pytest.importorskip("transformers",
                                       reason="transformers is in the `bench` extra")

    hf = tmp_path / "hf"
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(**TINY)).save_pretrained(str(hf))
    np.savez(tmp_path / "head.npz", kernel=np.full((32, 7), 0.01, np.float32),
             bias=np.zeros(7, np.float32))
    run = subprocess.run(
        [sys.executable, "-m", "bench.ner", "--worker", "hf", "--train_file",
         str(conll_dir / "train.txt"), "--predict_file", str(conll_dir / "dev.txt"),
         "--model_dir", str(tiny_model), "--hf_model", str(hf), "--head",
         str(tmp_path / "head.npz"), "--steps", "4", "--batch", "8", "--log_every", "2",
         "--lr", "1e-3", "--pad", "longest"], cwd=REPO, env=env(), capture_output=True,
        text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert [x.split()[1] for x in lines if STEP_LINE.match(x)] == ["2/4", "4/4"]
    _, features = windows(tiny_model, read_conll(str(conll_dir / "train.txt")), seq=ner.SEQ)
    assert [int(m.group(1)) for m in map(ner.WINDOWS_LINE.match, lines) if m] == [len(features)]
    result = json.loads(next(x for x in lines if x.startswith(ner.RESULT_PREFIX))
                        [len(ner.RESULT_PREFIX):])
    assert result["train_steps"] == 4 and result["train_windows"] == len(features)
    assert result["scores"]["num_gold_entities"] > 0 and 0 <= result["scores"]["f1"] <= 100


def entry(f1, rate, seconds=100.0):
    scores = {"f1": f1, "precision": f1, "recall": f1, "token_accuracy": 95.0, "PER_f1": f1}
    return {"scores": scores, "examples_per_s": rate, "seconds": seconds}


def test_summarize_judges_the_targets_on_the_short_runs():
    runs = {"bert_tf": [entry(80.0, 30.0), entry(81.0, 30.0)],
            "hf_torch": [entry(81.0, 20.0), entry(80.8, 20.0)]}
    timing = {"bert_tf": [{"examples_per_s": r} for r in (24.0, 26.0, 25.0)],
              "hf_torch": [{"examples_per_s": r} for r in (20.0, 20.0, 20.0)],
              ner.HF_LONGEST: [{"examples_per_s": 50.0}]}
    result = ner.summarize(runs, timing)
    t = result["targets"]
    assert t["f1_gap_points"] == pytest.approx(-0.4) and t["f1_ok"]
    assert t["speedup"] == pytest.approx(1.25) and t["speed_ok"]
    assert t["speedup_source"] == "timing_examples_per_s"
    assert t["full_run_speedup"] == pytest.approx(1.5)
    assert t["speedup_vs_hf_longest"] == pytest.approx(0.5)
    assert result["bert_tf"]["PER_f1"]["mean"] == pytest.approx(80.5)
    assert result["bert_tf"]["token_accuracy"]["mean"] == 95.0
    assert result["bert_tf"]["f1"]["n"] == 2 and result[ner.HF_LONGEST]["full_runs"] == []
    text = ner.table(result)
    assert "| bert_tf | 80.50 |" in text and f"| {ner.HF_LONGEST} (timing only) | - |" in text
    runs["bert_tf"] = [entry(80.0, 22.0)]
    result = ner.summarize(runs, {})  # no timing runs: the full runs' rates count
    t = result["targets"]
    assert not t["f1_ok"] and not t["speed_ok"] and t["speedup_vs_hf_longest"] is None
    assert t["speedup_source"] == "full_run_examples_per_s"
    assert t["speedup"] == pytest.approx(1.1)


def test_head_worker_rebuilds_the_head_run_ner_starts_from(tmp_path, conll_dir, tiny_model):
    """HF's classifier starts from the layer this worker rebuilds; run_ner.py trained one step
    at a learning rate of ~0 keeps its initial layer, which must be the same arrays."""
    import tensorflow as tf

    run = subprocess.run(
        [sys.executable, "run_ner.py", f"--data_dir={conll_dir}",
         f"--vocab_file={tiny_model / 'vocab.txt'}",
         f"--bert_config_file={tiny_model / 'bert_config.json'}", "--do_train",
         f"--output_dir={tmp_path / 'out'}", "--max_seq_length=16", "--train_batch_size=30",
         "--num_train_epochs=1", "--learning_rate=1e-20", "--optimizer=adamw", "--seed=5"],
        cwd=REPO, env=env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    head = tmp_path / "head.npz"
    run = subprocess.run(
        [sys.executable, "-m", "bench.ner", "--worker", "head", "--bert_config",
         str(tiny_model / "bert_config.json"), "--seed", "5", "--num_labels", "7", "--head",
         str(head)], cwd=REPO, env=env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    reader = tf.train.load_checkpoint(str(tmp_path / "out" / "final_model" / "bert_model.ckpt"))
    arrays = np.load(head)
    assert arrays["kernel"].shape == (32, 7) and np.abs(arrays["kernel"]).max() > 0
    np.testing.assert_allclose(reader.get_tensor("output_weights"), arrays["kernel"].T,
                               atol=1e-12)
    np.testing.assert_allclose(reader.get_tensor("output_bias"), arrays["bias"], atol=1e-12)


def test_the_real_conll_files_give_the_default_subsets(tmp_path):
    if not os.path.exists(os.path.join(ner.CONLL_DIR, "train.txt")):
        pytest.skip(f"{ner.CONLL_DIR} is absent (../shared/data/conll2003)")
    counts = ner.write_data(ner.CONLL_DIR, str(tmp_path), ner.DEFAULTS["train_sentences"],
                            ner.DEFAULTS["dev_sentences"])
    assert counts["train"]["sentences"] == ner.DEFAULTS["train_sentences"]
    assert counts["dev"]["sentences"] == 3250  # the whole dev file
    assert ner.train_steps(counts["train"]["sentences"], ner.DEFAULTS["batch"],
                           ner.DEFAULTS["epochs"]) >= 2 * ner.DEFAULTS["log_every"]


def test_main_stops_with_one_error_line_on_missing_inputs(tmp_path, conll_dir, capsys):
    model = tmp_path / "google"
    model.mkdir()
    common = ["--model_dir", str(model), "--hf_model", str(tmp_path)]
    assert ner.main(common + ["--conll_dir", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: {tmp_path / 'none' / 'train.txt'} is missing")
    assert ner.main(common + ["--conll_dir", str(conll_dir)]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: {model / 'bert_model.ckpt.index'} is missing")
