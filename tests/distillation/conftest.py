"""Fixtures for the run_distillation.py tests: a tiny fine-tuned-classifier folder to teach (4
layers, MRPC labels), the MRPC fixture of tests/training, and runs of the script as a
subprocess (memoised where several tests read one run)."""

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
import training.conftest as training_conftest
from support.builders import TINY_CONFIG, google_names_and_shapes, write_tf1_checkpoint
from training.conftest import (MAX_SEQ, REPO_ROOT, TRAIN_BATCH, kill_after_first_checkpoint,
                               run_script)
# run_classifier fixtures: the tiny model's vocabulary and the MRPC data written from it.
from training.conftest import _session_cache, mrpc_dir, tiny_model  # noqa: F401

DISTILL_SCRIPT = REPO_ROOT / "run_distillation.py"
TEACHER_LAYERS = 4
TEACHER_CONFIG = dict(TINY_CONFIG, num_hidden_layers=TEACHER_LAYERS)
TEACHER_INFO = {"do_lower_case": True, "labels": ["0", "1"], "max_seq_length": MAX_SEQ,
                "num_segments": 2, "pooling": "cls", "task_name": "mrpc"}


@contextlib.contextmanager
def _running_distillation():
    """training.conftest's script runners, pointed at run_distillation.py."""
    previous = training_conftest.SCRIPT
    training_conftest.SCRIPT = DISTILL_SCRIPT
    try:
        yield
    finally:
        training_conftest.SCRIPT = previous


def run_distill(args, env=None, timeout=training_conftest.SCRIPT_TIMEOUT_S):
    with _running_distillation():
        return run_script(args, env=env, timeout=timeout)


def run_distill_ok(args, env=None):
    run = run_distill(args, env)
    assert run.returncode == 0, run.describe()
    return run


def kill_distill_after_first_checkpoint(args) -> int:
    with _running_distillation():
        return kill_after_first_checkpoint(args)


def write_teacher(folder: Path, vocab_file: Path, seed=5, info=None, config=None,
                  num_labels=2) -> Path:
    """A fine-tuned-classifier Google folder (random weights) with classifier_info.json."""
    config = config or TEACHER_CONFIG
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    table = google_names_and_shapes(config, with_pretraining_heads=False, num_labels=num_labels)
    arrays = {n: (rng.standard_normal(s) * 0.3).astype(np.float32) for n, s in table.items()}
    for name in arrays:
        if name.endswith("/gamma"):
            arrays[name] += 1.0
    write_tf1_checkpoint(str(folder / "bert_model.ckpt"), arrays, with_optimizer_slots=False)
    (folder / "bert_config.json").write_text(json.dumps(config))
    (folder / "vocab.txt").write_bytes(Path(vocab_file).read_bytes())
    (folder / "classifier_info.json").write_text(json.dumps(info or TEACHER_INFO))
    return folder


@pytest.fixture
def teacher_dir(tiny_model, tmp_path_factory, _session_cache) -> Path:  # noqa: F811
    """The shared 4-layer teacher folder (read-only for tests)."""
    if "teacher" not in _session_cache:
        root = tmp_path_factory.mktemp("teacher")
        _session_cache["teacher"] = write_teacher(root / "final_model", tiny_model.vocab_file)
    return _session_cache["teacher"]


def distill_args(teacher, data_dir, output_dir, **overrides):
    """A run_distillation.py command line on the MRPC fixture (3 epochs of batch 4)."""
    flags = {
        "teacher_model": str(teacher), "student_layers": "2", "task_name": "MRPC",
        "data_dir": str(data_dir), "do_train": "true", "do_eval": "true",
        "train_batch_size": str(TRAIN_BATCH), "learning_rate": "1e-3",
        "num_train_epochs": "3.0", "output_dir": str(output_dir),
    }
    for name, value in overrides.items():
        if value is None:
            flags.pop(name, None)
        else:
            flags[name] = str(value)
    return [f"--{name}={value}" for name, value in flags.items()]


@pytest.fixture
def distill_runs(tmp_path_factory, _session_cache):  # noqa: F811
    """distill_runs(key, make_args) -> ScriptRun: runs the script once per session per key."""

    def get(key, make_args):
        runs = _session_cache.setdefault("distill_runs", {})
        if key not in runs:
            output_dir = tmp_path_factory.mktemp(key) / "out"
            runs[key] = run_distill_ok(make_args(output_dir))
        return runs[key]

    return get
