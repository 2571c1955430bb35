"""Fixtures for the end-to-end tests of run_classifier.py, which run the script as a subprocess.

Subprocess runs cost seconds of CPU each, so the model folder, the MRPC fixture and the runs
that several tests read (`cached_run`) are built once per session and memoised.
"""

import dataclasses
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "run_classifier.py"
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
MRPC_TEST_HEADER = "index\t#1 ID\t#2 ID\t#1 String\t#2 String"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Sizes chosen so that the numbers are not round: int(22 / 4 * 3) = 16 train steps (the
# original truncates), 10 dev rows padded to 16 by eval_batch_size 8, 7 test rows padded to 8.
N_TRAIN, N_DEV, N_TEST = 22, 10, 7
MAX_SEQ = 32
TRAIN_BATCH = 4
# Steps of a readme_args run (3 epochs): the original's num_train_steps, 16.
README_STEPS = int(N_TRAIN / TRAIN_BATCH * 3.0)
# Test rows that repeat an earlier row word for word: their probabilities must repeat at the
# same line numbers of test_results.tsv, which a reordering would break.
TEST_DUPLICATES = {5: 0, 6: 2}

# Scripts get this long before a test gives up on them (a tiny run takes ~15 s on 2 busy cores).
SCRIPT_TIMEOUT_S = 240


@dataclasses.dataclass
class TinyModel:
    """A random tiny Google-format model folder (hidden 32, 2 layers)."""
    folder: Path
    config: dict

    @property
    def vocab_file(self) -> str:
        return str(self.folder / "vocab.txt")

    @property
    def bert_config_file(self) -> str:
        return str(self.folder / "bert_config.json")

    @property
    def init_checkpoint(self) -> str:
        return str(self.folder / "bert_model.ckpt")

    @property
    def nodrop_config_file(self) -> str:
        """A copy of the config without dropout (runs that must match across set-ups)."""
        return str(self.folder / "bert_config_nodrop.json")

    @property
    def words(self) -> List[str]:
        return [w for w in (self.folder / "vocab.txt").read_text().split("\n")
                if w and w not in SPECIALS]


@dataclasses.dataclass
class ScriptRun:
    args: List[str]
    returncode: int
    stdout: str
    stderr: str
    output_dir: Optional[Path]
    seconds: float

    def eval_results(self) -> Dict[str, object]:
        from bert_tf.training.results import read_eval_results
        return read_eval_results(self.output_dir / "eval_results.txt")

    def describe(self) -> str:
        """For assertion messages: what ran and what it said."""
        return (f"args: {' '.join(self.args)}\nrc={self.returncode}\n--- stdout (tail)\n"
                f"{self.stdout[-3000:]}\n--- stderr (tail)\n{self.stderr[-3000:]}")


def script_env(**extra) -> Dict[str, str]:
    """The test process's environment without distribution settings, quiet TF, plus `extra`."""
    env = dict(os.environ)
    for key in ("TF_CONFIG", "BERT_TF_LOGICAL_CPUS", "TPU_NAME"):
        env.pop(key, None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def _output_dir_of(args) -> Optional[Path]:
    for a in args:
        if a.startswith("--output_dir="):
            return Path(a.split("=", 1)[1])
    return None


def start_script(args, env=None, **popen_kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], cwd=str(REPO_ROOT),
                            env=env or script_env(), text=True, **popen_kwargs)


def run_script(args, env=None, timeout=SCRIPT_TIMEOUT_S) -> ScriptRun:
    """Runs run_classifier.py to the end; a run past `timeout` is killed and fails the test."""
    started = time.time()
    proc = start_script(args, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"run_classifier.py ran past {timeout} s: {' '.join(args)}\n{err[-3000:]}")
    return ScriptRun(list(args), proc.returncode, out, err, _output_dir_of(args),
                     time.time() - started)


def run_ok(args, env=None, timeout=SCRIPT_TIMEOUT_S) -> ScriptRun:
    run = run_script(args, env, timeout)
    assert run.returncode == 0, run.describe()
    return run


def kill_after_first_checkpoint(args, env=None, timeout=SCRIPT_TIMEOUT_S) -> int:
    """Starts a training run and SIGKILLs it as soon as a checkpoint is complete on disk.

    A checkpoint counts once the `checkpoint` state file names it (CheckpointManager writes
    that file last). Returns the step of that checkpoint.
    """
    output_dir = _output_dir_of(args)
    # stderr to a file: a pipe nobody reads could fill up and stall the run.
    log_path = output_dir.parent / "killed_run.stderr"
    with open(log_path, "w") as log:
        proc = start_script(args, env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + timeout
        try:
            while not ((output_dir / "checkpoint").exists()
                       and glob.glob(str(output_dir / "model.ckpt-*.index"))):
                if proc.poll() is not None:
                    pytest.fail(f"the run ended (rc={proc.returncode}) before a checkpoint "
                                f"appeared:\n{log_path.read_text()[-3000:]}")
                if time.time() > deadline:
                    pytest.fail(f"no checkpoint appeared within {timeout} s")
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended on its own before the kill"
    first_line = (output_dir / "checkpoint").read_text().splitlines()[0]
    return int(first_line.rsplit("-", 1)[1].rstrip('"'))


def free_ports(count: int) -> List[int]:
    """Ports free right now on 127.0.0.1 (all held open together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def readme_args(model: TinyModel, data_dir, output_dir, **overrides) -> List[str]:
    """The original README's MRPC command line (same flags, same order), tiny sizes.

    `overrides` replace a flag's value or add a flag (`name=None` drops it).
    """
    flags = {
        "task_name": "MRPC", "do_train": "true", "do_eval": "true", "data_dir": str(data_dir),
        "vocab_file": model.vocab_file, "bert_config_file": model.bert_config_file,
        "init_checkpoint": model.init_checkpoint, "max_seq_length": str(MAX_SEQ),
        "train_batch_size": str(TRAIN_BATCH), "learning_rate": "2e-5", "num_train_epochs": "3.0",
        "output_dir": str(output_dir),
    }
    for name, value in overrides.items():
        if value is None:
            flags.pop(name, None)
        else:
            flags[name] = str(value)
    return [f"--{name}={value}" for name, value in flags.items()]


def comparable_args(model: TinyModel, data_dir, output_dir, **extra) -> List[str]:
    """Runs meant to be compared with another: no dropout (config and
    --classifier_dropout=0), a learning rate that moves the weights, and a TensorBoard point
    every step."""
    return readme_args(model, data_dir, output_dir, bert_config_file=model.nodrop_config_file,
                       classifier_dropout=0, learning_rate="1e-3", log_every_steps=1, **extra)


def _sentence(rng, words):
    return " ".join(rng.choice(words) for _ in range(rng.randint(3, 9)))


def write_mrpc(folder: Path, words: List[str], seed: int = 0) -> Path:
    """An MRPC-layout data dir (train/dev/test.tsv) from `words` (all in the vocab)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", N_TRAIN), ("dev", N_DEV)):
        lines = [MRPC_HEADER]
        for i in range(count):
            lines.append(f"{i % 2}\t{1000 + i}\t{2000 + i}\t{_sentence(rng, words)}\t"
                         f"{_sentence(rng, words)}")
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = [(_sentence(rng, words), _sentence(rng, words)) for _ in range(N_TEST)]
    for row, source in TEST_DUPLICATES.items():
        pairs[row] = pairs[source]
    lines = [MRPC_TEST_HEADER] + [f"{i}\t{3000 + i}\t{4000 + i}\t{a}\t{b}"
                                  for i, (a, b) in enumerate(pairs)]
    (folder / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def read_tsv_rows(path: Path) -> List[List[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]


@pytest.fixture(scope="session")
def _session_cache():
    return {}


@pytest.fixture
def tiny_model(make_google_folder, tiny_config_dict, _session_cache) -> TinyModel:
    """The shared tiny model folder (built by the suite's `make_google_folder` on first use)."""
    if "model" not in _session_cache:
        folder, _ = make_google_folder(tiny_config_dict, name="run_classifier_model")
        nodrop = dict(tiny_config_dict, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        (folder / "bert_config_nodrop.json").write_text(json.dumps(nodrop))
        _session_cache["model"] = TinyModel(folder, dict(tiny_config_dict))
    return _session_cache["model"]


@pytest.fixture
def mrpc_dir(tiny_model, tmp_path_factory, _session_cache) -> Path:
    """The shared MRPC fixture folder (read-only for tests: copy it before changing files)."""
    if "mrpc" not in _session_cache:
        _session_cache["mrpc"] = write_mrpc(tmp_path_factory.mktemp("mrpc"), tiny_model.words)
    return _session_cache["mrpc"]


@pytest.fixture
def cached_run(tmp_path_factory, _session_cache):
    """cached_run(key, make_args, env=None) -> ScriptRun: runs the script once per session per key.

    `make_args(output_dir)` gives the flags. Tests must not write into a cached run's output_dir
    (copy it first): other tests read it.
    """

    def get(key, make_args, env=None):
        runs = _session_cache.setdefault("runs", {})
        if key not in runs:
            output_dir = tmp_path_factory.mktemp(key) / "out"
            runs[key] = run_ok(make_args(output_dir), env=env)
        return runs[key]

    return get


@pytest.fixture
def one_device_run(cached_run, tiny_model, mrpc_dir):
    """`comparable_args` on one device, float32: the reference of the strategy and precision
    tests, run once per session."""
    return cached_run("one_device_nodrop", lambda out: comparable_args(
        tiny_model, mrpc_dir, out, distribution_strategy="one_device"))


def copy_output(run: ScriptRun, dest: Path) -> Path:
    shutil.copytree(run.output_dir, dest)
    return dest


def read_events(folder: Path) -> Dict[str, list]:
    """{tag: [(step, plugin_name, value_proto)]} from the event files directly in `folder`."""
    import tensorflow as tf

    found = {}
    for path in sorted(glob.glob(os.path.join(str(folder), "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, value.metadata.plugin_data.plugin_name, value))
    return found


def scalar_series(folder: Path, tag: str) -> Dict[int, float]:
    """{step: value} of one scalar tag in `folder`'s event files."""
    import tensorflow as tf

    return {step: float(tf.make_ndarray(value.tensor))
            for step, _, value in read_events(folder).get(tag, [])}
