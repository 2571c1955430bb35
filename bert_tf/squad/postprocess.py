"""Start/end logits per window -> answers, with the original run_squad.py decoding.

For each example, over all its windows:
  * the `n_best_size` highest start logits and end logits of each window are paired; a pair
    is dropped if either end is outside the window's document part, the start is not in its
    max-context window, the end comes before the start, or the span is longer than
    `max_answer_length` pieces; a span scores start logit + end logit;
  * v2.0 adds the null answer with the lowest `start[0] + end[0]` over the windows;
  * the best spans, distinct by final text, make the n-best list (up to `n_best_size`);
    each span's text is projected back to the context's characters (`get_final_text`);
  * probabilities are the softmax of the n-best scores;
  * v1.1 answers the top entry; v2.0 answers "" when null score minus the best non-null score
    is above `null_score_diff_threshold`, and records that difference as the null odds.
Outputs match the original's `predictions.json`, `nbest_predictions.json` and
`null_odds.json` (`json.dumps(..., indent=4)` and a newline), each written atomically.

Where the original fails with an AttributeError, when a v2.0 example's n-best list holds no
non-null answer, an "empty" entry with logits 0 is added: the placeholder the original gives a
v1.1 example without any valid span.

Example:

```python
results = raw_results(unique_ids, start_logits, end_logits)   # model outputs per window
answers = compute_predictions(examples, features, results, n_best_size=20,
                              max_answer_length=30, do_lower_case=True)
write_predictions("out", answers)
```
"""

import collections
import dataclasses
import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging

from bert_tf.tokenization.basic_tokenizer import BasicTokenizer

RawResult = collections.namedtuple("RawResult", ["unique_id", "start_logits", "end_logits"])

PREDICTIONS_FILENAME = "predictions.json"
NBEST_FILENAME = "nbest_predictions.json"
NULL_ODDS_FILENAME = "null_odds.json"


@dataclasses.dataclass
class NbestEntry:
    """One candidate answer.

    `start_char`/`end_char` locate it in the example's context (`context[start_char:end_char]`,
    with the context's own whitespace between words, where `text` has one space); None for
    the null answer and the "empty" placeholder. They are not written to the JSON files.
    """

    text: str
    probability: float
    start_logit: float
    end_logit: float
    start_char: Optional[int] = None
    end_char: Optional[int] = None

    def to_json(self) -> "collections.OrderedDict":
        return collections.OrderedDict([("text", self.text), ("probability", self.probability),
                                        ("start_logit", self.start_logit),
                                        ("end_logit", self.end_logit)])


@dataclasses.dataclass
class SquadPredictions:
    """Answers per question id: `predictions` (text), `nbest` (lists of `NbestEntry`) and, for
    v2.0, `null_odds` (null score minus best non-null score); all in example order."""

    predictions: Dict[str, str]
    nbest: Dict[str, List[NbestEntry]]
    null_odds: Optional[Dict[str, float]] = None


def raw_results(unique_ids, start_logits, end_logits) -> List[RawResult]:
    """Model outputs ([windows], [windows, seq], [windows, seq]) as `RawResult`s with Python
    floats (padding rows included: decoding looks windows up by id and ignores the rest)."""
    return [RawResult(int(u), [float(x) for x in s], [float(x) for x in e])
            for u, s, e in zip(unique_ids, start_logits, end_logits)]


def best_indexes(logits: Sequence[float], n_best_size: int) -> List[int]:
    """Indexes of the `n_best_size` largest logits, largest first (ties: lower index first)."""
    # A stable sort of the negated logits orders ties as the original's stable descending sort.
    order = np.argsort(-np.asarray(logits, dtype=np.float64), kind="stable")
    return order[:n_best_size].tolist()


def softmax(scores: Sequence[float]) -> List[float]:
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def _without_spaces(text: str) -> Tuple[str, List[int]]:
    """`text` without " ", and each kept character's index in `text`."""
    kept = [i for i, char in enumerate(text) if char != " "]
    return "".join(text[i] for i in kept), kept


