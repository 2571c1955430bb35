"""Answer decoding against hand-computed cases: n-best over windows with the original's rules
(max context, spans outside the document, end before start, maximum length), final-text
projection, probabilities, the v2.0 null score and threshold, and the output files."""

import collections
import json
import math
import os

import numpy as np
import pytest

from bert_tf.data.squad import read_squad_examples
from bert_tf.data.squad_features import convert_examples_to_features
from bert_tf.squad.postprocess import (RawResult, SquadPredictions, best_indexes,
                                       compute_predictions, get_final_text, raw_results, softmax,
                                       write_predictions)
from squad.squad_builders import answer_at, qa, squad_tokenizer, write_squad

STORE = "The man  went to the store and bought a gallon of milk."
# Three windows (max_seq_length 16, doc_stride 4, a 5-piece question); document positions 7-14:
#   w0: the man went to the store and bought       (max context for "the" .. "store")
#   w1: the store and bought a gallon of milk      (max context for "and" .. "gallon")
#   w2: a gallon of milk .  (positions 7-11)       (max context for "of" .. ".")


@pytest.fixture
def store(tmp_path):
    path = write_squad(tmp_path / "store.json", [(STORE, [
        qa("q", "What did he buy?", [answer_at(STORE, "milk")])])])
    examples = read_squad_examples(path, is_training=False).examples
    features = convert_examples_to_features(examples, squad_tokenizer(tmp_path), 16, 4, 6)
    assert len(features) == 3
    return examples, features


def logits(peaks, default=-10.0, length=16):
    values = np.full(length, default)
    for position, value in peaks.items():
        values[position] = value
    return values.tolist()


def results(features, windows):
    """windows: per window ({position: start logit}, {position: end logit})."""
    return [RawResult(f.unique_id, logits(s), logits(e)) for f, (s, e) in zip(features, windows)]


# n_best_size 2: each window pairs its 2 best starts with its 2 best ends.
#   w0: starts 2 (question), 8 "man"; ends 15 ([SEP]), 8   -> only "man" (3 + 2 = 5)
#   w1: starts 11 "a", 10 "bought"; ends 14 "milk", 9 "and" -> "a gallon of milk" (9),
#       "bought a gallon of milk" (5); the other two end before they start
#   w2: starts 7 "a" (not its max context), 9 "of"; ends 10 "milk", 11 "." -> "of milk" (7),
#       "of milk." (3)
WINDOWS = [({2: 20.0, 8: 3.0}, {15: 20.0, 8: 2.0}),
           ({11: 5.0, 10: 1.0}, {14: 4.0, 9: 0.5}),
           ({7: 6.0, 9: 2.0}, {10: 5.0, 11: 1.0})]


def test_nbest_by_hand(store):
    examples, features = store
    answers = compute_predictions(examples, features, results(features, WINDOWS), n_best_size=2,
                                  max_answer_length=30, do_lower_case=True)
    nbest = answers.nbest["q"]
    assert [(e.text, e.start_logit, e.end_logit) for e in nbest] == \
        [("a gallon of milk", 5.0, 4.0), ("of milk", 2.0, 5.0)]
    p = 1 / (1 + math.exp(-2.0))
    assert [e.probability for e in nbest] == pytest.approx([p, 1 - p])
    assert answers.predictions == {"q": "a gallon of milk"} and answers.null_odds is None
    top = nbest[0]
    assert STORE[top.start_char:top.end_char] == "a gallon of milk"

    wider = compute_predictions(examples, features, results(features, WINDOWS), n_best_size=5,
                                max_answer_length=30, do_lower_case=True)
    # Two spans score 5: the earlier window's comes first, as in the original's stable sort.
    assert [e.text for e in wider.nbest["q"]][:5] == \
        ["a gallon of milk", "of milk", "man", "bought a gallon of milk", "of milk."]


def test_max_answer_length_drops_long_spans(store):
    examples, features = store
    answers = compute_predictions(examples, features, results(features, WINDOWS), n_best_size=2,
                                  max_answer_length=3, do_lower_case=True)
    # "a gallon of milk" (4 pieces) and "bought a gallon of milk" (5) are too long.
    assert [e.text for e in answers.nbest["q"]] == ["of milk", "man"]


