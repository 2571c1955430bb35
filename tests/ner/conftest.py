"""Fixtures for the run_ner.py tests: a tiny random model whose vocabulary holds the fixture's
words, CoNLL files written from templates (names are PER, places LOC, companies ORG), and
memoised script runs (each costs seconds of CPU)."""

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.builders import write_vocab
from training.conftest import ScriptRun, script_env

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_NER = REPO_ROOT / "run_ner.py"
NER_TIMEOUT_S = 300

PERSONS = [["john", "smith"], ["mary"], ["peter", "jones"], ["anna"], ["li", "wei"]]
PLACES = [["paris"], ["new", "york"], ["berlin"], ["tokyo"]]
COMPANIES = [["acme", "corp"], ["globex"], ["initech"]]
FILLERS = ["visited", "met", "joined", "left", "in", "at", "with", "the", "on", "monday",
           "yesterday", "and", "said", "."]
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
         + sorted({w for group in (PERSONS, PLACES, COMPANIES) for name in group for w in name})
         + FILLERS)
# 20 training sentences at batch 4 for 30 epochs: int(20 / 4 * 30) = 150 steps.
N_TRAIN, N_DEV, N_TEST = 20, 8, 6
EPOCHS = 30
STEPS = int(N_TRAIN / 4 * EPOCHS)
MAX_SEQ = 16  # the long sentences below need several windows


def _entity(words, entity_type):
    return [(w, ("B-" if i == 0 else "I-") + entity_type) for i, w in enumerate(words)]


def make_sentences(count, seed, long_every=5):
    """`count` tagged sentences; every `long_every`-th one is long enough to need windows."""
    rng = random.Random(seed)
    sentences = []
    for index in range(count):
        tokens = _entity(rng.choice(PERSONS), "PER") + [(rng.choice(["visited", "left"]), "O")]
        tokens += _entity(rng.choice(PLACES), "LOC")
        if index % 2:
            tokens += [("with", "O")] + _entity(rng.choice(COMPANIES), "ORG")
        if long_every and index % long_every == long_every - 1:
            for _ in range(3):
                tokens += [("and", "O")] + _entity(rng.choice(PERSONS), "PER") + \
                    [("met", "O")] + _entity(rng.choice(PLACES), "LOC")
        tokens.append((".", "O"))
        sentences.append(tokens)
    return sentences


def write_conll(path, sentences, docstart=True):
    """CoNLL-2003 layout: WORD POS TAG, -DOCSTART- first, a blank line after each sentence."""
    lines = ["-DOCSTART- -X- O", ""] if docstart else []
    for sentence in sentences:
        lines += [f"{word} NN {tag}" for word, tag in sentence] + [""]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_ner_model(folder) -> Path:
    """A tiny bert_config.json and a vocab.txt of the fixture's words in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_vocab(folder / "vocab.txt", VOCAB)
    config = {"vocab_size": len(VOCAB), "hidden_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
              "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02}
    (folder / "bert_config.json").write_text(json.dumps(config))
    return folder


def write_ner_data(folder) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_conll(folder / "train.txt", make_sentences(N_TRAIN, 1))
    write_conll(folder / "dev.txt", make_sentences(N_DEV, 2))
    write_conll(folder / "test.txt", make_sentences(N_TEST, 3))
    return folder


@pytest.fixture(scope="session")
def ner_model(tmp_path_factory) -> Path:
    return make_ner_model(tmp_path_factory.mktemp("ner_model"))


@pytest.fixture(scope="session")
def ner_data(tmp_path_factory) -> Path:
    return write_ner_data(tmp_path_factory.mktemp("conll"))


def ner_args(model: Path, data_dir, output_dir, **overrides):
    flags = dict(data_dir=data_dir, vocab_file=model / "vocab.txt",
                 bert_config_file=model / "bert_config.json", output_dir=output_dir,
                 do_train="true", do_eval="true", do_predict="true", max_seq_length=MAX_SEQ,
                 train_batch_size=4, eval_batch_size=4, predict_batch_size=3,
                 learning_rate="3e-3", num_train_epochs=EPOCHS, log_every_steps=25,
                 save_checkpoints_steps=1000, deterministic="true", seed=3,
                 classifier_dropout=0.0)
    flags.update(overrides)
    return [f"--{k}={v}" for k, v in flags.items() if v is not None]


def run_ner_script(args, timeout=NER_TIMEOUT_S) -> ScriptRun:
    started = time.time()
    proc = subprocess.run([sys.executable, str(RUN_NER), *args], cwd=str(REPO_ROOT),
                          env=script_env(), text=True, capture_output=True, timeout=timeout)
    output_dir = next((Path(a.split("=", 1)[1]) for a in args if a.startswith("--output_dir=")),
                      None)
    return ScriptRun(list(args), proc.returncode, proc.stdout, proc.stderr, output_dir,
                     time.time() - started)


@pytest.fixture(scope="session")
def ner_run(tmp_path_factory, ner_model, ner_data):
    """One training + eval + predict run, shared by the tests that read its outputs."""
    out = tmp_path_factory.mktemp("ner_run")
    run = run_ner_script(ner_args(ner_model, ner_data, out))
    assert run.returncode == 0, run.describe()
    return run
