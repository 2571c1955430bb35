"""configs/glue/*.flags (GLUE recipes), configs/models/*.json (the released models' configs) and
`python -m bert_tf.glue`, the one-command runner, on tiny fixtures."""

import json
import re
import subprocess
import sys

import pytest
from data.task_layouts import GLUE_LAYOUTS, write_layout
from training.conftest import REPO_ROOT, SCRIPT_TIMEOUT_S, run_ok, script_env

from bert_tf import glue
from bert_tf.modeling import BertConfig
from bert_tf.training.results import read_eval_results, read_submission

GLUE_CONFIGS = REPO_ROOT / "configs" / "glue"
MODEL_CONFIGS = REPO_ROOT / "configs" / "models"


def read_flagfile(path):
    flags = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line[2:].partition("=")
            flags[name] = value or "true"
    return flags


def test_one_recipe_per_glue_task_matching_the_runner():
    assert sorted(p.stem for p in GLUE_CONFIGS.glob("*.flags")) == sorted(glue.RECIPES)
    for key, (folder, epochs, why) in glue.RECIPES.items():
        flags = read_flagfile(GLUE_CONFIGS / f"{key}.flags")
        assert flags["task_name"] == folder
        assert float(flags["num_train_epochs"]) == epochs
        for name, value in glue.COMMON.items():
            assert float(flags[name]) == value, (key, name)
        assert flags["data_dir"].endswith(folder)
        assert {"do_train", "do_eval", "do_predict", "init_checkpoint", "output_dir"} <= set(flags)
        # A recipe that leaves the original's 3 epochs says why in its comment.
        text = (GLUE_CONFIGS / f"{key}.flags").read_text()
        assert (epochs != 3.0) == (why is not None) == ("Deviation:" in text), key


def test_flagfile_placeholders_are_overridden_by_later_flags(tiny_model, mrpc_dir, tmp_path):
    out = tmp_path / "out"
    run = run_ok([f"--flagfile={GLUE_CONFIGS / 'mrpc.flags'}", f"--data_dir={mrpc_dir}",
                  f"--init_checkpoint={tiny_model.init_checkpoint}", f"--output_dir={out}",
                  "--max_seq_length=32", "--train_batch_size=4", "--num_train_epochs=1"])
    assert read_eval_results(out / "eval_results.txt")["global_step"] == int(22 / 4)
    assert len(read_submission(out / "MRPC.tsv")) == 7
    assert "glue_data" not in run.stdout + run.stderr


NAME = re.compile(r"(multi_cased|chinese|uncased|cased)_L-(\d+)_H-(\d+)_A-(\d+)")
VOCAB = {"uncased": 30522, "cased": 28996, "multi_cased": 119547, "chinese": 21128}


def test_model_configs_are_the_released_ones():
    names = sorted(p.stem for p in MODEL_CONFIGS.glob("*.json"))
    small = {f"uncased_L-{L}_H-{H}_A-{H // 64}" for L in (2, 4, 6, 8, 10, 12)
             for H in (128, 256, 512, 768)}
    released = small | {"cased_L-12_H-768_A-12", "uncased_L-24_H-1024_A-16",
                        "cased_L-24_H-1024_A-16", "multi_cased_L-12_H-768_A-12",
                        "chinese_L-12_H-768_A-12"}
    assert set(names) == released and len(names) == 29
    for name in names:
        casing, layers, hidden, heads = NAME.fullmatch(name).groups()
        raw = json.loads((MODEL_CONFIGS / f"{name}.json").read_text())
        config = BertConfig.from_json_file(str(MODEL_CONFIGS / f"{name}.json"))
        assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (
            int(layers), int(hidden), int(heads))
        assert int(hidden) == 64 * int(heads) and config.intermediate_size == 4 * int(hidden)
        assert config.vocab_size == VOCAB[casing]
        assert (raw["hidden_act"], raw["max_position_embeddings"], raw["type_vocab_size"],
                raw["initializer_range"]) == ("gelu", 512, 2, 0.02)
        # Only the multilingual and Chinese releases carry the (ignored) pooler_* keys.
        assert ("pooler_type" in raw) == (casing in ("multi_cased", "chinese"))


def run_glue(args, timeout=2 * SCRIPT_TIMEOUT_S):
    return subprocess.run([sys.executable, "-m", "bert_tf.glue", *args], cwd=str(REPO_ROOT),
                          env=script_env(), text=True, capture_output=True, timeout=timeout)


def test_runner_runs_each_task_and_prints_one_table(tiny_model, mrpc_dir, tmp_path):
    import shutil

    glue_dir = tmp_path / "glue_data"
    shutil.copytree(mrpc_dir, glue_dir / "MRPC")
    rte = dict(GLUE_LAYOUTS["rte"])
    rte["train.tsv"] = rte["train.tsv"] + [["1", "Dana .", "Dana Reeve .", "entailment"]]
    write_layout(glue_dir / "RTE", rte)
    out = tmp_path / "out"
    proc = run_glue([f"--glue_dir={glue_dir}", f"--bert_dir={tiny_model.folder}",
                     "--tasks=MRPC,rte", f"--output_dir={out}", "--do_predict",
                     "--max_seq_length=32", "--train_batch_size=2", "--num_train_epochs=1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (out / "glue_results.txt").read_text()
    assert table in proc.stdout
    header, mrpc, rte = table.splitlines()
    assert header.split() == ["task", "metric", "value", "eval_loss", "steps"]
    mrpc_results = read_eval_results(out / "MRPC" / "eval_results.txt")
    assert mrpc.split() == ["MRPC", "F1/acc",
                            f"{100 * mrpc_results['eval_f1']:.1f}/"
                            f"{100 * mrpc_results['eval_accuracy']:.1f}",
                            f"{mrpc_results['eval_loss']:.4f}", "11"]
    assert rte.split()[:2] == ["RTE", "acc"] and rte.split()[-1] == "1"  # int(2 / 2 * 1 epoch)
    assert json.loads((out / "glue_results.json").read_text())["MRPC"]["global_step"] == 11
    assert len(read_submission(out / "MRPC" / "MRPC.tsv")) == 7
    assert read_submission(out / "RTE" / "RTE.tsv")[0][1] in {"entailment", "not_entailment"}


def test_runner_checks_every_task_before_training_any(tiny_model, mrpc_dir, tmp_path):
    import shutil

    glue_dir = tmp_path / "glue_data"
    shutil.copytree(mrpc_dir, glue_dir / "MRPC")
    out = tmp_path / "out"
    proc = run_glue([f"--glue_dir={glue_dir}", f"--bert_dir={tiny_model.folder}",
                     "--tasks=MRPC,RTE", f"--output_dir={out}"], timeout=SCRIPT_TIMEOUT_S)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(glue_dir / "RTE") in last, proc.stderr[-2000:]
    assert not out.exists()
    proc = run_glue([f"--glue_dir={glue_dir}", f"--bert_dir={tiny_model.folder}",
                     "--tasks=MRPC,XNLI", f"--output_dir={out}"], timeout=SCRIPT_TIMEOUT_S)
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --tasks: 'XNLI'")
    assert not out.exists()


@pytest.mark.parametrize("name,key", [("SST-2", "sst2"), ("sts-b", "stsb"), ("MNLI", "mnli")])
def test_task_names(name, key):
    assert glue.task_key(name) == key
