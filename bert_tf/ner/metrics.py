"""conlleval's entity-level precision, recall and F1 on IOB2 tag sequences, and token accuracy.

Entities are read from each sentence's tags with conlleval's rules, broken sequences included:
  * an entity starts at `B-X`, and at `I-X` that follows `O` (an I- without a B-) or a tag of
    another type (a type switch inside a span ends one entity and starts another);
  * it ends before `O`, before `B-`, before a tag of another type, and at the sentence's end.
An entity is correct only when the gold and the predicted sequence both have it: same type,
same first word, same last word.

Scores (fractions in [0, 1]; conlleval prints them as percentages):
  * micro: precision = correct / predicted entities, recall = correct / gold entities,
    F1 = 2 P R / (P + R); each is 0 where its denominator is 0, as conlleval prints 0.00;
  * per entity type, the same over that type's entities, for every type that occurs in the
    gold tags or in the predictions;
  * token accuracy: the fraction of words whose predicted tag equals the gold tag, `O`
    included (conlleval's "accuracy").

`NerScores.as_dict()` flattens them for a results file; `format_report` prints conlleval's
summary.

Example:
    >>> scores = score_sentences([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    >>> scores.as_dict()["f1"], scores.token_accuracy
    (0.0, 0.6666666666666666)
"""

import dataclasses
from typing import Dict, List, Sequence, Tuple

from bert_tf.data.conll import OUTSIDE, split_tag


def _parse(tag: str, where: str) -> Tuple[str, str]:
    try:
        prefix, entity_type = split_tag(tag)
    except ValueError:
        prefix = None
    if prefix not in (OUTSIDE, "B", "I"):
        raise ValueError(f"{where}: {tag!r} is not an IOB2 tag (O, B-<type> or I-<type>)")
    return prefix, entity_type


def entity_spans(tags: Sequence[str], where: str = "tags") -> List[Tuple[str, int, int]]:
    """(type, first word, last word) of each entity of one sentence, by conlleval's rules.

    Example: `entity_spans(["I-PER", "I-LOC", "B-LOC", "O"])`
    -> `[("PER", 0, 0), ("LOC", 1, 1), ("LOC", 2, 2)]`.

    Raises:
        ValueError: a tag that is not IOB2 (`where` names the sequence in the message).
    """
    spans, start = [], 0
    previous, previous_type = OUTSIDE, ""
    for index, tag in enumerate(list(tags) + [OUTSIDE]):
        prefix, entity_type = _parse(tag, f"{where}, word {index}")
        other_type = entity_type != previous_type
        if previous != OUTSIDE and (prefix != "I" or other_type):
            spans.append((previous_type, start, index - 1))
        if prefix == "B" or (prefix == "I" and (previous == OUTSIDE or other_type)):
            start = index
        previous, previous_type = prefix, entity_type
    return spans


@dataclasses.dataclass
class EntityCounts:
    """Entity counts of one type (or all types) and the scores they give."""

    correct: int = 0
    gold: int = 0
    predicted: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclasses.dataclass
class NerScores:
    """Entity-level scores, micro and per type, and token accuracy.

    Attributes:
        micro: counts over every entity.
        per_type: {entity type: counts}, types sorted.
        correct_tokens, num_tokens: words whose predicted tag equals the gold one, all words.
    """

    micro: EntityCounts
    per_type: Dict[str, EntityCounts]
    correct_tokens: int
    num_tokens: int

    @property
    def token_accuracy(self) -> float:
        return self.correct_tokens / self.num_tokens if self.num_tokens else 0.0

    def as_dict(self) -> Dict[str, float]:
        """Flat keys: `precision`, `recall`, `f1`, `token_accuracy`, `num_gold_entities`,
        `num_predicted_entities`, `num_correct_entities`, `num_tokens`, and per type X
        `X_precision`, `X_recall`, `X_f1`, `X_support` (its gold entities)."""
        out = {"precision": self.micro.precision, "recall": self.micro.recall,
               "f1": self.micro.f1, "token_accuracy": self.token_accuracy,
               "num_gold_entities": self.micro.gold,
               "num_predicted_entities": self.micro.predicted,
               "num_correct_entities": self.micro.correct, "num_tokens": self.num_tokens}
        for entity_type, counts in self.per_type.items():
            out[f"{entity_type}_precision"] = counts.precision
            out[f"{entity_type}_recall"] = counts.recall
            out[f"{entity_type}_f1"] = counts.f1
            out[f"{entity_type}_support"] = counts.gold
        return out


def score_sentences(gold: Sequence[Sequence[str]],
                    predicted: Sequence[Sequence[str]]) -> NerScores:
    """conlleval's scores of `predicted` against `gold`, both lists of sentences of IOB2 tags.

    Raises:
        ValueError: different numbers of sentences or of words in a sentence, or a tag that
            is not IOB2.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    micro, per_type = EntityCounts(), {}
    correct_tokens = num_tokens = 0
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but "
                             f"{len(predicted_tags)} predicted ones")
        gold_spans = set(entity_spans(gold_tags, f"gold sentence {index}"))
        predicted_spans = set(entity_spans(predicted_tags, f"predicted sentence {index}"))
        for spans, field in ((gold_spans, "gold"), (predicted_spans, "predicted"),
                             (gold_spans & predicted_spans, "correct")):
            for entity_type, _, _ in spans:
                counts = per_type.setdefault(entity_type, EntityCounts())
                setattr(counts, field, getattr(counts, field) + 1)
            setattr(micro, field, getattr(micro, field) + len(spans))
        correct_tokens += sum(g == p for g, p in zip(gold_tags, predicted_tags))
        num_tokens += len(gold_tags)
    return NerScores(micro, dict(sorted(per_type.items())), correct_tokens, num_tokens)


def format_report(scores: NerScores) -> str:
    """conlleval's summary: totals, accuracy and micro scores, then one line per type with its
    number of predicted entities (percentages, two decimals)."""
    m = scores.micro
    lines = [f"processed {scores.num_tokens} tokens with {m.gold} phrases; "
             f"found: {m.predicted} phrases; correct: {m.correct}.",
             f"accuracy: {100 * scores.token_accuracy:6.2f}%; "
             f"precision: {100 * m.precision:6.2f}%; recall: {100 * m.recall:6.2f}%; "
             f"FB1: {100 * m.f1:6.2f}"]
    for entity_type, c in scores.per_type.items():
        lines.append(f"{entity_type:>17}: precision: {100 * c.precision:6.2f}%; "
                     f"recall: {100 * c.recall:6.2f}%; FB1: {100 * c.f1:6.2f}  {c.predicted}")
    return "\n".join(lines) + "\n"
