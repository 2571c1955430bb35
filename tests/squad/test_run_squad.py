"""run_squad.py end to end on a SQuAD-format fixture the tests write: training, prediction files
in the original formats, the official metrics, the Google folder it saves, resuming, and bad
input (one `error:` line, nothing written)."""

import json

import numpy as np
import pytest
from squad.conftest import V1_STEPS, WINDOW_FLAGS, run_squad_script, squad_args
from squad.squad_builders import qa, write_squad

from bert_tf.squad.evaluate import evaluate_v1, evaluate_v2


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _python_pipeline(folder, data_file, version_2_with_negative=False):
    """Answers from the saved model through the library, without run_squad's plumbing (its
    records files, padding, batching and prediction loop)."""
    from bert_tf.checkpoints import load_pretrained
    from bert_tf.data.squad import read_squad_examples
    from bert_tf.data.squad_features import convert_examples_to_features
    from bert_tf.modeling import BertQuestionAnswerer
    from bert_tf.squad.postprocess import compute_predictions, raw_results
    from bert_tf.tokenization import FullTokenizer

    model = load_pretrained(str(folder), BertQuestionAnswerer)
    tokenizer = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    examples = read_squad_examples(data_file, False, version_2_with_negative).examples
    features = convert_examples_to_features(examples, tokenizer, is_training=False,
                                            **WINDOW_FLAGS)
    inputs = {"input_word_ids": np.array([f.input_ids for f in features], np.int32),
              "input_mask": np.array([f.input_mask for f in features], np.int32),
              "input_type_ids": np.array([f.segment_ids for f in features], np.int32)}
    logits = np.asarray(model(inputs, training=False))
    results = raw_results([f.unique_id for f in features], logits[..., 0], logits[..., 1])
    return compute_predictions(examples, features, results,
                               version_2_with_negative=version_2_with_negative)


def test_v1_trains_predicts_and_scores(squad_runs, squad_files):
    run = squad_runs("v1")
    out = run.output_dir
    predictions = _json(out / "predictions.json")
    data = json.loads(open(squad_files["v1"], encoding="utf-8").read())["data"]
    ids = [q["id"] for article in data for p in article["paragraphs"] for q in p["qas"]]
    assert list(predictions) == ids  # every question, in file order
    nbest = _json(out / "nbest_predictions.json")
    assert list(nbest) == ids
    for entries in nbest.values():
        assert 1 <= len(entries) <= 20
        assert [list(e) for e in entries] == [["text", "probability", "start_logit",
                                               "end_logit"]] * len(entries)
        assert sum(e["probability"] for e in entries) == pytest.approx(1.0, abs=1e-6)
        scores = [e["start_logit"] + e["end_logit"] for e in entries]
        assert scores == sorted(scores, reverse=True)
    assert not (out / "null_odds.json").exists()
    # eval_results.txt holds the official metric of predictions.json, recomputed here.
    results = run.eval_results()
    official = evaluate_v1(data, predictions)
    assert results["exact_match"] == pytest.approx(official["exact_match"])
    assert results["f1"] == pytest.approx(official["f1"])
    assert results["global_step"] == V1_STEPS
    # Trained on these questions, the tiny model has learnt most of them.
    assert official["f1"] >= 60.0, run.describe()
    assert "Num split examples" in run.stdout and "wrote " in run.stdout


def test_final_model_is_a_google_folder_with_the_squad_head(squad_runs, squad_files):
    import tensorflow as tf

    folder = squad_runs("v1").output_dir / "final_model"
    names = dict(tf.train.list_variables(str(folder / "bert_model.ckpt")))
    assert names["cls/squad/output_weights"] == [2, 32]
    assert names["cls/squad/output_bias"] == [2]
    info = _json(folder / "squad_info.json")
    assert info["max_seq_length"] == 40 and info["doc_stride"] == 8
    assert info["version_2_with_negative"] is False
    # The saved model through the library gives run_squad's answers.
    answers = _python_pipeline(folder, squad_files["v1"])
    assert answers.predictions == _json(squad_runs("v1").output_dir / "predictions.json")


def test_predict_from_the_final_model_and_rerun_resumes(squad_runs, squad_model, squad_files,
                                                        tmp_path):
    trained = squad_runs("v1").output_dir
    # --init_checkpoint=final_model, predict only: the same answers.
    out = tmp_path / "predict_only"
    run = run_squad_script(squad_args(
        squad_model, out, do_train="false", init_checkpoint=trained / "final_model",
        vocab_file=None, bert_config_file=None, predict_file=squad_files["v1"]))
    assert run.returncode == 0, run.describe()
    assert (out / "predictions.json").read_text() == (trained / "predictions.json").read_text()
    assert (out / "nbest_predictions.json").read_text() == \
        (trained / "nbest_predictions.json").read_text()
    # The same training command again finds its last checkpoint: nothing to train, and the
    # same answers.
    again = run_squad_script(squad_args(squad_model, trained, train_file=squad_files["v1"],
                                        predict_file=squad_files["v1"]))
    assert again.returncode == 0, again.describe()
    assert "Resuming from" in again.stdout and f"(global step {V1_STEPS})" in again.stdout
    assert (trained / "predictions.json").read_text() == (out / "predictions.json").read_text()
    assert again.eval_results()["global_step"] == V1_STEPS


