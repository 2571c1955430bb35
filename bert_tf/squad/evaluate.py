"""The official SQuAD v1.1 and v2.0 metrics, as a library and a command.

Answers are compared after normalisation: lower-case, drop ASCII punctuation, drop the
articles a/an/the as whole words, collapse whitespace. Exact match (EM) is equality of the
normalised strings; F1 is over their tokens counted as multisets. Each question takes its best
score over its gold answers; totals are averages in percent.

v1.1 (`evaluate_v1`): a question without a prediction scores 0 (and is reported on stderr).
Output: `{"exact_match": ..., "f1": ...}`.

v2.0 (`evaluate_v2`): a question whose gold answers are all empty after normalisation is
unanswerable and its only gold answer is ""; an empty prediction matches it (F1 1), and an
empty prediction or gold against a non-empty one scores 0. With null odds (`na_probs`, e.g.
run_squad's `null_odds.json`), a question whose odds are above `na_prob_thresh` counts as
answered "no answer"; `best_exact`/`best_f1` are the scores at the best such threshold, found
by sweeping the questions in increasing odds, and `*_thresh` that threshold. Scores are also
split into `HasAns_*` and `NoAns_*`. Every question needs a prediction (and odds), as in the
official script.

Command:

    python -m bert_tf.squad.evaluate DATA_FILE PREDICTIONS_FILE [--na_prob_file NULL_ODDS]
        [--na_prob_thresh 1.0] [--out_file RESULTS] [--squad_version {1.1,2.0}]

The metric version follows the data file's `version` ("1.1" or "v2.0"), else v2.0 when a
question has `is_impossible` or null odds are given. It prints the scores as JSON (v2.0 with
`--out_file`: writes them there instead, as the official v2.0 script). Exit status 2 for a
usage error, 1 for a missing or malformed file, with one `error:` line.
"""

import argparse
import collections
import json
import re
import string
import sys
from typing import Dict, List, Optional

from bert_tf import cli
from bert_tf.atomic_files import write_text_atomic
from bert_tf.data.processors import DataFormatError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower-case, remove punctuation, remove articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction: str, gold: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(gold))


