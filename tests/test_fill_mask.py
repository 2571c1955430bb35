"""bert_tf.fill_mask: [MASK] handling, probabilities against the model's own logits, next-sentence
scoring, and the warning for checkpoints without pretraining heads (the converted MiniLM).

Fill-mask on a model whose heads were really trained is in
tests/training/test_run_pretraining.py, which reuses its pretraining run.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "bert_tf.fill_mask", *args], cwd=str(REPO_ROOT),
                          text=True, capture_output=True, timeout=240)


@pytest.fixture
def tiny_predictor(make_google_folder, tiny_config_dict):
    from bert_tf.fill_mask import Predictor

    folder, _ = make_google_folder(tiny_config_dict, with_pretraining_heads=True)
    return Predictor.load(str(folder))


def test_mask_literal_becomes_one_token(tiny_predictor):
    assert tiny_predictor._tokens("w1 [MASK] w2[MASK]") == ["w1", "[MASK]", "w2", "[MASK]"]


def test_fill_mask_gives_the_softmax_of_the_mlm_logits_at_each_mask(tiny_predictor):
    from bert_tf.training.metrics import softmax

    results = tiny_predictor.fill_mask("w1 [MASK] w2 [MASK]", top_k=3)
    assert len(results) == 2 and all(len(r) == 3 for r in results)
    # [CLS] w1 [MASK] w2 [MASK] [SEP]: the masks sit at positions 2 and 4.
    vocab = tiny_predictor.tokenizer.vocab
    ids = [2, vocab["w1"], vocab["[MASK]"], vocab["w2"], vocab["[MASK]"], 3]
    inputs = {"input_word_ids": np.array([ids], np.int32),
              "input_mask": np.ones((1, 6), np.int32), "input_type_ids": np.zeros((1, 6), np.int32),
              "masked_lm_positions": np.array([[2, 4]], np.int32)}
    probs = softmax(np.asarray(tiny_predictor.model(inputs)["mlm_logits"], np.float64))[0]
    for row, candidates in zip(probs, results):
        best = np.argsort(-row)[:3]
        assert [t for t, _ in candidates] == [tiny_predictor.tokenizer.inv_vocab[i] for i in best]
        np.testing.assert_allclose([p for _, p in candidates], row[best], rtol=1e-6)
        assert sum(p for _, p in candidates) <= 1.0


def test_next_sentence_is_softmax_of_nsp_logits_index_0(tiny_predictor):
    from bert_tf.training.metrics import softmax

    vocab = tiny_predictor.tokenizer.vocab
    ids = [2, vocab["w1"], vocab["w2"], 3, vocab["w3"], 3]
    inputs = {"input_word_ids": np.array([ids], np.int32),
              "input_mask": np.ones((1, 6), np.int32),
              "input_type_ids": np.array([[0, 0, 0, 0, 1, 1]], np.int32),
              "masked_lm_positions": np.zeros((1, 1), np.int32)}
    expected = softmax(np.asarray(tiny_predictor.model(inputs)["nsp_logits"], np.float64))[0, 0]
    assert tiny_predictor.next_sentence("w1 w2", "w3") == pytest.approx(expected, rel=1e-6)


def test_bad_text_raises_fill_mask_error(tiny_predictor):
    from bert_tf.fill_mask import FillMaskError

    with pytest.raises(FillMaskError, match="no \\[MASK\\]"):
        tiny_predictor.fill_mask("w1 w2")
    too_long = " ".join(["w1"] * 70) + " [MASK]"  # the tiny model has 64 positions
    with pytest.raises(FillMaskError, match="longer than the model's 64 positions"):
        tiny_predictor.fill_mask(too_long)


def test_checkpoint_without_heads_warns(make_google_folder, tiny_config_dict):
    from bert_tf.fill_mask import Predictor

    folder, _ = make_google_folder(tiny_config_dict, with_pretraining_heads=False)
    warning = Predictor.load(str(folder)).warning()
    assert warning.startswith("warning: ") and "meaningless" in warning
    assert "cls/predictions/output_bias" in warning


def test_command_line_on_converted_minilm_warns_and_prints_probabilities(minilm_dir, tmp_path):
    from bert_tf.convert import convert_hf_to_google

    model = tmp_path / "minilm_google"
    convert_hf_to_google(str(minilm_dir), str(model))
    run = _cli(f"--model={model}", "--text=the [MASK] sat on the [MASK] .", "--top_k=4",
               "--text_a=the cat sat on the mat .", "--text_b=it was happy .")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "meaningless" in run.stderr
    vocab = set((model / "vocab.txt").read_text(encoding="utf-8").split("\n"))
    lines = run.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["[MASK] 1", "[MASK] 2"]
    for line in lines[:2]:
        fields = line.split(": ", 1)[1].split()
        tokens, probs = fields[0::2], [float(x) for x in fields[1::2]]
        assert len(tokens) == 4 and set(tokens) <= vocab
        assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-3
    assert lines[2].startswith("P(is next) = ")
    assert 0.0 <= float(lines[2].split(" = ")[1]) <= 1.0


@pytest.mark.parametrize("args, message", [
    ([], "--model is required"),
    (["--model=x"], "give --text (with [MASK]) or --text_a and --text_b"),
    (["--model=x", "--text_a=hi"], "needs both --text_a and --text_b"),
    (["--model=/nonexistent/model", "--text=[MASK]"], "/nonexistent/model"),
])
def test_command_line_errors_are_one_line(args, message):
    run = _cli(*args)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
