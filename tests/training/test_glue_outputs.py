"""run_classifier.py on GLUE tasks: the GLUE metric keys in eval_results.txt, the leaderboard
submission files (<TASK>.tsv, MNLI-m/-mm, AX) and the checks made before training starts.

The task folders are the real GLUE layouts of tests/data/task_layouts.py; their words are
mostly outside the tiny model's vocab ([UNK]), which changes nothing of what is tested here.
"""

import shutil

import numpy as np
import pytest
from data.task_layouts import GLUE_LAYOUTS, write_layout, write_table
from training.conftest import N_TEST, readme_args, run_ok, run_script

from bert_tf.training.results import read_eval_results, read_submission, read_test_results

TINY = dict(train_batch_size=2, num_train_epochs=1.0, eval_batch_size=2, predict_batch_size=2)


@pytest.fixture
def readme_run(cached_run, tiny_model, mrpc_dir):
    """The same cached run as test_run_classifier.py's (README flags plus --do_predict)."""
    return cached_run("readme", lambda out: readme_args(tiny_model, mrpc_dir, out,
                                                        do_predict="true"))


def glue_task(tmp_path, task):
    return write_layout(tmp_path / task, GLUE_LAYOUTS[task])


def test_mrpc_submission_file_repeats_the_test_index_and_the_argmax(readme_run, mrpc_dir):
    rows = read_submission(readme_run.output_dir / "MRPC.tsv")
    header, *lines = (readme_run.output_dir / "MRPC.tsv").read_text().splitlines()
    assert header == "index\tprediction" and len(lines) == N_TEST
    test_rows = (mrpc_dir / "test.tsv").read_text().splitlines()[1:]
    assert [i for i, _ in rows] == [line.split("\t")[0] for line in test_rows]
    probabilities = read_test_results(readme_run.output_dir / "test_results.tsv")
    assert [p for _, p in rows] == [str(k) for k in probabilities.argmax(-1)]
    assert not list(readme_run.output_dir.glob(".*.tmp"))


def test_cola_reports_matthews_correlation(tiny_model, tmp_path):
    data = glue_task(tmp_path, "cola")
    run = run_ok(readme_args(tiny_model, data, tmp_path / "out", task_name="CoLA",
                             do_predict="true", **TINY))
    results = run.eval_results()
    assert sorted(results) == ["eval_accuracy", "eval_f1", "eval_loss", "eval_mcc",
                               "global_step", "loss"]
    # One dev row: a single class, so MCC is undefined and reported as 0 (scikit-learn's rule).
    assert results["eval_mcc"] == 0.0
    assert read_submission(run.output_dir / "CoLA.tsv")[0][0] == "0"
    assert {p for _, p in read_submission(run.output_dir / "CoLA.tsv")} <= {"0", "1"}


def test_mnli_evaluates_and_predicts_matched_mismatched_and_diagnostic(tiny_model, tmp_path):
    data = glue_task(tmp_path, "mnli")
    # GLUE's download layout: the diagnostic set in a folder beside the task folders.
    write_table(tmp_path / "diagnostic" / "diagnostic.tsv",
                [["index", "sentence1", "sentence2"], ["0", "The cat sat .", "A cat sat ."],
                 ["1", "No one came .", "Someone came ."], ["2", "a", "b"]])
    run = run_ok(readme_args(tiny_model, data, tmp_path / "out", task_name="MNLI",
                             do_predict="true", **TINY))
    results = run.eval_results()
    assert {"eval_accuracy", "eval_loss", "eval_macro_f1", "eval_mm_accuracy", "eval_mm_loss",
            "eval_mm_macro_f1", "global_step", "loss"} == set(results)
    assert results["loss"] == results["eval_loss"]
    labels = {"contradiction", "entailment", "neutral"}
    expected = {"MNLI-m.tsv": ["0"], "MNLI-mm.tsv": ["3"], "AX.tsv": ["0", "1", "2"]}
    for name, indices in expected.items():
        rows = read_submission(run.output_dir / name)
        assert [i for i, _ in rows] == indices, name
        assert {p for _, p in rows} <= labels, name
    assert len(read_test_results(run.output_dir / "test_results.tsv")) == 1  # matched, as before


