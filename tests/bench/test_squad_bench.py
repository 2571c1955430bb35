"""bench.squad's own parts: the split by article, the settings, the step count it hands
run_squad.py, the throughput stamps, and the span head it gives HF (bert_tf's initial head)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from squad.squad_builders import answer_at, qa
from support.builders import write_vocab

from bench import squad

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTEXT = "john smith was born in paris in 1895 ."


def articles(questions_per_paragraph):
    """Articles A0, A1, ...: article i's paragraphs hold the given numbers of questions."""
    data = []
    for i, counts in enumerate(questions_per_paragraph):
        paragraphs = [{"context": CONTEXT,
                       "qas": [qa(f"a{i}p{j}q{k}", "who was born in paris ?",
                                  [answer_at(CONTEXT, "john smith")]) for k in range(n)]}
                      for j, n in enumerate(counts)]
        data.append({"title": f"A{i}", "paragraphs": paragraphs})
    return data


def count(split):
    return sum(len(p["qas"]) for a in split for p in a["paragraphs"])


def test_split_keeps_articles_apart_and_takes_whole_paragraphs():
    data = articles([[3, 4], [5], [2, 2, 2], [6, 1], [4, 4]])
    train, held_out = squad.split_articles(data, train_questions=8, eval_questions=9)
    # Evaluation from the end (A3 then A4 as file order), training from the start.
    assert [a["title"] for a in held_out] == ["A3", "A4"]
    assert [a["title"] for a in train] == ["A0", "A1"]
    assert [len(a["paragraphs"]) for a in held_out] == [1, 2]  # A3's paragraph of 6, A4
    assert count(held_out) == 14 and count(train) == 12
    assert not {a["title"] for a in train} & {a["title"] for a in held_out}
    originals = {p["qas"][0]["id"]: p for a in data for p in a["paragraphs"]}
    for split in (train, held_out):
        for article in split:
            for paragraph in article["paragraphs"]:
                assert paragraph == originals[paragraph["qas"][0]["id"]]
    # Training stops inside A2 once 13 questions are reached.
    train, held_out = squad.split_articles(data, train_questions=13, eval_questions=5)
    assert [a["title"] for a in held_out] == ["A4"]
    assert [(a["title"], len(a["paragraphs"])) for a in train] == [("A0", 2), ("A1", 1),
                                                                   ("A2", 1)]


def test_split_refuses_more_questions_than_the_articles_hold():
    data = articles([[3], [3], [3]])
    with pytest.raises(ValueError, match="3 articles hold 3 training and 6 evaluation"):
        squad.split_articles(data, train_questions=4, eval_questions=6)
    with pytest.raises(ValueError):
        squad.split_articles(data, train_questions=1, eval_questions=10)


def test_write_splits_gives_squad_files_bert_tf_reads(tmp_path):
    from bert_tf.data.squad import read_squad_examples

    source = tmp_path / "all.json"
    source.write_text(json.dumps({"version": "1.1", "data": articles([[2], [3], [4]])}))
    info = squad.write_splits(str(source), str(tmp_path), train_questions=2, eval_questions=4)
    assert info["train"]["articles"] == ["A0"] and info["eval"]["articles"] == ["A2"]
    for name, n in (("train", 2), ("eval", 4)):
        assert len(read_squad_examples(info[name]["file"], True).examples) == n
        assert info[name]["questions"] == n


def test_the_real_squad_file_splits_by_article():
    if not os.path.exists(squad.SQUAD_FILE):
        pytest.skip(f"{squad.SQUAD_FILE} is absent (../shared/data/squad)")
    with open(squad.SQUAD_FILE, encoding="utf-8") as f:
        data = json.load(f)["data"]
    for s in (squad.DEFAULTS, dict(squad.DEFAULTS, **squad.QUICK)):
        train, held_out = squad.split_articles(data, s["train_questions"], s["eval_questions"])
        assert not {a["title"] for a in train} & {a["title"] for a in held_out}
        assert count(train) >= s["train_questions"] and count(held_out) >= s["eval_questions"]


def parse(argv):
    parser = squad.build_parser()
    return squad.settings(parser.parse_args(argv), parser)


def test_settings_defaults_quick_and_overrides(monkeypatch):
    monkeypatch.setattr(squad, "minilm_dir", lambda: "/hf/minilm")
    s = parse([])
    assert {k: s[k] for k in squad.DEFAULTS} == squad.DEFAULTS
    assert s["hf_model"] == "/hf/minilm" and s["quick"] is False
    s = parse(["--quick", "--seeds", " 1, 2", "--lr", "3e-5"])
    assert s["train_questions"] == squad.QUICK["train_questions"]
    assert s["timing_repeats"] == squad.QUICK["timing_repeats"]
    assert s["batch"] == squad.DEFAULTS["batch"]
    assert (s["seeds"], s["lr"], s["quick"]) == ("1,2", 3e-5, True)
    assert parse(["--hf_model", "/x"])["hf_model"] == "/x"


