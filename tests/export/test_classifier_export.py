"""A run_classifier run with --export_dir: the raw-string classifier SavedModel reproduces its
test_results.tsv after a process restart, TFLite agrees, and bad export requests fail cleanly."""

import json
import subprocess
import sys

import numpy as np
from export.conftest import xla_compiled_functions
from training.conftest import REPO_ROOT, read_tsv_rows, script_env

# Loads the exported classifier in a fresh TF process and prints its probabilities as JSON.
RELOAD = """
import json, sys
import tensorflow as tf, tensorflow_text  # noqa
obj = tf.saved_model.load(sys.argv[1])
a, b = json.loads(open(sys.argv[2]).read())
out = obj.signatures["serving_default"](sentence=tf.constant(a), sentence_b=tf.constant(b))
print(json.dumps({"p": out["probabilities"].numpy().tolist(),
                  "label": [x.decode() for x in out["label"].numpy()]}))
"""


def test_exported_classifier_reproduces_test_results_after_a_restart(exported_run, mrpc_dir,
                                                                      tmp_path):
    run, export = exported_run
    assert {"encoder", "preprocessor", "classifier", "classifier.tflite",
            "classifier_int8.tflite", "export_report.json"} <= {p.name for p in export.iterdir()}
    rows = read_tsv_rows(mrpc_dir / "test.tsv")
    texts = tmp_path / "texts.json"
    texts.write_text(json.dumps([[r[3] for r in rows], [r[4] for r in rows]]))
    proc = subprocess.run([sys.executable, "-c", RELOAD, str(export / "classifier"), str(texts)],
                          capture_output=True, text=True, env=script_env(), cwd=str(REPO_ROOT),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    want = np.array([[float(x) for x in line.split("\t")] for line in
                     (run.output_dir / "test_results.tsv").read_text().splitlines()])
    probs = np.array(got["p"])
    assert probs.shape == want.shape
    assert np.max(np.abs(probs - want)) <= 1e-5
    assert xla_compiled_functions(export / "classifier") == []
    info = json.loads((export / "classifier" / "assets" / "classifier_info.json").read_text())
    assert info["labels"] == ["0", "1"] and info["num_segments"] == 2
    assert got["label"] == [info["labels"][i] for i in probs.argmax(-1)]


def test_tflite_agrees_and_int8_is_smaller(exported_run):
    _, export = exported_run
    report = json.loads((export / "export_report.json").read_text())
    fp32, int8 = report["tflite"]["classifier.tflite"], report["tflite"]["classifier_int8.tflite"]
    assert fp32["max_abs_diff_vs_keras"] <= 1e-4
    assert fp32["same_argmax"] == 1.0
    assert int8["bytes"] < fp32["bytes"]
    assert (export / "classifier.tflite").stat().st_size == fp32["bytes"]


def _export_cli(*args):
    return subprocess.run([sys.executable, "-m", "bert_tf.export", *map(str, args)],
                          capture_output=True, text=True, env=script_env(), cwd=str(REPO_ROOT),
                          timeout=300)


def test_bad_export_requests_give_one_error_line(tmp_path, tiny_model):
    missing = _export_cli("--model", tmp_path / "nope", "--output", tmp_path / "o1")
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1].startswith("error: --model:")
    assert not (tmp_path / "o1").exists()
    encoder_only = _export_cli("--model", tiny_model.folder, "--output", tmp_path / "o2",
                               "--tflite")
    assert encoder_only.returncode != 0
    assert encoder_only.stderr.strip().splitlines()[-1].startswith("error: --tflite:")
    assert not (tmp_path / "o2").exists()


def test_run_classifier_starts_from_a_tf_hub_encoder_folder(exported_run, tiny_model, mrpc_dir,
                                                            tmp_path):
    from training.conftest import readme_args, run_ok

    _, export = exported_run
    args = readme_args(tiny_model, mrpc_dir, tmp_path / "out", init_checkpoint=export / "encoder",
                       bert_config_file=None, vocab_file=None, num_train_epochs="1.0",
                       do_eval="false")
    run = run_ok(args)
    assert f"{export / 'encoder'} (tfhub): loaded 39 variables" in run.stdout
    assert (tmp_path / "out" / "final_model" / "vocab.txt").read_text() == \
        (export / "encoder" / "assets" / "vocab.txt").read_text()