def final_text_span(pred_text: str, orig_text: str, do_lower_case: bool,
                    verbose_logging: bool = False) -> Tuple[int, int]:
    """[start, end) of `pred_text` (normalised WordPiece text) within `orig_text` (the words it
    came from, joined by spaces); the whole `orig_text` when the alignment fails.

    `orig_text` is tokenized again with the BasicTokenizer; when it and `orig_text` have the
    same characters apart from spaces, they align one to one and the prediction's first and
    last characters map back. A failed alignment (accents stripped, characters dropped) keeps
    the whole words.
    """
    tok_text = " ".join(BasicTokenizer(do_lower_case=do_lower_case).tokenize(orig_text))
    whole = (0, len(orig_text))
    start = tok_text.find(pred_text)
    if start == -1:
        if verbose_logging:
            logging.info("Unable to find text: %r in %r", pred_text, orig_text)
        return whole
    end = start + len(pred_text) - 1
    orig_ns, orig_ns_to_s = _without_spaces(orig_text)
    tok_ns, tok_ns_to_s = _without_spaces(tok_text)
    if len(orig_ns) != len(tok_ns):
        if verbose_logging:
            logging.info("Length not equal after stripping spaces: %r vs %r", orig_ns, tok_ns)
        return whole
    tok_s_to_ns = {s: ns for ns, s in enumerate(tok_ns_to_s)}
    mapped = []
    for position in (start, end):
        ns = tok_s_to_ns.get(position)
        if ns is None or ns >= len(orig_ns_to_s):
            if verbose_logging:
                logging.info("Couldn't map %s position", "start" if position == start else "end")
            return whole
        mapped.append(orig_ns_to_s[ns])
    return mapped[0], mapped[1] + 1


def get_final_text(pred_text: str, orig_text: str, do_lower_case: bool,
                   verbose_logging: bool = False) -> str:
    """The part of `orig_text` that `pred_text` came from (see `final_text_span`).

    Example: `get_final_text("steve smith", "Steve Smith's", True)` -> `"Steve Smith"`.
    """
    start, end = final_text_span(pred_text, orig_text, do_lower_case, verbose_logging)
    return orig_text[start:end]


def _context_offset(example, first_word: int, offset: int) -> int:
    """Character `offset` of the words from `first_word` joined by spaces -> context index."""
    word = first_word
    while offset >= len(example.doc_tokens[word]):
        offset -= len(example.doc_tokens[word]) + 1
        word += 1
    return example.word_starts[word] + offset


def _span_answer(example, feature, start_index, end_index, do_lower_case, verbose_logging):
    """(final text, start_char, end_char) of a WordPiece span of a window."""
    pieces = " ".join(feature.tokens[start_index:end_index + 1])
    pred_text = " ".join(pieces.replace(" ##", "").replace("##", "").strip().split())
    first_word = feature.token_to_orig_map[start_index]
    last_word = feature.token_to_orig_map[end_index]
    orig_text = " ".join(example.doc_tokens[first_word:last_word + 1])
    start, end = final_text_span(pred_text, orig_text, do_lower_case, verbose_logging)
    chars = (None, None)
    if example.word_starts:
        chars = (_context_offset(example, first_word, start),
                 _context_offset(example, first_word, end - 1) + 1)
    return orig_text[start:end], chars[0], chars[1]


def _candidates(features, by_id, n_best_size, max_answer_length, version_2_with_negative):
    """The valid spans of an example's windows, best first, and its null answer
    (score, start logit, end logit, window) or None."""
    spans, null = [], None  # span: (feature, start, end, start logit, end logit)
    for feature in features:
        if feature.unique_id not in by_id:
            raise ValueError(f"no model output for window {feature.unique_id} "
                             f"(example {feature.example_index})")
        result = by_id[feature.unique_id]
        if version_2_with_negative:
            null_start, null_end = float(result.start_logits[0]), float(result.end_logits[0])
            if null is None or null_start + null_end < null[0]:
                null = (null_start + null_end, null_start, null_end, feature)
        for start in best_indexes(result.start_logits, n_best_size):
            for end in best_indexes(result.end_logits, n_best_size):
                if (start >= len(feature.tokens) or end >= len(feature.tokens)
                        or start not in feature.token_to_orig_map
                        or end not in feature.token_to_orig_map
                        or not feature.token_is_max_context.get(start, False)
                        or end < start or end - start + 1 > max_answer_length):
                    continue
                spans.append((feature, start, end, float(result.start_logits[start]),
                              float(result.end_logits[end])))
    if null is not None:
        spans.append((null[3], 0, 0, null[1], null[2]))
    spans.sort(key=lambda span: span[3] + span[4], reverse=True)
    return spans, null


