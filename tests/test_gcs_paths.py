"""Every path bert_tf reads or writes, on gs:// (the `gcs_emulator` fixture) and locally: the
two must give the same results, and a gs:// run must leave nothing on local disk.

As in test_gcs_emulator.py, TF reads its GCS settings at import, so the code under test runs in
a subprocess started with the emulator's environment, in empty cwd/HOME/TMPDIR folders.
"""

import json
import sys
from pathlib import Path

from test_gcs_emulator import REPO_ROOT, isolated_run, local_files, python
from training.test_run_pretraining import tiny_pretraining  # noqa: F401 - a fixture

# Runs the model-file, vocab, config, checkpoint and data paths on argv[1] (model folder),
# writing under argv[2]; prints one `RESULTS {json}` line with values that hold no path.
PATHS_SCRIPT = r'''
import hashlib, json, os, sys, types
import numpy as np
import tensorflow as tf
from bert_tf.checkpoints import detect_format, load_pretrained, read_pretrained_config
from bert_tf.checkpoints.classifier_info import ClassifierInfo, read_classifier_info
from bert_tf.checkpoints.google import (model_tensors, resolve_checkpoint_prefix,
                                        save_google_checkpoint)
from bert_tf.checkpoints.pretrained import vocab_file_of
from bert_tf.data.features import cached_records, file_digest, write_records
from bert_tf.data.processors import read_rows
from bert_tf.modeling import BertConfig
from bert_tf.tokenization import FullTokenizer, load_vocab
from bert_tf.training.model_files import resolve_model_files

model, out = sys.argv[1], sys.argv[2]
join, name = os.path.join, os.path.basename

def digest(m):
    h = hashlib.sha256()
    for key, value in sorted(model_tensors(m).items()):
        h.update(key.encode() + np.ascontiguousarray(value).tobytes())
    return h.hexdigest()

def listing(folder):
    return sorted(n.rstrip("/") for n in tf.io.gfile.listdir(folder))

r = {"format": detect_format(model), "prefix": name(resolve_checkpoint_prefix(model)),
     "config": read_pretrained_config(model).to_dict(),
     "config_file": BertConfig.from_json_file(join(model, "bert_config.json")).to_dict(),
     "vocab": list(load_vocab(join(model, "vocab.txt")).items()),
     "vocab_of": name(vocab_file_of(model)), "vocab_digest": file_digest(join(model, "vocab.txt")),
     "tokens": FullTokenizer(join(model, "vocab.txt")).tokenize("hello world")}
flags = types.SimpleNamespace(init_checkpoint=join(model, "bert_model.ckpt"),
                              bert_config_file=None, vocab_file=None, max_seq_length=32)
config, vocab = resolve_model_files(flags)
r["model_files"] = [config.to_dict(), name(vocab)]
encoder = load_pretrained(model)
r["weights"] = digest(encoder)
info = ClassifierInfo(labels=["0", "1"], pooling="cls", do_lower_case=True, task_name="mrpc")
saved = join(out, "saved")
for _ in range(2):  # the second save replaces a whole folder
    save_google_checkpoint(encoder, saved, vocab_file=vocab, extra_files=info.as_extra_file())
r["saved_files"] = listing(saved)
r["saved_weights"] = digest(load_pretrained(saved))
r["saved_info"] = read_classifier_info(saved).to_json()
r["saved_vocab"] = file_digest(join(saved, "vocab.txt"))

records, calls = join(out, "features", "train.tf_record"), []
def write(path):
    calls.append(path)
    return write_records(path, [b"a", b"bc"]), 2, {"extra": 1}
first = cached_records(records, "key-1", write)
again = cached_records(records, "key-1", write)
r["records"] = [first, again, len(calls), listing(join(out, "features")),
                [x.numpy().decode() for x in tf.data.TFRecordDataset(records)]]
r["rows"] = read_rows(join(model, "data.tsv"))
print("RESULTS " + json.dumps(r))
'''