def test_v2_writes_null_odds_and_the_v2_metrics(squad_runs, squad_files):
    run = squad_runs("v2")
    out = run.output_dir
    predictions, odds = _json(out / "predictions.json"), _json(out / "null_odds.json")
    assert set(predictions) == set(odds) and {"s4", "c3"} <= set(odds)
    for qid, diff in odds.items():  # the threshold rule (null_score_diff_threshold = 0)
        assert (predictions[qid] == "") == (diff > 0.0)
    data = json.loads(open(squad_files["v2"], encoding="utf-8").read())["data"]
    official = evaluate_v2(data, predictions, odds)
    results = run.eval_results()
    for key in ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1",
                "best_f1", "best_f1_thresh"):
        assert results[key] == pytest.approx(official[key]), key
    answers = _python_pipeline(out / "final_model", squad_files["v2"], True)
    assert answers.predictions == predictions
    assert _json(out / "final_model" / "squad_info.json")["version_2_with_negative"] is True


def test_predict_file_without_answers_writes_no_eval_results(squad_runs, squad_model, tmp_path):
    context = "john smith was born in paris ."
    data = write_squad(tmp_path / "test.json", [(context, [qa("t1", "who was born ?")])])
    out = tmp_path / "out"
    run = run_squad_script(squad_args(
        squad_model, out, do_train="false", predict_file=data,
        init_checkpoint=squad_runs("v1").output_dir / "final_model"))
    assert run.returncode == 0, run.describe()
    assert list(_json(out / "predictions.json")) == ["t1"]
    assert not (out / "eval_results.txt").exists()


def _bad(tmp_path, squad_model, **flags):
    out = tmp_path / "out"
    run = run_squad_script(squad_args(squad_model, out, **flags), timeout=120)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode != 0 and lines and lines[-1].startswith("error: "), run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    assert not out.exists(), "bad input must leave nothing behind"
    return run.returncode, lines[-1]


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, squad_model, squad_files):
    good = dict(train_file=squad_files["v1"], predict_file=squad_files["v1"])
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [', encoding="utf-8")
    status, line = _bad(tmp_path, squad_model, **dict(good, train_file=broken))
    assert status == 1 and str(broken) in line and "not valid JSON" in line
    no_id = tmp_path / "no_id.json"
    no_id.write_text(json.dumps({"data": [{"paragraphs": [{"context": "x y", "qas": [
        {"question": "x ?", "answers": [{"text": "x", "answer_start": 0}]}]}]}]}))
    status, line = _bad(tmp_path, squad_model, **dict(good, predict_file=no_id))
    assert status == 1 and str(no_id) in line and "id" in line
    status, line = _bad(tmp_path, squad_model, **dict(good, doc_stride=30))
    assert status == 2 and "--doc_stride" in line
    status, line = _bad(tmp_path, squad_model, **dict(good, max_seq_length=128))
    assert status == 2 and "--max_seq_length=128" in line and "max_position_embeddings" in line
    status, line = _bad(tmp_path, squad_model, **dict(good, train_file=None))
    assert status == 2 and "train_file" in line
    status, line = _bad(tmp_path, squad_model, **dict(good, train_file=tmp_path / "missing.json"))
    assert status == 1 and "missing.json" in line


def test_answer_not_at_answer_start_is_skipped_and_counted(tmp_path, squad_model, squad_runs):
    context = "john smith was born in paris ."
    data = write_squad(tmp_path / "train.json", [(context, [
        qa("ok", "who was born ?", [("john smith", 0)]),
        qa("off", "where was he born ?", [("paris", 3)])])])
    out = tmp_path / "out"
    run = run_squad_script(squad_args(squad_model, out, train_file=data, do_predict="false",
                                      num_train_epochs="2", train_batch_size=1))
    assert run.returncode == 0, run.describe()
    said = [line for line in run.stdout.splitlines() if "skipped 1 of 2 questions" in line]
    assert len(said) == 1 and "'off'" in said[0], run.describe()
    assert (out / "final_model" / "bert_model.ckpt.index").exists()


def test_exported_answerer_gives_run_squads_answers(squad_runs, squad_files, tmp_path):
    """`--export_dir` after training writes question_answerer/, whose answers to the raw
    questions and contexts are the run's predictions.json."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops for loading)

    run = squad_runs("v1", export_dir=str(tmp_path / "export"))
    answerer = tf.saved_model.load(str(tmp_path / "export" / "question_answerer"))
    serve = answerer.signatures["serving_default"]
    data = json.loads(open(squad_files["v1"], encoding="utf-8").read())["data"]
    questions, contexts, ids = [], [], []
    for paragraph in data[0]["paragraphs"]:
        for q in paragraph["qas"]:
            questions.append(q["question"])
            contexts.append(paragraph["context"])
            ids.append(q["id"])
    out = serve(question=tf.constant(questions), context=tf.constant(contexts))
    texts = [t.decode("utf-8") for t in out["text"].numpy()]
    predictions = _json(run.output_dir / "predictions.json")
    assert texts == [predictions[i] for i in ids]
    for text, context, start, end in zip(texts, contexts, out["start"].numpy(),
                                         out["end"].numpy()):
        assert context[start:end] == text
