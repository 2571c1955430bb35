"""run_classifier.py end to end, as a subprocess: the original README's MRPC command line, its
output files (eval_results.txt, test_results.tsv, *.tf_record), --flagfile, the feature cache,
TensorBoard event files and --eval_every_steps' best model."""

import re

import numpy as np
import pytest
from training.conftest import README_STEPS as EXPECTED_STEPS  # the original's num_train_steps
from training.conftest import (MAX_SEQ, N_DEV, N_TEST, N_TRAIN, SPECIALS, TEST_DUPLICATES,
                               copy_output, read_events, read_tsv_rows, readme_args, run_ok)

FEATURE_NAMES = {"input_ids", "input_mask", "segment_ids", "label_ids", "is_real_example"}


@pytest.fixture
def readme_run(cached_run, tiny_model, mrpc_dir):
    """The README command line plus --do_predict=true, run once for this session."""
    return cached_run("readme", lambda out: readme_args(tiny_model, mrpc_dir, out, do_predict="true"))


def _records(path, seq):
    import tensorflow as tf

    spec = {name: tf.io.FixedLenFeature([seq], tf.int64)
            for name in ("input_ids", "input_mask", "segment_ids")}
    spec.update({name: tf.io.FixedLenFeature([], tf.int64) for name in ("label_ids", "is_real_example")})
    rows = []
    for record in tf.data.TFRecordDataset(str(path)):
        example = tf.train.Example.FromString(record.numpy())
        assert set(example.features.feature) == FEATURE_NAMES
        rows.append({k: v.numpy() for k, v in tf.io.parse_single_example(record, spec).items()})
    return rows


def _expected_ids(text_a, text_b, seq=MAX_SEQ):
    """[CLS] a [SEP] b [SEP] + zeros: every fixture word is one vocab entry (`wN` -> 5 + N)."""
    def ids(text):
        return [len(SPECIALS) + int(word[1:]) for word in text.split()]
    tokens = [2] + ids(text_a) + [3] + ids(text_b) + [3]
    segments = [0] * (len(ids(text_a)) + 2) + [1] * (len(ids(text_b)) + 1)
    pad = seq - len(tokens)
    return tokens + [0] * pad, [1] * len(tokens) + [0] * pad, segments + [0] * pad


def test_readme_command_line_writes_the_original_eval_results(readme_run):
    text = (readme_run.output_dir / "eval_results.txt").read_text()
    lines = text.splitlines()
    assert text.endswith("\n")
    assert all(re.fullmatch(r"[a-z_0-9]+ = \S+", line) for line in lines), text
    keys = [line.split(" = ")[0] for line in lines]
    assert keys == ["eval_accuracy", "eval_f1", "eval_loss", "global_step", "loss"]
    values = dict(line.split(" = ") for line in lines)
    assert values["global_step"] == str(EXPECTED_STEPS)
    assert values["loss"] == values["eval_loss"]
    for key in ("eval_accuracy", "eval_f1", "eval_loss"):
        # float32 text, as the original's NumPy scalars printed.
        assert values[key] == str(np.float32(float(values[key])))
    # Only the 10 real dev rows count (the file holds 16 with padding).
    accuracy = float(values["eval_accuracy"]) * N_DEV
    assert abs(accuracy - round(accuracy)) < 1e-4
    assert 0.0 < float(values["eval_loss"]) < 5.0


def test_readme_command_line_writes_test_results_in_input_order(readme_run):
    lines = (readme_run.output_dir / "test_results.tsv").read_text().splitlines()
    assert len(lines) == N_TEST
    probs = np.array([[float(v) for v in line.split("\t")] for line in lines])
    assert probs.shape == (N_TEST, 2)
    assert np.all(probs > 0) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    # A repeated row gets its source's probabilities, to float32 rounding: a [CLS]-pooled
    # model's last block runs on a few rows, where oneDNN's result can depend on the row's
    # place in the batch in the last bit (observed 4e-8).
    for row, source in TEST_DUPLICATES.items():
        assert np.abs(probs[row] - probs[source]).max() <= 1e-6, \
            "a repeated test row got other probabilities"
    # Different inputs give clearly different outputs, so the matches above are not trivial.
    distinct = [i for i in range(N_TEST) if i not in TEST_DUPLICATES]
    gaps = [np.abs(probs[i] - probs[j]).max() for i in distinct for j in distinct if i < j]
    print("smallest gap between distinct rows:", min(gaps))
    assert min(gaps) > 1e-5