def f1_score_v1(prediction: str, gold: str) -> float:
    """v1.1 F1: 0 when no token is shared (also when both are empty)."""
    pred, truth = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((collections.Counter(pred) & collections.Counter(truth)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(truth)
    return 2 * precision * recall / (precision + recall)


def f1_score_v2(prediction: str, gold: str) -> float:
    """v2.0 F1: as v1.1, except that an empty side scores 1 if both are empty, else 0."""
    pred, truth = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not truth:
        return float(pred == truth)
    return f1_score_v1(prediction, gold)


def questions(dataset: list):
    """(id, [gold answer texts]) of every question of a SQuAD `data` list."""
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield qa["id"], [answer["text"] for answer in qa["answers"]]


def evaluate_v1(dataset: list, predictions: Dict[str, str]) -> Dict[str, float]:
    """The official v1.1 scores: {"exact_match", "f1"} in percent.

    Raises:
        DataFormatError: a question without gold answers (a v2.0 unanswerable question).
    """
    exact = f1 = total = 0
    for qid, golds in questions(dataset):
        total += 1
        if not golds:
            raise DataFormatError(f"question {qid!r} has no gold answer: unanswerable questions "
                                  "need the v2.0 metric")
        if qid not in predictions:
            print(f"Unanswered question {qid} will receive score 0.", file=sys.stderr)
            continue
        exact += max(exact_match_score(predictions[qid], g) for g in golds)
        f1 += max(f1_score_v1(predictions[qid], g) for g in golds)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


def _scores(exact, f1, qids):
    total = len(qids)
    return [("exact", 100.0 * sum(exact[q] for q in qids) / total),
            ("f1", 100.0 * sum(f1[q] for q in qids) / total), ("total", total)]


def best_threshold(predictions, scores, na_probs, has_answer):
    """(best score in percent, its threshold) over "no answer above odds t" for every t."""
    current = best = sum(1 for q in has_answer if not has_answer[q])
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += scores[qid]
        elif predictions[qid]:
            current -= 1
        if current > best:
            best, threshold = current, na_probs[qid]
    return 100.0 * best / len(scores), threshold


def evaluate_v2(dataset: list, predictions: Dict[str, str],
                na_probs: Optional[Dict[str, float]] = None,
                na_prob_thresh: float = 1.0) -> "collections.OrderedDict":
    """The official v2.0 scores (see the module docstring for the keys).

    Raises:
        DataFormatError: a question without a prediction, or without null odds.
    """
    has_answer, exact, f1 = {}, {}, {}
    for qid, golds in questions(dataset):
        has_answer[qid] = bool(golds)
        golds = [g for g in golds if normalize_answer(g)] or [""]
        if qid not in predictions:
            raise DataFormatError(f"no prediction for question {qid!r}")
        exact[qid] = max(exact_match_score(predictions[qid], g) for g in golds)
        f1[qid] = max(f1_score_v2(predictions[qid], g) for g in golds)
    if not has_answer:
        raise DataFormatError("the data file holds no questions")
    given = na_probs is not None
    na_probs = na_probs if given else {qid: 0.0 for qid in predictions}
    missing = [qid for qid in has_answer if qid not in na_probs]
    if missing:
        raise DataFormatError(f"no null odds for question {missing[0]!r}"
                              f" ({len(missing)} questions lack them)")

    def thresholded(raw):
        return {q: float(not has_answer[q]) if na_probs[q] > na_prob_thresh else s
                for q, s in raw.items()}

    exact_t, f1_t = thresholded(exact), thresholded(f1)
    out = collections.OrderedDict(_scores(exact_t, f1_t, list(has_answer)))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [q for q, has in has_answer.items() if has == wanted]
        if qids:
            out.update((f"{prefix}_{k}", v) for k, v in _scores(exact_t, f1_t, qids))
    if given:
        for name, raw in (("exact", exact), ("f1", f1)):
            score, threshold = best_threshold(predictions, raw, na_probs, has_answer)
            out[f"best_{name}"], out[f"best_{name}_thresh"] = score, threshold
    return out


def _load_json(path: str, what: str):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataFormatError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{path}: the {what} is not valid UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{path}, line {e.lineno}: the {what} is not valid JSON "
                              f"({e.msg})") from None


def load_dataset(path: str):
    """(data list, version string) of a SQuAD file, checked for the fields the metrics read."""
    top = _load_json(path, "SQuAD data file")
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise DataFormatError(f'{path}: expected a JSON object with a "data" list (SQuAD format)')
    try:
        for qid, golds in questions(top["data"]):
            if not isinstance(qid, str) or not all(isinstance(g, str) for g in golds):
                raise TypeError
    except (KeyError, TypeError, AttributeError):
        raise DataFormatError(f"{path}: every question needs an \"id\" and \"answers\" with "
                              "\"text\" (SQuAD format)") from None
    return top["data"], str(top.get("version", ""))


def _load_mapping(path: str, what: str, kinds) -> Dict:
    mapping = _load_json(path, what)
    if not isinstance(mapping, dict):
        raise DataFormatError(f"{path}: the {what} must be a JSON object keyed by question id")
    for key, value in mapping.items():
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise DataFormatError(f"{path}: question {key!r}: {value!r} is not a valid "
                                  f"{what} value")
    return mapping


def metric_version(dataset: list, file_version: str, na_prob_file: Optional[str]) -> str:
    """"2.0" or "1.1": the file's `version`, else 2.0 if questions carry `is_impossible` or
    null odds are given."""
    if file_version in ("1.1", "v1.1"):
        return "1.1"
    if file_version in ("2.0", "v2.0") or na_prob_file:
        return "2.0"
    impossible = any("is_impossible" in qa for article in dataset
                     for paragraph in article["paragraphs"] for qa in paragraph["qas"])
    return "2.0" if impossible else "1.1"


def build_parser() -> argparse.ArgumentParser:
    parser = cli.ArgumentParser(
        prog="python -m bert_tf.squad.evaluate",
        description="Official SQuAD v1.1 / v2.0 evaluation: exact match and F1 of a "
                    "predictions.json against a SQuAD data file.")
    parser.add_argument("data_file", help="the SQuAD JSON file with the gold answers")
    parser.add_argument("pred_file", help="predictions: a JSON object, question id -> answer")
    parser.add_argument("--na_prob_file", "--na-prob-file", "-n", default=None,
                        metavar="NULL_ODDS",
                        help="v2.0: null odds per question id (run_squad's null_odds.json); "
                             "adds best_exact/best_f1 and their thresholds")
    parser.add_argument("--na_prob_thresh", "--na-prob-thresh", "-t", type=float, default=1.0,
                        metavar="ODDS",
                        help="v2.0: count questions whose null odds are above this as "
                             "answered 'no answer' (default 1.0)")
    parser.add_argument("--out_file", "--out-file", "-o", default=None, metavar="FILE",
                        help="write the scores (JSON) to this file instead of printing them")
    parser.add_argument("--squad_version", choices=("1.1", "2.0"), default=None,
                        help="which official metric to use (default: from the data file)")
    return parser


def _require_all(qids, mapping, path, what):
    missing = [qid for qid in qids if qid not in mapping]
    if missing:
        raise DataFormatError(f"{path}: no {what} for question {missing[0]!r} ({len(missing)} of "
                              f"{len(qids)} questions lack one; the v2.0 metric needs all)")


def run(args) -> Dict:
    """The scores for parsed command-line `args` (see `build_parser`)."""
    dataset, file_version = load_dataset(args.data_file)
    predictions = _load_mapping(args.pred_file, "predictions", str)
    version = args.squad_version or metric_version(dataset, file_version, args.na_prob_file)
    if version == "1.1":
        if file_version not in ("", "1.1"):
            print(f"Evaluation expects v-1.1, but got dataset with v-{file_version}",
                  file=sys.stderr)
        try:
            return evaluate_v1(dataset, predictions)
        except DataFormatError as e:
            raise DataFormatError(f"{args.data_file}: {e}") from None
    qids = [qid for qid, _ in questions(dataset)]
    _require_all(qids, predictions, args.pred_file, "prediction")
    na_probs = None
    if args.na_prob_file:
        na_probs = _load_mapping(args.na_prob_file, "null odds", (int, float))
        _require_all(qids, na_probs, args.na_prob_file, "null odds")
    try:
        return evaluate_v2(dataset, predictions, na_probs, args.na_prob_thresh)
    except DataFormatError as e:
        raise DataFormatError(f"{args.data_file}: {e}") from None


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results = run(args)
    except DataFormatError as e:
        cli.fail(str(e), cli.DATA)
    if args.out_file:
        try:
            write_text_atomic(args.out_file, json.dumps(results))
        except OSError as e:
            cli.fail(f"{args.out_file}: cannot write the scores ({e.strerror or e})", cli.DATA)
    elif "exact_match" in results:
        print(json.dumps(results))
    else:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
