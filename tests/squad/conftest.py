"""Fixtures for the run_squad.py tests: a tiny model folder whose vocabulary holds the words of
the SQuAD fixture, the fixture files, and memoised script runs (each costs seconds of CPU)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from squad.squad_builders import SQUAD_VOCAB, answer_at, qa, write_squad
from support.builders import write_vocab
from training.conftest import ScriptRun, script_env

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_SQUAD = REPO_ROOT / "run_squad.py"
SQUAD_TIMEOUT_S = 300

# Windows of 40 pieces with a stride of 8 and questions cut at 10: the long paragraph below
# spans several windows, and one answer sits where two windows overlap.
WINDOW_FLAGS = {"max_seq_length": 40, "doc_stride": 8, "max_query_length": 10}
# The v1.1 fixture has 9 questions: int(9 / 4 * 100) = 225 steps at batch 4 (the original's
# step count truncates).
EPOCHS = 100
V1_STEPS = int(9 / 4 * EPOCHS)

SHORT = "john smith was born in paris in 1895 ."
LONG = ("the man went to the store and bought a gallon of milk . the river seine flows through "
        "paris , the capital city of france . steve went to the cafe and bought a naive "
        "leader of japanese electronics . who is the largest ? x y z q w .")
CITY = "paris is the capital city of france and the seine flows through it ."


def v1_paragraphs():
    return [
        (SHORT, [qa("s1", "who was born in paris ?", [answer_at(SHORT, "john smith")]),
                 qa("s2", "what year was john smith born ?", [answer_at(SHORT, "1895")]),
                 qa("s3", "where was john born ?", [answer_at(SHORT, "paris")])]),
        (LONG, [qa("l1", "what did the man buy ?", [answer_at(LONG, "a gallon of milk")]),
                qa("l2", "what river flows through paris ?", [answer_at(LONG, "seine")]),
                qa("l3", "where did steve go ?", [answer_at(LONG, "the cafe")]),
                qa("l4", "who went to the store ?", [answer_at(LONG, "the man")])]),
        (CITY, [qa("c1", "what is the capital city of france ?", [answer_at(CITY, "paris")]),
                qa("c2", "what flows through paris ?", [answer_at(CITY, "the seine")])]),
    ]


def v2_paragraphs():
    paragraphs = v1_paragraphs()
    paragraphs[0][1].append(qa("s4", "who was born in japan ?", [], is_impossible=True))
    paragraphs[2][1].append(qa("c3", "what is the capital of japan ?", [], is_impossible=True))
    for _, questions in paragraphs:
        for q in questions:
            q.setdefault("is_impossible", False)
    return paragraphs


def make_squad_model(folder) -> Path:
    """A tiny bert_config.json and a vocab.txt of the fixture's words in `folder` (random
    initialisation: run_squad trains it from scratch)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_vocab(folder / "vocab.txt", SQUAD_VOCAB)
    config = {"vocab_size": len(SQUAD_VOCAB), "hidden_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
              "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02}
    (folder / "bert_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def squad_model(tmp_path_factory) -> Path:
    return make_squad_model(tmp_path_factory.mktemp("squad_model"))


@pytest.fixture(scope="session")
def squad_files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("squad_data")
    return {"v1": write_squad(folder / "v1.json", v1_paragraphs(), "1.1"),
            "v2": write_squad(folder / "v2.json", v2_paragraphs(), "v2.0")}


def squad_args(model: Path, output_dir, **overrides):
    """A run_squad.py command line for the fixture: train and predict on the same file."""
    flags = dict(vocab_file=model / "vocab.txt", bert_config_file=model / "bert_config.json",
                 output_dir=output_dir, do_train="true", do_predict="true",
                 train_batch_size=4, predict_batch_size=3, learning_rate="2e-3",
                 num_train_epochs=EPOCHS, warmup_proportion="0.1", save_checkpoints_steps=1000,
                 log_every_steps=10, deterministic="true", seed=7, **WINDOW_FLAGS)
    flags.update(overrides)
    return [f"--{k}={v}" for k, v in flags.items() if v is not None]


def run_squad_script(args, timeout=SQUAD_TIMEOUT_S) -> ScriptRun:
    started = time.time()
    proc = subprocess.run([sys.executable, str(RUN_SQUAD), *args], cwd=str(REPO_ROOT),
                          env=script_env(), text=True, capture_output=True, timeout=timeout)
    output_dir = next((Path(a.split("=", 1)[1]) for a in args if a.startswith("--output_dir=")),
                      None)
    return ScriptRun(list(args), proc.returncode, proc.stdout, proc.stderr, output_dir,
                     time.time() - started)


@pytest.fixture(scope="session")
def squad_runs(tmp_path_factory, squad_model, squad_files):
    """Memoised run_squad.py runs: get(key, version) trains and predicts once per session."""
    cache = {}

    def get(version="v1", **overrides):
        key = (version, tuple(sorted(overrides.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(f"squad_{version}")
            extra = {"train_file": squad_files[version], "predict_file": squad_files[version]}
            if version == "v2":
                extra["version_2_with_negative"] = "true"
            extra.update(overrides)
            run = run_squad_script(squad_args(squad_model, out, **extra))
            assert run.returncode == 0, run.describe()
            cache[key] = run
        return cache[key]

    return get