def run_paths_script(tmp_path, env, model, out):
    done, dirs = isolated_run(tmp_path, python(PATHS_SCRIPT, model, out),
                              dict(env, PYTHONPATH=str(REPO_ROOT)))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    return json.loads(lines[0][len("RESULTS "):]), dirs


def test_model_files_and_data_on_gcs_equal_local(gcs_emulator, make_google_folder,
                                                  tiny_config_dict, tmp_path):
    folder, _ = make_google_folder(tiny_config_dict)
    # A BOM and CRLF line ends: read the same from a local file and from an object.
    (folder / "data.tsv").write_bytes("\ufeffa\tb\r\n1\thello world\r\n".encode("utf-8"))
    gcs_emulator.bucket("tf-paths")
    gs_model = gcs_emulator.upload(folder, "tf-paths", "model")
    local, _ = run_paths_script(tmp_path / "local", gcs_emulator.env, str(folder),
                                str(tmp_path / "local_out"))
    remote, dirs = run_paths_script(tmp_path / "remote", gcs_emulator.env, gs_model,
                                    "gs://tf-paths/out")
    assert remote == local
    assert remote["format"] == "google" and remote["prefix"] == "bert_model.ckpt"
    assert remote["saved_weights"] == remote["weights"]
    assert remote["saved_files"] == ["bert_config.json", "bert_model.ckpt.data-00000-of-00001",
                                     "bert_model.ckpt.index", "classifier_info.json",
                                     "vocab.txt"]
    first, again, calls, feature_files, records = remote["records"]
    assert (first["reused"], again["reused"], calls) == (False, True, 1)
    assert feature_files == ["train.tf_record", "train.tf_record.fingerprint"]
    assert records == ["a", "bc"]
    assert remote["rows"] == [[1, ["a", "b"]], [2, ["1", "hello world"]]]
    names = gcs_emulator.objects("tf-paths", "out/")
    assert not [n for n in names if ".staging-" in n or ".tmp-" in n], names
    assert local_files(dirs) == []


