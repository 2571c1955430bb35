"""The official SQuAD metrics against hand-computed cases that exercise every rule (articles,
punctuation, whitespace, several gold answers, empty predictions and empty golds, the v2.0
splits, the null-odds threshold and the best-threshold sweep), and the command."""

import json
import random
import re
import subprocess
import sys

import pytest

from bert_tf.data import DataFormatError
from bert_tf.squad.evaluate import (best_threshold, evaluate_v1, evaluate_v2, exact_match_score,
                                    f1_score_v1, f1_score_v2, main, normalize_answer)
from squad.squad_builders import qa, squad_json


@pytest.mark.parametrize("text, normalised", [
    ("The Cat", "cat"),
    ("  A  man,  a plan; an canal: Panama! ", "man plan canal panama"),
    ("theatre anthem Thea", "theatre anthem thea"),   # articles only as whole words
    ("U.S.A.", "usa"),
    ("rock'n'roll", "rocknroll"),
    ("\tnew\n  york ", "new york"),
    ("\u00abParis\u00bb", "\u00abparis\u00bb"),          # only ASCII punctuation goes
    ("the\u2014end", "\u2014end"),                       # ... but it still bounds a word
    ("A", ""),
    ("", ""),
])
def test_normalize_answer(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_and_f1_by_hand():
    assert exact_match_score("The  Denver Broncos.", "denver broncos") == 1
    assert exact_match_score("Denver", "denver broncos") == 0
    assert f1_score_v1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    # Tokens count as a multiset: "x x y" and "x y y" share one x and one y.
    assert f1_score_v1("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1_score_v1("x x x", "x") == pytest.approx(0.5)
    assert f1_score_v1("cat", "dog") == 0.0
    # v1.1: two empty answers share no token (0); v2.0: they agree (1).
    assert f1_score_v1("", "") == 0.0 and f1_score_v2("", "") == 1.0
    assert f1_score_v2("the", "") == 1.0      # "the" normalises to empty
    assert f1_score_v2("", "cat") == 0.0 and f1_score_v2("cat", "") == 0.0
    assert f1_score_v2("the cat sat", "a cat sat down") == pytest.approx(0.8)


def dataset(*questions):
    return squad_json([("context", questions)])["data"]


def golds(qid, *texts):
    return qa(qid, "?", [(t, 0) for t in texts])


def test_v1_by_hand(capsys):
    data = dataset(golds("q1", "Denver Broncos", "The Denver Broncos"),
                   golds("q2", "Carolina Panthers"),
                   golds("q3", "Santa Clara, California", "Levi's Stadium"),
                   golds("q4", "gold"),
                   golds("q5", "missing"))
    predictions = {"q1": "denver broncos.", "q2": "the Panthers",
                   "q3": "Levi's Stadium in Santa Clara", "q4": "", "other": "ignored"}
    scores = evaluate_v1(data, predictions)
    # q2: P 1, R 1/2 -> 2/3. q3: best over the golds: P 2/5, R 1 against "Levi's Stadium" -> 4/7.
    assert scores == {"exact_match": pytest.approx(100 * 1 / 5),
                      "f1": pytest.approx(100 * (1 + 2 / 3 + 4 / 7) / 5)}
    assert "Unanswered question q5 will receive score 0." in capsys.readouterr().err


V2_DATA = dataset(golds("a1", "Paris"),
                  golds("a2", "the Seine river", "Seine"),
                  golds("a3", "the"),            # normalises to "": its gold becomes ""
                  golds("a4", "Louvre"),
                  qa("n1", "?", [], is_impossible=True),
                  qa("n2", "?", [], is_impossible=True))
V2_PREDICTIONS = {"a1": "Paris", "a2": "river", "a3": "", "a4": "", "n1": "France", "n2": ""}
V2_ODDS = {"a1": 0.1, "a3": 0.2, "a2": 0.3, "n1": 0.4, "a4": 0.7, "n2": 0.8}


def test_v2_by_hand():
    scores = evaluate_v2(V2_DATA, V2_PREDICTIONS)
    # exact: a1, a3, n2 -> 3/6. f1: a2 ("river" vs "seine river") 2/3; a4 (empty prediction
    # on an answerable question) 0; n1 (an answer to an unanswerable question) 0.
    assert list(scores) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                            "NoAns_exact", "NoAns_f1", "NoAns_total"]
    assert scores["exact"] == pytest.approx(50.0) and scores["total"] == 6
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0 + 0 + 1) / 6)
    assert scores["HasAns_exact"] == pytest.approx(50.0) and scores["HasAns_total"] == 4
    assert scores["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert (scores["NoAns_exact"], scores["NoAns_f1"], scores["NoAns_total"]) == (50.0, 50.0, 2)


def test_v2_null_odds_threshold_and_best_threshold():
    scores = evaluate_v2(V2_DATA, V2_PREDICTIONS, V2_ODDS)
    assert scores["exact"] == pytest.approx(50.0)   # no odds above the default 1.0
    # The sweep answers questions in increasing odds, starting from "no answer" everywhere
    # (2 correct): a1 +1 (3), a3 +1 (4), a2 +0 exact / +2/3 F1, n1 -1, a4 +0, n2 +0.
    assert scores["best_exact"] == pytest.approx(100 * 4 / 6)
    assert scores["best_exact_thresh"] == 0.2
    assert scores["best_f1"] == pytest.approx(100 * (4 + 2 / 3) / 6)
    assert scores["best_f1_thresh"] == 0.3
    # Odds above 0.35 count as "no answer": n1 becomes right, a4 stays wrong, n2 stays right.
    strict = evaluate_v2(V2_DATA, V2_PREDICTIONS, V2_ODDS, na_prob_thresh=0.35)
    assert strict["exact"] == pytest.approx(100 * 4 / 6)
    assert strict["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0 + 1 + 1) / 6)
    assert strict["NoAns_exact"] == 100.0


def test_best_threshold_against_every_threshold_on_random_cases():
    """The sweep against a direct search: for every threshold t, answer the questions whose
    odds are at most t and say "no answer" to the others."""
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        has = {f"q{i}": rng.random() < 0.6 for i in range(n)}
        predictions = {q: rng.choice(["", "x"]) for q in has}
        scores = {q: (rng.choice([0.0, 0.5, 1.0]) if has[q] else float(not predictions[q]))
                  for q in has}
        odds = {q: rng.uniform(-5, 5) for q in has}

        def total(t):
            return sum(scores[q] if odds[q] <= t else float(not has[q]) for q in has)

        best = max([total(float("-inf"))] + [total(t) for t in odds.values()])
        score, threshold = best_threshold(predictions, scores, odds, has)
        assert score == pytest.approx(100 * best / n)
        if best > total(float("-inf")) + 1e-9:
            assert total(threshold) == pytest.approx(best)


def test_v1_rejects_unanswerable_questions_and_v2_needs_every_prediction():
    with pytest.raises(DataFormatError, match="'n1' has no gold answer"):
        evaluate_v1(V2_DATA, V2_PREDICTIONS)
    with pytest.raises(DataFormatError, match="no prediction for question 'a1'"):
        evaluate_v2(V2_DATA, {})


def write(path, value):
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def _exit_status(function, argv):
    with pytest.raises(SystemExit) as stopped:
        function(argv)
    return stopped.value.code


def test_command_v1_prints_the_official_line(tmp_path, capsys):
    data = write(tmp_path / "dev.json", squad_json([("c", [golds("q1", "a cat"),
                                                          golds("q2", "dog")])]))
    preds = write(tmp_path / "predictions.json", {"q1": "Cat!", "q2": "a dog ."})
    assert main([data, preds]) == 0
    assert json.loads(capsys.readouterr().out) == {"exact_match": 100.0, "f1": 100.0}


def test_command_v2_with_null_odds(tmp_path, capsys):
    data = write(tmp_path / "dev.json", {"version": "v2.0", "data": V2_DATA})
    preds = write(tmp_path / "predictions.json", V2_PREDICTIONS)
    odds = write(tmp_path / "null_odds.json", V2_ODDS)
    assert main([data, preds, "--na_prob_file", odds, "--na_prob_thresh", "0.35"]) == 0
    out = capsys.readouterr().out
    scores = json.loads(out)
    assert out.startswith('{\n  "exact": ')   # indented, as the official v2.0 script prints
    assert scores["best_f1_thresh"] == 0.3 and scores["exact"] == pytest.approx(100 * 4 / 6)
    # The version follows the file: without odds, no best_* keys.
    assert main([data, preds]) == 0
    assert "best_exact" not in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("setup, match", [
    (lambda t, d, p: (str(t / "absent.json"), p), "absent.json: cannot read the SQuAD data"),
    (lambda t, d, p: (d, write(t / "list.json", ["x"])), "must be a JSON object keyed by"),
    (lambda t, d, p: (d, write(t / "num.json", {"a1": 3})), "'a1': 3 is not a valid"),
    (lambda t, d, p: (d, write(t / "some.json", {"a1": "Paris"})),
     r"some.json: no prediction for question 'a2' \(5 of 6"),
])
def test_command_bad_files_give_one_error_line(tmp_path, capsys, setup, match):
    data = write(tmp_path / "dev.json", {"version": "v2.0", "data": V2_DATA})
    preds = write(tmp_path / "predictions.json", V2_PREDICTIONS)
    assert _exit_status(main, list(setup(tmp_path, data, preds))) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(match, err)


def test_command_bad_json_and_missing_odds(tmp_path, capsys):
    data = write(tmp_path / "dev.json", {"version": "v2.0", "data": V2_DATA})
    preds = write(tmp_path / "predictions.json", V2_PREDICTIONS)
    broken = tmp_path / "broken.json"
    broken.write_text('{"a1": "Paris",\n', encoding="utf-8")
    assert _exit_status(main, [data, str(broken)]) == 1
    assert "broken.json, line 2: the predictions is not valid JSON" in capsys.readouterr().err
    odds = write(tmp_path / "odds.json", {"a1": 0.5})
    assert _exit_status(main, [data, preds, "--na_prob_file", odds]) == 1
    assert "odds.json: no null odds for question 'a2'" in capsys.readouterr().err


def test_module_entry_point_usage_and_out_file(tmp_path):
    command = [sys.executable, "-m", "bert_tf.squad.evaluate"]
    usage = subprocess.run(command, capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.startswith("error: ")
    assert usage.stderr.count("\n") == 1 and "data_file" in usage.stderr
    data = write(tmp_path / "dev.json", {"version": "v2.0", "data": V2_DATA})
    preds = write(tmp_path / "predictions.json", V2_PREDICTIONS)
    out = tmp_path / "scores.json"
    done = subprocess.run(command + [data, preds, "--out_file", str(out)], capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["exact"] == pytest.approx(50.0)