def test_no_valid_span_gives_the_original_placeholder(store):
    examples, features = store
    inside_question = [({2: 9.0, 3: 8.0}, {4: 9.0, 5: 8.0})] * 3
    answers = compute_predictions(examples, features, results(features, inside_question),
                                  n_best_size=2)
    assert [(e.text, e.probability, e.start_logit, e.end_logit) for e in answers.nbest["q"]] == \
        [("empty", 1.0, 0.0, 0.0)]
    assert answers.predictions["q"] == "empty"


def test_repeated_text_is_listed_once(tmp_path):
    context = "x y  x"
    path = write_squad(tmp_path / "xyx.json", [(context, [qa("q", "What?")])])
    examples = read_squad_examples(path, is_training=False).examples
    features = convert_examples_to_features(examples, squad_tokenizer(tmp_path), 16, 4, 6)
    # [CLS] what ? [SEP] x y x [SEP]: "x" at 4 and 6; the lower-scoring copy is dropped.
    peaks = logits({4: 4.0, 6: 3.0})
    answers = compute_predictions(examples, features, [RawResult(features[0].unique_id, peaks,
                                                                 peaks)], n_best_size=3)
    assert [(e.text, e.start_logit + e.end_logit) for e in answers.nbest["q"]] == \
        [("x", 8.0), ("x y x", 7.0)]
    # The text joins words with one space; the offsets keep the context's own spacing.
    first, second = answers.nbest["q"]
    assert (first.start_char, first.end_char) == (0, 1)
    assert context[second.start_char:second.end_char] == "x y  x"


def test_version_2_null_score_and_threshold(store):
    examples, features = store
    windows = [({**s, 0: a}, {**e, 0: b})
               for (s, e), (a, b) in zip(WINDOWS, [(1.0, 1.0), (0.5, 0.2), (1.5, 0.5)])]
    kwargs = dict(n_best_size=2, max_answer_length=30, do_lower_case=True,
                  version_2_with_negative=True)
    answers = compute_predictions(examples, features, results(features, windows), **kwargs)
    # Null score: the smallest start[0] + end[0] over the windows, 0.5 + 0.2 (w1).
    nbest = answers.nbest["q"]
    assert [(e.text, e.start_logit, e.end_logit) for e in nbest] == \
        [("a gallon of milk", 5.0, 4.0), ("of milk", 2.0, 5.0), ("", 0.5, 0.2)]
    assert [e.probability for e in nbest] == pytest.approx(softmax([9.0, 7.0, 0.7]))
    assert answers.null_odds["q"] == pytest.approx(0.7 - 9.0)
    assert answers.predictions["q"] == "a gallon of milk"
    strict = compute_predictions(examples, features, results(features, windows),
                                 null_score_diff_threshold=-8.5, **kwargs)
    assert strict.predictions["q"] == ""   # -8.3 > -8.5


def test_version_2_null_first_and_no_span(tmp_path):
    context = "Paris is the capital of France."
    path = write_squad(tmp_path / "v2.json", [(context, [qa("a", "What?"), qa("b", "What?")])])
    examples = read_squad_examples(path, is_training=False).examples
    features = convert_examples_to_features(examples, squad_tokenizer(tmp_path), 24, 4, 8)
    # [CLS] what ? [SEP] paris ...: "paris" is position 4.
    outputs = [RawResult(features[0].unique_id, logits({0: 10.0, 4: 5.0}, -9.0, 24),
                         logits({0: 10.0, 4: 5.0}, -9.0, 24)),
               RawResult(features[1].unique_id, logits({0: -1.0, 1: 9.0}, length=24),
                         logits({0: -1.0, 2: 9.0}, length=24))]
    answers = compute_predictions(examples, features, outputs, n_best_size=2,
                                  version_2_with_negative=True)
    assert [(e.text, e.start_logit + e.end_logit) for e in answers.nbest["a"]] == \
        [("", 20.0), ("Paris", 10.0)]
    assert answers.null_odds["a"] == 10.0 and answers.predictions["a"] == ""
    # Only the question holds high logits: the n-best has no non-null answer, so the
    # placeholder is added and the null odds compare with it.
    assert [e.text for e in answers.nbest["b"]] == ["", "empty"]
    assert answers.null_odds["b"] == -2.0 and answers.predictions["b"] == "empty"