def test_readme_command_line_writes_the_original_tf_records(readme_run, mrpc_dir):
    out = readme_run.output_dir
    train = _records(out / "train.tf_record", MAX_SEQ)
    train_rows = read_tsv_rows(mrpc_dir / "train.tsv")
    assert len(train) == N_TRAIN  # training rows are never padded
    for row, fields in zip(train, train_rows):
        ids, mask, segments = _expected_ids(fields[3], fields[4])
        assert row["input_ids"].tolist() == ids
        assert row["input_mask"].tolist() == mask
        assert row["segment_ids"].tolist() == segments
        assert row["label_ids"] == int(fields[0]) and row["is_real_example"] == 1

    # eval/predict rows are padded to whole batches (8) with is_real_example = 0 rows.
    for name, tsv, real in (("eval", "dev.tsv", N_DEV), ("predict", "test.tsv", N_TEST)):
        rows = _records(out / f"{name}.tf_record", MAX_SEQ)
        assert len(rows) == -(-real // 8) * 8
        assert [int(r["is_real_example"]) for r in rows] == [1] * real + [0] * (len(rows) - real)
        for row, fields in zip(rows, read_tsv_rows(mrpc_dir / tsv)):
            assert row["input_ids"].tolist() == _expected_ids(fields[3], fields[4])[0]
        assert all(not r["input_ids"].any() for r in rows[real:])
    for name in ("train", "eval", "predict"):
        # Readable by others, as the original's files and the result files are.
        assert (out / f"{name}.tf_record").stat().st_mode & 0o044 == 0o044, name
    assert "test_results.tsv (7 rows)" in readme_run.stdout


def test_flagfile_gives_the_same_run(readme_run, tiny_model, mrpc_dir, tmp_path):
    out = tmp_path / "out"
    flagfile = tmp_path / "mrpc.flags"
    flagfile.write_text("\n".join(readme_args(tiny_model, mrpc_dir, out, do_predict="true")) + "\n")
    run = run_ok([f"--flagfile={flagfile}"])
    assert "***** Eval results *****" in run.stdout
    from bert_tf.training.results import read_eval_results
    assert read_eval_results(out / "eval_results.txt") == pytest.approx(
        readme_run.eval_results(), abs=1e-6)
    ours = np.loadtxt(out / "test_results.tsv")
    theirs = np.loadtxt(readme_run.output_dir / "test_results.tsv")
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_rerun_reuses_features_and_new_max_seq_length_rebuilds_them(readme_run, tiny_model,
                                                                    mrpc_dir, tmp_path):
    out = copy_output(readme_run, tmp_path / "out")
    fingerprints = {n: (out / f"{n}.tf_record.fingerprint").read_text()
                    for n in ("train", "eval", "predict")}
    again = run_ok(readme_args(tiny_model, mrpc_dir, out, do_predict="true"))
    for name, count in (("train", N_TRAIN), ("eval", N_DEV), ("predict", N_TEST)):
        assert f"{name}.tf_record: {count} examples (reused)" in again.stdout, again.describe()
    # Training was complete: the rerun resumes at the last step and only re-evaluates.
    assert f"(global step {EXPECTED_STEPS})" in again.stdout
    assert again.eval_results() == pytest.approx(readme_run.eval_results(), abs=1e-6)

    shorter = run_ok(readme_args(tiny_model, mrpc_dir, out, do_predict="true", max_seq_length=24))
    for name, count in (("train", N_TRAIN), ("eval", N_DEV), ("predict", N_TEST)):
        assert f"{name}.tf_record: {count} examples\n" in shorter.stdout, shorter.describe()
        assert (out / f"{name}.tf_record.fingerprint").read_text() != fingerprints[name]
    rows = _records(out / "eval.tf_record", 24)
    first = read_tsv_rows(mrpc_dir / "dev.tsv")[0]
    assert rows[0]["input_ids"].tolist() == _expected_ids(first[3], first[4], seq=24)[0]
    assert len((out / "test_results.tsv").read_text().splitlines()) == N_TEST


def test_tensorboard_event_files(readme_run):
    out = readme_run.output_dir
    train = read_events(out / "train")
    for tag in ("train/loss", "train/learning_rate", "train/grad_norm", "train/examples_per_sec"):
        steps = [step for step, plugin, _ in train.get(tag, []) if plugin == "scalars"]
        # log_every_steps=10 (default) and the last step.
        assert steps == [10, EXPECTED_STEPS], (tag, sorted(train))
    evals = read_events(out / "eval")
    for tag in ("eval/accuracy", "eval/f1", "eval/loss", "eval/global_step"):
        assert [(s, p) for s, p, _ in evals.get(tag, [])] == [(EXPECTED_STEPS, "scalars")], \
            (tag, sorted(evals))
    image = evals.get("eval/confusion_matrix_image", [])
    assert [(s, p) for s, p, _ in image] == [(EXPECTED_STEPS, "images")]
    # The image tensor holds [width, height, PNG bytes]; check it is a real PNG.
    import tensorflow as tf
    png = tf.make_ndarray(image[0][2].tensor)[2]
    assert png.startswith(b"\x89PNG")
    root = read_events(out)
    assert any(plugin == "hparams" for values in root.values() for _, plugin, _ in values), \
        sorted(root)


def test_eval_every_steps_keeps_the_best_model(cached_run, tiny_model, mrpc_dir):
    run = cached_run("eval_every", lambda out: readme_args(
        tiny_model, mrpc_dir, out, eval_every_steps=5, learning_rate="1e-3"))
    periodic = {int(m.group(1)): float(m.group(2)) for m in re.finditer(
        r"eval at step (\d+): eval_accuracy=([0-9.]+)", run.stdout)}
    assert sorted(periodic) == [5, 10, 15], run.describe()
    best = run.output_dir / "best"
    for name in ("bert_config.json", "vocab.txt", "bert_model.ckpt.index", "eval_results.txt"):
        assert (best / name).exists(), name
    from bert_tf.training.results import read_eval_results
    best_results = read_eval_results(best / "eval_results.txt")
    # The first step with the highest accuracy (ties keep the earlier model).
    top = max(periodic.values())
    assert best_results["global_step"] == min(s for s, a in periodic.items() if a == top)
    assert abs(best_results["eval_accuracy"] - top) < 1e-4
    import tensorflow as tf
    names = {name for name, _ in tf.train.list_variables(str(best / "bert_model.ckpt"))}
    assert {"bert/embeddings/word_embeddings", "output_weights", "output_bias"} <= names
    evals = read_events(run.output_dir / "eval")
    assert [s for s, _, _ in evals["eval/accuracy"]] == [5, 10, 15, EXPECTED_STEPS]


def test_bucket_by_length_changes_no_eval_or_test_result(tiny_model, mrpc_dir, tmp_path):
    # Eval and predict batches of 2 rows, length-sorted when bucketed: the results files must
    # come back in input order with the values of fixed padding.
    from bert_tf.training.results import read_eval_results

    outs = {}
    for bucket in ("false", "true"):
        outs[bucket] = tmp_path / f"bucket_{bucket}"
        run_ok(readme_args(tiny_model, mrpc_dir, outs[bucket], do_train="false",
                           do_predict="true", eval_batch_size=2, predict_batch_size=2,
                           bucket_by_length=bucket))
    fixed, bucketed = (read_eval_results(outs[b] / "eval_results.txt") for b in ("false", "true"))
    assert bucketed == pytest.approx(fixed, abs=1e-6)
    probs = {b: np.loadtxt(outs[b] / "test_results.tsv") for b in outs}
    assert probs["true"].shape == (N_TEST, 2)
    np.testing.assert_allclose(probs["true"], probs["false"], atol=1e-6)
    assert np.abs(probs["false"][1:] - probs["false"][:-1]).max() > 1e-5  # rows differ