@pytest.mark.parametrize("argv, message", [
    (["--batch", "0"], "--batch=0: must be at least 1"),
    (["--lr", "0"], "--lr=0.0: must be above 0"),
    (["--timing_repeats", "-1"], "--timing_repeats=-1"),
    (["--timing_steps", "5", "--log_every", "3"], "--timing_steps=5: must be at least twice"),
    (["--seeds", "1,x"], "--seeds='1,x'"),
    (["--epochs", "two"], "argument --epochs: invalid float value"),
])
def test_bad_settings_are_usage_errors(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(squad, "minilm_dir", lambda: "/hf/minilm")
    with pytest.raises(SystemExit) as stop:
        parse(argv)
    assert stop.value.code == 2
    assert "error: " + message in capsys.readouterr().err


@pytest.mark.parametrize("questions", [96, 103, 1200, 1217, 7635])
@pytest.mark.parametrize("steps", [1, 6, 12, 40])
def test_a_timing_run_gets_exactly_its_steps(questions, steps):
    s = dict(squad.DEFAULTS, model_dir="/m")
    files = {"train": {"file": "t.json", "questions": questions}}
    cmd = squad.bert_tf_command(s, files, "/out", 1, steps)
    epochs = float(next(a for a in cmd if a.startswith("--num_train_epochs=")).split("=")[1])
    assert squad.train_steps(questions, s["batch"], epochs) == steps  # run_squad's own count
    assert "--do_predict" not in cmd
    full = squad.bert_tf_command(s, dict(files, eval={"file": "e.json"}), "/out", 1)
    assert "--do_predict" in full and "--predict_file=e.json" in full
    assert f"--num_train_epochs={s['epochs']!r}" in full


def test_steady_rate_leaves_out_the_first_window():
    assert squad.steady_rate([(4, 10.0), (8, 14.0), (12, 18.0)], batch=16) == 16.0
    assert squad.steady_rate([(4, 10.0)], batch=16) is None
    assert squad.steady_rate([], batch=16) is None


def test_stream_stamps_step_lines_as_they_arrive(tmp_path):
    script = ("import time\nprint('warming up')\n"
              "for n in (2, 4, 6):\n    time.sleep(0.3)\n    print(f'step {n}/6  loss 1.0')\n")
    out, stamps, seconds = squad.stream([sys.executable, "-c", script], str(tmp_path / "log"))
    assert [(n, total) for n, total, _ in stamps] == [(2, 6), (4, 6), (6, 6)]
    times = [t for _, _, t in stamps]
    assert times[1] - times[0] >= 0.25 and times[2] - times[1] >= 0.25 and seconds >= times[2]
    assert (tmp_path / "log").read_text() == out and out.startswith("warming up")
    with pytest.raises(RuntimeError, match="exit status 3"):
        squad.stream([sys.executable, "-c", "raise SystemExit(3)"], str(tmp_path / "log2"))


def test_head_worker_rebuilds_the_head_run_squad_starts_from(tmp_path, tiny_config_dict):
    """HF's qa_outputs starts from the head this worker rebuilds; run_squad.py trained one
    step at a learning rate of ~0 keeps its initial head, which must be the same arrays."""
    import tensorflow as tf

    words = ["john", "smith", "was", "born", "in", "paris", "1895", ".", "who", "?"]
    vocab = write_vocab(tmp_path / "vocab.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + words)
    config = dict(tiny_config_dict, vocab_size=len(words) + 4)
    (tmp_path / "bert_config.json").write_text(json.dumps(config))
    data = {"version": "1.1", "data": articles([[4]])}
    (tmp_path / "train.json").write_text(json.dumps(data))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    run = subprocess.run(
        [sys.executable, "run_squad.py", f"--vocab_file={vocab}",
         f"--bert_config_file={tmp_path / 'bert_config.json'}", "--do_train",
         f"--train_file={tmp_path / 'train.json'}", f"--output_dir={tmp_path / 'out'}",
         "--max_seq_length=24", "--doc_stride=4", "--max_query_length=8",
         "--train_batch_size=4", "--num_train_epochs=1", "--learning_rate=1e-20",
         "--optimizer=adamw", "--seed=5"], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    head = tmp_path / "head.npz"
    run = subprocess.run(
        [sys.executable, "-m", "bench.squad", "--worker", "head", "--bert_config",
         str(tmp_path / "bert_config.json"), "--seed", "5", "--head", str(head)],
        cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    reader = tf.train.load_checkpoint(str(tmp_path / "out" / "final_model" / "bert_model.ckpt"))
    arrays = np.load(head)
    assert np.abs(arrays["kernel"]).max() > 0
    np.testing.assert_allclose(reader.get_tensor("cls/squad/output_weights"),
                               arrays["kernel"].T, atol=1e-12)
    np.testing.assert_allclose(reader.get_tensor("cls/squad/output_bias"), arrays["bias"],
                               atol=1e-12)


def test_main_stops_with_one_error_line_on_missing_or_too_small_inputs(tmp_path, capsys):
    model, source = tmp_path / "google", tmp_path / "small.json"
    model.mkdir()
    common = ["--model_dir", str(model), "--hf_model", str(tmp_path), "--squad_file", str(source)]
    assert squad.main(common) == 1
    assert capsys.readouterr().err.startswith(f"error: {source} is missing")
    source.write_text(json.dumps({"version": "1.1", "data": articles([[3], [3]])}))
    assert squad.main(common) == 1
    assert capsys.readouterr().err.startswith(
        f"error: {model / 'bert_model.ckpt.index'} is missing")
    (model / "bert_model.ckpt.index").write_bytes(b"")
    with pytest.raises(SystemExit) as stop:
        squad.main(common + ["--work_dir", str(tmp_path / "work")])
    assert stop.value.code == 2
    assert "error: --train_questions/--eval_questions: 2 articles hold" in capsys.readouterr().err