def test_get_final_text():
    assert get_final_text("steve smith", "Steve Smith's", True) == "Steve Smith"
    assert get_final_text("cafe", "Caf\u00e9,", True) == "Caf\u00e9"
    assert get_final_text("1895", "(1895-1943).", True) == "1895"
    assert get_final_text("Smith", "Smith's", False) == "Smith"
    # Not found (a cased model's text against lower-cased tokens): the whole words.
    assert get_final_text("smith", "Smith's", False) == "Smith's"
    # A character the tokenizer drops breaks the one-to-one alignment: the whole words.
    assert get_final_text("ab", "a\u200bb", True) == "a\u200bb"


def test_wordpieces_are_joined_back(tmp_path):
    context = "Unwanted running, said John."
    path = write_squad(tmp_path / "wp.json", [(context, [qa("q", "What?")])])
    examples = read_squad_examples(path, is_training=False).examples
    features = convert_examples_to_features(examples, squad_tokenizer(tmp_path), 24, 4, 8)
    tokens = features[0].tokens
    start, end = tokens.index("un"), tokens.index("##ing")
    assert tokens[start:end + 1] == ["un", "##want", "##ed", "runn", "##ing"]
    answers = compute_predictions(examples, features, [RawResult(
        features[0].unique_id, logits({start: 5.0}, length=24), logits({end: 5.0}, length=24))])
    assert answers.predictions["q"] == "Unwanted running"


def test_helpers():
    assert best_indexes([0.1, 0.5, 0.5, -1.0, 0.5], 3) == [1, 2, 4]
    assert softmax([]) == [] and softmax([1000.0, 1000.0]) == [0.5, 0.5]
    rows = raw_results(np.array([7, 0]), np.ones([2, 3], np.float32), np.zeros([2, 3]))
    assert rows[0] == RawResult(7, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    assert all(type(x) is float for x in rows[0].start_logits)


def test_padding_rows_are_ignored_and_missing_windows_are_an_error(store):
    examples, features = store
    outputs = results(features, WINDOWS) + [RawResult(0, [0.0] * 16, [0.0] * 16)]
    assert compute_predictions(examples, features, outputs, 2).predictions["q"] == \
        "a gallon of milk"
    with pytest.raises(ValueError, match=f"no model output for window {features[2].unique_id}"):
        compute_predictions(examples, features, outputs[:2])


def test_output_files_in_the_original_format(store, tmp_path):
    examples, features = store
    out = tmp_path / "out"
    answers = compute_predictions(examples, features, results(features, WINDOWS), n_best_size=2)
    paths = write_predictions(str(out), answers)
    assert sorted(os.listdir(out)) == ["nbest_predictions.json", "predictions.json"]
    text = (out / "predictions.json").read_text(encoding="utf-8")
    assert text == '{\n    "q": "a gallon of milk"\n}\n'
    nbest = json.loads((out / "nbest_predictions.json").read_text(encoding="utf-8"),
                       object_pairs_hook=collections.OrderedDict)
    assert list(nbest["q"][0]) == ["text", "probability", "start_logit", "end_logit"]
    assert nbest["q"][1]["text"] == "of milk" and nbest["q"][1]["end_logit"] == 5.0
    assert paths["nbest"] == str(out / "nbest_predictions.json")

    v2 = compute_predictions(examples, features, results(features, WINDOWS), n_best_size=2,
                             version_2_with_negative=True)
    write_predictions(str(out), v2)
    odds = json.loads((out / "null_odds.json").read_text(encoding="utf-8"))
    assert odds == {"q": pytest.approx(-20.0 - 9.0)}  # null: start[0] + end[0] = -10 + -10
    assert (out / "null_odds.json").read_text(encoding="utf-8").endswith("\n}\n")


def test_output_files_are_never_half_written(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "predictions.json").write_text("previous", encoding="utf-8")
    broken = SquadPredictions({"q": "fine"}, {"q": []}, {"q": object()})
    with pytest.raises(TypeError):
        write_predictions(str(out), broken)
    assert os.listdir(out) == ["predictions.json"]
    assert (out / "predictions.json").read_text(encoding="utf-8") == "previous"
