"""conlleval's entity-level scores: hand-computed cases (broken sequences: I- without B-, type
switches inside a span, B- after I- of the same type), the zero-division conventions, the
report layout, bad input, and agreement with the `seqeval` package (default mode, which follows
conlleval) on hand-made and on a few hundred seeded random sequences."""

import importlib.util
import random
import warnings

import pytest

from bert_tf.ner.metrics import entity_spans, format_report, score_sentences

needs_seqeval = pytest.mark.skipif(
    importlib.util.find_spec("seqeval") is None,
    reason="seqeval, a test dependency, is not installed (pip install seqeval); the "
           "comparison of the entity metrics with it is skipped")


def test_entity_spans_follow_conlleval_on_broken_sequences():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    # I- without B- starts an entity, at the sentence start and after O.
    assert entity_spans(["I-PER", "I-PER", "O", "I-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    # A type switch inside a span ends one entity and starts another.
    assert entity_spans(["B-ORG", "I-PER", "I-ORG"]) == [("ORG", 0, 0), ("PER", 1, 1),
                                                         ("ORG", 2, 2)]
    # B- right after an entity of the same type starts a new one.
    assert entity_spans(["B-LOC", "I-LOC", "B-LOC"]) == [("LOC", 0, 1), ("LOC", 2, 2)]
    # The sentence end closes an entity; types are split at the first dash only.
    assert entity_spans(["O", "B-ORG-X", "I-ORG-X"]) == [("ORG-X", 1, 2)]
    assert entity_spans([]) == [] and entity_spans(["O", "O"]) == []


def test_hand_computed_scores():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG"], ["O", "B-MISC"]]
    pred = [["I-PER", "I-PER", "O", "I-LOC"], ["B-ORG", "I-PER", "I-ORG"], ["O", "O"]]
    scores = score_sentences(gold, pred)
    # Sentence 1: both entities found (I- without B- starts them). Sentence 2: the type
    # switch gives ORG, PER, ORG, none equal to the gold ORG(0-2). Sentence 3: MISC missed.
    assert (scores.micro.correct, scores.micro.gold, scores.micro.predicted) == (2, 4, 5)
    assert scores.micro.precision == pytest.approx(2 / 5)
    assert scores.micro.recall == pytest.approx(2 / 4)
    assert scores.micro.f1 == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert list(scores.per_type) == ["LOC", "MISC", "ORG", "PER"]
    per = {t: (c.correct, c.gold, c.predicted) for t, c in scores.per_type.items()}
    assert per == {"LOC": (1, 1, 1), "MISC": (0, 1, 0), "ORG": (0, 1, 2), "PER": (1, 1, 2)}
    # Tokens: the first sentence differs in 2 of 4 tags, the second in 1, the third in 1.
    assert (scores.correct_tokens, scores.num_tokens) == (5, 9)


def test_as_dict_keys_and_zero_division():
    d = score_sentences([["B-PER", "O"]], [["O", "B-LOC"]]).as_dict()
    assert d == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "token_accuracy": 0.0,
                 "num_gold_entities": 1, "num_predicted_entities": 1,
                 "num_correct_entities": 0, "num_tokens": 2,
                 "LOC_precision": 0.0, "LOC_recall": 0.0, "LOC_f1": 0.0, "LOC_support": 0,
                 "PER_precision": 0.0, "PER_recall": 0.0, "PER_f1": 0.0, "PER_support": 1}
    empty = score_sentences([["O"]], [["O"]])
    assert (empty.micro.precision, empty.micro.recall, empty.micro.f1) == (0.0, 0.0, 0.0)
    assert empty.token_accuracy == 1.0 and empty.per_type == {}


def test_report_has_conllevals_layout():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    assert format_report(score_sentences(gold, pred)) == (
        "processed 4 tokens with 2 phrases; found: 2 phrases; correct: 1.\n"
        "accuracy:  75.00%; precision:  50.00%; recall:  50.00%; FB1:  50.00\n"
        "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n"
        "              ORG: precision:   0.00%; recall:   0.00%; FB1:   0.00  1\n"
        "              PER: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n")


def test_bad_input_is_a_value_error_naming_the_place():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        score_sentences([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        score_sentences([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match=r"predicted sentence 0, word 1: 'S-PER' is not an "
                                         r"IOB2 tag"):
        score_sentences([["O", "O"]], [["O", "S-PER"]])
    with pytest.raises(ValueError, match="gold sentence 0, word 0: 'PER' is not an IOB2 tag"):
        score_sentences([["PER"]], [["O"]])


HAND_MADE = [
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["I-PER", "I-PER", "O", "I-LOC"]]),
    ([["B-ORG", "I-ORG", "I-ORG"]], [["B-ORG", "I-PER", "I-ORG"]]),
    ([["I-MISC", "I-MISC", "B-MISC"]], [["B-MISC", "I-MISC", "B-MISC"]]),
    ([["O", "I-LOC", "I-ORG", "O"], ["B-PER"]], [["B-LOC", "I-LOC", "I-ORG", "I-ORG"],
                                                 ["I-PER"]]),
    ([["B-LOC", "B-LOC", "I-LOC"]], [["B-LOC", "I-LOC", "I-LOC"]]),
    ([["O", "O"]], [["B-PER", "O"]]),
]


def assert_agrees_with_seqeval(gold, pred):
    from seqeval.metrics import (accuracy_score, classification_report, f1_score,
                                 precision_score, recall_score)

    scores = score_sentences(gold, pred)
    assert scores.micro.precision == pytest.approx(precision_score(gold, pred, zero_division=0))
    assert scores.micro.recall == pytest.approx(recall_score(gold, pred, zero_division=0))
    assert scores.micro.f1 == pytest.approx(f1_score(gold, pred, zero_division=0))
    assert scores.token_accuracy == pytest.approx(accuracy_score(gold, pred))
    with warnings.catch_warnings():  # its macro average of no entity type at all is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
    types = {k: v for k, v in report.items() if not k.endswith(" avg")}
    assert set(types) == set(scores.per_type)
    for entity_type, counts in scores.per_type.items():
        expected = types[entity_type]
        assert counts.precision == pytest.approx(expected["precision"]), entity_type
        assert counts.recall == pytest.approx(expected["recall"]), entity_type
        assert counts.f1 == pytest.approx(expected["f1-score"]), entity_type
        assert counts.gold == expected["support"], entity_type


@needs_seqeval
@pytest.mark.parametrize("gold,pred", HAND_MADE)
def test_agrees_with_seqeval_on_hand_made_sequences(gold, pred):
    assert_agrees_with_seqeval(gold, pred)


@needs_seqeval
def test_agrees_with_seqeval_on_random_sequences():
    rng = random.Random(36)
    types = ["PER", "LOC", "ORG", "MISC"]
    tags = ["O"] * 4 + [f"{p}-{t}" for p in "BI" for t in types]
    for _ in range(300):
        gold, pred = [], []
        for _ in range(rng.randint(1, 6)):
            n = rng.randint(0 if gold else 1, 12)  # seqeval divides by the token count
            gold.append([rng.choice(tags) for _ in range(n)])
            # Predictions near the gold ones, so that many entities match.
            pred.append([t if rng.random() < 0.7 else rng.choice(tags) for t in gold[-1]])
        assert_agrees_with_seqeval(gold, pred)