def test_missing_gcs_files_are_named(gcs_emulator, tmp_path):
    script = r'''
import sys
from bert_tf.checkpoints import CheckpointError, detect_format
from bert_tf.modeling.config import BertConfig, ConfigError
from bert_tf.tokenization import VocabError, load_vocab
for call, errors in ((lambda: detect_format(sys.argv[1]), CheckpointError),
                     (lambda: BertConfig.from_json_file(sys.argv[1] + "/bert_config.json"),
                      ConfigError),
                     (lambda: load_vocab(sys.argv[1] + "/vocab.txt"), VocabError)):
    try:
        call()
    except errors as e:
        print("ERROR " + str(e))
'''
    bucket = gcs_emulator.bucket("tf-missing")
    done, _ = isolated_run(tmp_path, python(script, f"{bucket}/nothing"),
                           dict(gcs_emulator.env, PYTHONPATH=str(REPO_ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 3, done.stdout
    assert errors[0].startswith(f"ERROR {bucket}/nothing: not a recognised BERT model")
    assert errors[1] == f"ERROR {bucket}/nothing/bert_config.json: no such config file"
    assert errors[2].startswith(f"ERROR {bucket}/nothing/vocab.txt: cannot read vocabulary file")


def classifier_run(tmp_path, env, model, data, out):
    from training.conftest import readme_args

    args = readme_args(model["tiny"], data, out, vocab_file=f"{model['root']}/vocab.txt",
                       bert_config_file=f"{model['root']}/bert_config_nodrop.json",
                       init_checkpoint=f"{model['root']}/bert_model.ckpt", do_predict="true",
                       deterministic="true", classifier_dropout=0)
    done, dirs = isolated_run(tmp_path, [sys.executable, str(REPO_ROOT / "run_classifier.py"),
                                         *args], dict(env, PYTHONPATH=str(REPO_ROOT)))
    assert done.returncode == 0, done.stderr[-4000:]
    return dirs


def test_run_classifier_with_every_path_on_gcs(gcs_emulator, make_google_folder,
                                               tiny_config_dict, tmp_path):
    from training.conftest import TinyModel, write_mrpc

    folder, _ = make_google_folder(tiny_config_dict)
    nodrop = dict(tiny_config_dict, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "bert_config_nodrop.json").write_text(json.dumps(nodrop))
    tiny = TinyModel(folder, dict(tiny_config_dict))
    data = write_mrpc(tmp_path / "mrpc", tiny.words)
    bucket = gcs_emulator.bucket("tf-classifier")
    gs_model = gcs_emulator.upload(folder, "tf-classifier", "model")
    gs_data = gcs_emulator.upload(data, "tf-classifier", "mrpc")

    local_out = tmp_path / "local_out"
    classifier_run(tmp_path / "local", gcs_emulator.env, {"tiny": tiny, "root": str(folder)},
                   data, local_out)
    dirs = classifier_run(tmp_path / "remote", gcs_emulator.env,
                          {"tiny": tiny, "root": gs_model}, gs_data, f"{bucket}/out")

    names = set(gcs_emulator.objects("tf-classifier", "out/"))
    assert {"out/eval_results.txt", "out/test_results.tsv", "out/final_model/vocab.txt",
            "out/final_model/bert_model.ckpt.index"} <= names, sorted(names)
    for result in ("eval_results.txt", "test_results.tsv"):
        remote = gcs_emulator.read("tf-classifier", f"out/{result}").decode()
        assert remote == (local_out / result).read_text(), result
    assert not [n for n in names if ".staging-" in n or ".tmp-" in n], sorted(names)
    assert local_files(dirs) == []


EXPORT_SCRIPT = r'''
import json, sys
import numpy as np
import tensorflow as tf
from bert_tf.export.api import _files_under, export_model

model, out = sys.argv[1], sys.argv[2]
report = export_model(model, out, log=lambda text: None)
encoder = tf.saved_model.load(out + "/encoder")
ids = tf.constant([[2, 5, 6, 3, 0]], tf.int32)
outputs = encoder({"input_word_ids": ids, "input_mask": tf.cast(ids > 0, tf.int32),
                   "input_type_ids": tf.zeros_like(ids)})
print("RESULTS " + json.dumps({
    "files": sorted(_files_under(out)), "kind": report["kind"], "parts": sorted(report["bytes"]),
    "pooled": np.asarray(outputs["pooled_output"]).round(5).tolist()}))
'''


def test_export_on_gcs_equals_local(gcs_emulator, make_google_folder, tiny_config_dict,
                                    tmp_path):
    folder, _ = make_google_folder(tiny_config_dict)
    gcs_emulator.bucket("tf-export")
    gs_model = gcs_emulator.upload(folder, "tf-export", "model")
    results = []
    for side, model, out in (("local", str(folder), str(tmp_path / "local_out")),
                             ("remote", gs_model, "gs://tf-export/out")):
        done, dirs = isolated_run(tmp_path / side, python(EXPORT_SCRIPT, model, out),
                                  dict(gcs_emulator.env, PYTHONPATH=str(REPO_ROOT)))
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
        assert done.returncode == 0 and lines, done.stderr[-4000:]
        results.append(json.loads(lines[0][len("RESULTS "):]))
    assert results[1] == results[0]
    assert {"encoder/saved_model.pb", "preprocessor/saved_model.pb",
            "export_report.json"} <= set(results[1]["files"])
    assert not [n for n in gcs_emulator.objects("tf-export", "out/") if ".staging-" in n]
    assert local_files(dirs) == []


def _gcs_files(gcs_emulator, bucket, prefix):
    """{path under prefix: bytes} of the objects there (folder markers left out)."""
    return {name[len(prefix):]: gcs_emulator.read(bucket, name)
            for name in gcs_emulator.objects(bucket, prefix) if not name.endswith("/")}


def _local_files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _float_variables(files, part, folder):
    """{key: array} of the float variables (the weights) of SavedModel `part` in `files`.

    Exports are compared by these, their assets and their file names: the graph protos name
    traced functions by a per-process counter, and the dropout layers' seed states (int64)
    are drawn anew by each process that builds the model.
    """
    import tensorflow as tf

    folder.mkdir(parents=True)
    for name, data in files.items():
        if name.startswith(f"{part}/variables/"):
            (folder / name.rsplit("/", 1)[1]).write_bytes(data)
    reader = tf.train.load_checkpoint(str(folder / "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    return {key: reader.get_tensor(key) for key, dtype in dtypes.items() if dtype.is_floating}


def test_run_pretraining_and_export_with_every_path_on_gcs(gcs_emulator, tiny_pretraining,
                                                           tmp_path):
    import numpy as np
    from training.test_run_pretraining import pretraining_args

    folder, records = tiny_pretraining
    records = Path(records)
    bucket = gcs_emulator.bucket("tf-pretraining")
    gs_model = gcs_emulator.upload(folder, "tf-pretraining", "model")
    gcs_emulator.write("tf-pretraining", f"data/{records.name}", records.read_bytes())
    env = dict(gcs_emulator.env, PYTHONPATH=str(REPO_ROOT))

    def pretrain(side, model, data, out, export):
        args = pretraining_args(model, f"{data}/{records.name}", out, max_seq_length=16,
                                max_predictions_per_seq=3, train_batch_size=4,
                                eval_batch_size=4, num_train_steps=4, num_warmup_steps=1,
                                max_eval_steps=2, learning_rate=1e-3, log_every_steps=1,
                                deterministic="true", export_dir=export)
        done, dirs = isolated_run(tmp_path / side, [
            sys.executable, str(REPO_ROOT / "run_pretraining.py"), *args], env)
        assert done.returncode == 0, done.stderr[-4000:]
        return dirs

    local = tmp_path / "local"
    pretrain("local_run", str(folder), str(records.parent), str(local / "out"),
             str(local / "export"))
    dirs = pretrain("remote_run", gs_model, f"{bucket}/data", f"{bucket}/out",
                    f"{bucket}/export")
    assert local_files(dirs) == []
    remote_out = _gcs_files(gcs_emulator, "tf-pretraining", "out/")
    assert remote_out["eval_results.txt"] == (local / "out" / "eval_results.txt").read_bytes()
    for name in ("bert_model.ckpt.index", "bert_config.json", "vocab.txt"):
        assert remote_out[f"pretrained_model/{name}"] == \
            (local / "out" / "pretrained_model" / name).read_bytes(), name

    # The export command on the gs:// run folder (its pretrained_model/), into gs://.
    done, dirs = isolated_run(tmp_path / "remote_export", [
        sys.executable, "-m", "bert_tf.export", f"--model={bucket}/out",
        f"--output={bucket}/cli_export"], env)
    assert done.returncode == 0, done.stderr[-4000:]
    assert local_files(dirs) == []

    expected = _local_files(local / "export")
    assert {"encoder/saved_model.pb", "preprocessor/saved_model.pb",
            "encoder/variables/variables.index", "export_report.json"} <= set(expected)
    weights = _float_variables(expected, "encoder", tmp_path / "expected")
    assert len(weights) > 20
    for prefix in ("export/", "cli_export/"):
        exported = _gcs_files(gcs_emulator, "tf-pretraining", prefix)
        assert sorted(exported) == sorted(expected), prefix
        assert json.loads(exported["export_report.json"])["kind"] == "pretrainer"
        assert {n: d for n, d in exported.items() if "/assets/" in n} == \
            {n: d for n, d in expected.items() if "/assets/" in n}
        ours = _float_variables(exported, "encoder", tmp_path / prefix)
        assert sorted(ours) == sorted(weights), prefix
        assert all(np.array_equal(ours[k], weights[k]) for k in weights), prefix
    names = gcs_emulator.objects("tf-pretraining")
    assert not [n for n in names if ".staging-" in n or ".tmp-" in n], names
