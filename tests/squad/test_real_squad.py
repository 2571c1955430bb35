"""The real SQuAD files beside the repository (../shared/data/squad, see its README): reading
counts, windows for a few articles with MiniLM's vocabulary, decoding oracle logits back to the
annotated answers, and the official metrics on the gold answers. Skipped, with the reason, on
a machine without the folder."""

import json
import pathlib

import numpy as np
import pytest

from bert_tf.data.squad import read_squad_examples
from bert_tf.data.squad_features import convert_examples_to_features
from bert_tf.squad.evaluate import evaluate_v1, evaluate_v2, exact_match_score, main
from bert_tf.squad.postprocess import RawResult, compute_predictions

SQUAD = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "squad"
V1 = SQUAD / "squad-v1.1-train-33articles.json"
V2 = SQUAD / "squad-v2.0-19articles.json"

pytestmark = pytest.mark.skipif(not (V1.exists() and V2.exists()),
                                reason=f"real SQuAD files not found in {SQUAD.resolve()}")


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from bert_tf.tokenization import FullTokenizer

    return FullTokenizer(str(minilm_dir / "vocab.txt"), do_lower_case=True)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["data"]


def test_question_counts():
    v1 = read_squad_examples(str(V1), is_training=False)
    assert v1.num_questions == len(v1.examples) == 7635
    v2 = read_squad_examples(str(V2), is_training=True, version_2_with_negative=True)
    assert v2.num_questions == 6859
    assert sum(e.is_impossible for e in v2.examples) == 3537
    # Every annotated answer is where its answer_start points: nothing skipped.
    assert v2.num_skipped == 0
    assert read_squad_examples(str(V1), is_training=True).num_skipped == 0


def article_examples(path, articles, version_2):
    data = load(path)
    ids = {qa["id"] for a in articles for p in data[a]["paragraphs"] for qa in p["qas"]}
    read = read_squad_examples(str(path), is_training=True, version_2_with_negative=version_2)
    return [e for e in read.examples if e.qas_id in ids]


@pytest.mark.parametrize("path, articles, version_2", [(V1, (0, 1, 2), False),
                                                       (V2, (0, 9), True)])
def test_windows_decode_back_to_the_annotated_answers(tokenizer, path, articles, version_2):
    examples = article_examples(path, articles, version_2)
    features = convert_examples_to_features(examples, tokenizer, 384, 128, 64, is_training=True)
    assert {len(f.input_ids) for f in features} == {384}
    assert len({f.example_index for f in features}) == len(examples)
    # Oracle logits: each window peaks at its training target ([CLS] when it has none).
    outputs = []
    for f in features:
        start, end = np.full(384, -10.0), np.full(384, -10.0)
        start[f.start_position], end[f.end_position] = 10.0, 10.0
        if f.start_position:
            assert f.segment_ids[f.start_position] == f.segment_ids[f.end_position] == 1
            assert f.start_position in f.token_to_orig_map
        outputs.append(RawResult(f.unique_id, start, end))
    answers = compute_predictions(examples, features, outputs, 20, 30, True, version_2)
    by_example = {}
    for f in features:
        if f.start_position:
            by_example.setdefault(f.example_index, f)
    missed = 0
    for index, example in enumerate(examples):
        predicted = answers.predictions[example.qas_id]
        if example.is_impossible:
            assert predicted == ""
            continue
        if exact_match_score(predicted, example.orig_answer_text):
            continue
        # The original's two limits: an answer inside one WordPiece ("8" in "20-18") and an
        # answer longer than max_answer_length pieces.
        missed += 1
        f = by_example.get(index)
        assert f is not None
        span = f.tokens[f.start_position:f.end_position + 1]
        assert (len(span) > 30 or
                " ".join(span) != " ".join(tokenizer.tokenize(example.orig_answer_text)))
    assert missed <= 0.03 * len(examples)


def test_gold_answers_score_100(capsys):
    v1 = load(V1)
    gold = {qa["id"]: qa["answers"][0]["text"]
            for a in v1 for p in a["paragraphs"] for qa in p["qas"]}
    assert evaluate_v1(v1, gold) == {"exact_match": 100.0, "f1": 100.0}
    v2 = load(V2)
    gold = {qa["id"]: (qa["answers"][0]["text"] if qa["answers"] else "")
            for a in v2 for p in a["paragraphs"] for qa in p["qas"]}
    scores = evaluate_v2(v2, gold)
    assert (scores["exact"], scores["f1"], scores["total"]) == (100.0, 100.0, 6859)
    assert (scores["HasAns_total"], scores["NoAns_total"]) == (3322, 3537)


def test_command_on_the_real_files(tmp_path, capsys):
    v2 = load(V2)
    predictions = {qa["id"]: "" for a in v2 for p in a["paragraphs"] for qa in p["qas"]}
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(predictions), encoding="utf-8")
    assert main([str(V2), str(path)]) == 0
    scores = json.loads(capsys.readouterr().out)
    # Answering "no answer" everywhere is right exactly on the unanswerable questions.
    assert scores["exact"] == pytest.approx(100 * 3537 / 6859)
    assert scores["NoAns_exact"] == 100.0 and scores["HasAns_exact"] == 0.0