def test_stsb_writes_clipped_scores_and_correlations(tiny_model, tmp_path):
    data = glue_task(tmp_path, "stsb")
    # Two different dev rows with different scores, so that the correlations are defined.
    rows = GLUE_LAYOUTS["stsb"]["dev.tsv"]
    write_table(f"{data}/dev.tsv", rows + [rows[1][:7] + ["A b c d e f g .", "H .", "1.250"]])
    run = run_ok(readme_args(tiny_model, data, tmp_path / "out", task_name="STS-B",
                             do_predict="true", **TINY))
    results = run.eval_results()
    assert {"eval_loss", "eval_pearson", "eval_spearman", "global_step", "loss"} == set(results)
    assert abs(results["eval_pearson"]) == pytest.approx(1.0)  # two points are on a line
    (index, score), = read_submission(run.output_dir / "STS-B.tsv")
    raw = float(read_test_results(run.output_dir / "test_results.tsv")[0, 0])
    assert index == "0" and float(score) == pytest.approx(float(np.clip(raw, 0.0, 5.0)))


def _missing_dev(data):
    (data / "dev.tsv").unlink()
    return "MRPC", [str(data / "dev.tsv"), "no such file", "MRPC dev file dev.tsv"]


def _test_without_index(data):
    # A dev-layout file given as the test file: its first column is Quality, not index.
    shutil.copy(data / "dev.tsv", data / "test.tsv")
    return "MRPC", [str(data / "test.tsv") + ", line 1", "`index`", "'Quality'"]


def _mnli_without_mismatched(data):
    for name in ("train.tsv", "dev_matched.tsv", "test_matched.tsv", "test_mismatched.tsv"):
        write_table(data / name, GLUE_LAYOUTS["mnli"][name])
    return "MNLI", [str(data / "dev_mismatched.tsv"), "MNLI dev file dev_mismatched.tsv"]


def _qqp_test_needs_id(data):
    for name, rows in GLUE_LAYOUTS["qqp"].items():
        write_table(data / name, rows)
    write_table(data / "test.tsv", [["index", "question1", "question2"], ["0", "a", "b"]])
    return "QQP", [str(data / "test.tsv"), "`id`"]


BAD_INPUT = {"missing_dev_split": _missing_dev, "test_without_index": _test_without_index,
             "mnli_without_mismatched_dev": _mnli_without_mismatched,
             "qqp_test_without_id": _qqp_test_needs_id}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_glue_folder_fails_before_training(case, tiny_model, mrpc_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(mrpc_dir, data)
    task, expected = BAD_INPUT[case](data)
    out = tmp_path / "out"
    run = run_script(readme_args(tiny_model, data, out, task_name=task, do_predict="true"),
                     timeout=120)
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and sum(x.startswith("error:") for x in lines) == 1
    for part in expected:
        assert part in lines[-1], (part, lines[-1])
    # Checked before anything was built: no output folder, so no features, checkpoints or results.
    assert not out.exists(), sorted(p.name for p in out.iterdir())
    assert "Running training" not in run.stdout


def test_matched_only_mnli_needs_no_mismatched_file(tiny_model, tmp_path):
    data = tmp_path / "mnli"
    for name in ("train.tsv", "dev_matched.tsv", "test_matched.tsv"):
        write_table(data / name, GLUE_LAYOUTS["mnli"][name])
    run = run_ok(readme_args(tiny_model, data, tmp_path / "out", task_name="mnli-m",
                             do_predict="true", **TINY))
    assert "eval_mm_accuracy" not in run.eval_results()
    assert (run.output_dir / "MNLI-m.tsv").exists()
    assert not (run.output_dir / "MNLI-mm.tsv").exists()
    assert read_eval_results(run.output_dir / "eval_results.txt")["global_step"] == 1