def _nbest(example, spans, null, n_best_size, do_lower_case, verbose_logging):
    entries, seen = [], set()
    for feature, start, end, start_logit, end_logit in spans:
        if len(entries) >= n_best_size:
            break
        chars = (None, None)
        if start > 0:
            text, *chars = _span_answer(example, feature, start, end, do_lower_case,
                                        verbose_logging)
            if text in seen:
                continue
        else:
            text = ""
        seen.add(text)
        entries.append(NbestEntry(text, 0.0, start_logit, end_logit, *chars))
    if null is not None and "" not in seen:
        entries.append(NbestEntry("", 0.0, null[1], null[2]))
    if not any(entry.text for entry in entries):
        entries.append(NbestEntry("empty", 0.0, 0.0, 0.0))
    for entry, probability in zip(entries, softmax([e.start_logit + e.end_logit
                                                    for e in entries])):
        entry.probability = probability
    return entries


def compute_predictions(examples, features, results, n_best_size: int = 20,
                        max_answer_length: int = 30, do_lower_case: bool = True,
                        version_2_with_negative: bool = False,
                        null_score_diff_threshold: float = 0.0,
                        verbose_logging: bool = False) -> SquadPredictions:
    """Answers for `examples` from the model outputs on their windows.

    Args:
        examples: the `SquadExample`s the windows were made from, in the same order.
        features: their `SquadFeatures` (from `convert_examples_to_features`).
        results: `RawResult`s (see `raw_results`), one per window at least; extra ones
            (padding rows) are ignored.
        n_best_size, max_answer_length, do_lower_case, version_2_with_negative,
        null_score_diff_threshold, verbose_logging: as the original's flags.

    Returns:
        `SquadPredictions`.

    Raises:
        ValueError: a window without a result.
    """
    by_example = collections.defaultdict(list)
    for feature in features:
        by_example[feature.example_index].append(feature)
    by_id = {result.unique_id: result for result in results}
    predictions, nbest = collections.OrderedDict(), collections.OrderedDict()
    null_odds = collections.OrderedDict() if version_2_with_negative else None
    for example_index, example in enumerate(examples):
        spans, null = _candidates(by_example[example_index], by_id, n_best_size,
                                  max_answer_length, version_2_with_negative)
        entries = _nbest(example, spans, null, n_best_size, do_lower_case, verbose_logging)
        nbest[example.qas_id] = entries
        if not version_2_with_negative:
            predictions[example.qas_id] = entries[0].text
            continue
        best = next(entry for entry in entries if entry.text)
        diff = null[0] - best.start_logit - best.end_logit if null else 0.0
        null_odds[example.qas_id] = diff
        predictions[example.qas_id] = "" if diff > null_score_diff_threshold else best.text
    return SquadPredictions(predictions, nbest, null_odds)


def _json_text(value) -> str:
    return json.dumps(value, indent=4) + "\n"


def write_predictions(output_dir: str, answers: SquadPredictions) -> Dict[str, str]:
    """Writes `predictions.json`, `nbest_predictions.json` and (v2.0) `null_odds.json` into
    `output_dir`, each atomically; returns {kind: path}."""
    import tensorflow as tf  # only when writing (output_dir may be gs://)

    from bert_tf.atomic_files import write_text_atomic

    tf.io.gfile.makedirs(output_dir)
    files = {"predictions": (PREDICTIONS_FILENAME, answers.predictions),
             "nbest": (NBEST_FILENAME, collections.OrderedDict(
                 (qid, [entry.to_json() for entry in entries])
                 for qid, entries in answers.nbest.items()))}
    if answers.null_odds is not None:
        files["null_odds"] = (NULL_ODDS_FILENAME, answers.null_odds)
    texts = {kind: (os.path.join(output_dir, name), _json_text(value))
             for kind, (name, value) in files.items()}  # all serialised before any is written
    for path, text in texts.values():
        write_text_atomic(path, text)
    return {kind: path for kind, (path, _) in texts.items()}
