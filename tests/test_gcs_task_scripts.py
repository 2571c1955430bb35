"""run_squad.py and run_ner.py with every path on gs:// (the `gcs_emulator` fixture): the same
result files as a local run, nothing written to local disk. As in test_gcs_paths.py, each script
runs in a subprocess started with the emulator's environment, in empty cwd/HOME/TMPDIR folders."""

import sys

from ner.conftest import make_ner_model, ner_args, write_ner_data
from squad.conftest import make_squad_model, squad_args, v1_paragraphs
from squad.squad_builders import write_squad
from test_gcs_emulator import REPO_ROOT, isolated_run, local_files


def _run(tmp_path, env, script, args):
    done, dirs = isolated_run(tmp_path, [sys.executable, str(REPO_ROOT / script), *args],
                              dict(env, PYTHONPATH=str(REPO_ROOT)))
    assert done.returncode == 0, done.stderr[-4000:]
    return dirs


def _compare(gcs_emulator, bucket, local_out, names, dirs):
    objects = set(gcs_emulator.objects(bucket, "out/"))
    assert {f"out/{n}" for n in names} <= objects, sorted(objects)
    for name in names:
        assert gcs_emulator.read(bucket, f"out/{name}") == (local_out / name).read_bytes(), name
    assert not [n for n in objects if ".staging-" in n or ".tmp-" in n], sorted(objects)
    assert local_files(dirs) == []


def test_run_squad_with_every_path_on_gcs(gcs_emulator, tmp_path):
    model = make_squad_model(tmp_path / "model")
    data = tmp_path / "data"
    data.mkdir()
    write_squad(data / "v1.json", v1_paragraphs())
    bucket = gcs_emulator.bucket("tf-squad")
    gs_model = gcs_emulator.upload(model, "tf-squad", "model")
    gs_data = gcs_emulator.upload(data, "tf-squad", "data")

    def args(root, data_root, out):
        return squad_args(model, out, vocab_file=f"{root}/vocab.txt",
                          bert_config_file=f"{root}/bert_config.json", num_train_epochs=4,
                          train_file=f"{data_root}/v1.json", predict_file=f"{data_root}/v1.json")

    local_out = tmp_path / "local_out"
    _run(tmp_path / "local", gcs_emulator.env, "run_squad.py", args(model, data, local_out))
    dirs = _run(tmp_path / "remote", gcs_emulator.env, "run_squad.py",
                args(gs_model, gs_data, f"{bucket}/out"))
    _compare(gcs_emulator, "tf-squad", local_out,
             ["predictions.json", "nbest_predictions.json", "eval_results.txt",
              "final_model/squad_info.json", "final_model/bert_model.ckpt.index"], dirs)


def test_run_ner_with_every_path_on_gcs(gcs_emulator, tmp_path):
    model = make_ner_model(tmp_path / "model")
    data = write_ner_data(tmp_path / "data")
    bucket = gcs_emulator.bucket("tf-ner")
    gs_model = gcs_emulator.upload(model, "tf-ner", "model")
    gs_data = gcs_emulator.upload(data, "tf-ner", "data")

    def args(root, data_root, out):
        return ner_args(model, data_root, out, vocab_file=f"{root}/vocab.txt",
                        bert_config_file=f"{root}/bert_config.json", num_train_epochs=4)

    local_out = tmp_path / "local_out"
    _run(tmp_path / "local", gcs_emulator.env, "run_ner.py", args(model, data, local_out))
    dirs = _run(tmp_path / "remote", gcs_emulator.env, "run_ner.py",
                args(gs_model, gs_data, f"{bucket}/out"))
    _compare(gcs_emulator, "tf-ner", local_out,
             ["eval_results.txt", "eval_predictions.txt", "test_results.txt",
              "test_predictions.txt", "final_model/ner_info.json",
              "final_model/bert_model.ckpt.index"], dirs)
