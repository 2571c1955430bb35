"""Fixtures for the tokenization tests: the hostile corpus and vocabularies built from it."""

import pytest

from conftest import write_vocab
from tokenization.hostile_corpus import build_vocab, hostile_corpus


@pytest.fixture(scope="session")
def corpus():
    return hostile_corpus()


@pytest.fixture(scope="session")
def minilm_vocab_file(minilm_dir):
    return str(minilm_dir / "vocab.txt")


@pytest.fixture(scope="session")
def cased_hostile_vocab_file(corpus, tmp_path_factory):
    """Cased vocab made of the corpus' own pieces (do_lower_case=False)."""
    path = tmp_path_factory.mktemp("cased_hostile") / "vocab.txt"
    return write_vocab(path, build_vocab(corpus, do_lower_case=False))


@pytest.fixture(scope="session")
def uncased_hostile_vocab_file(corpus, tmp_path_factory):
    """Uncased vocab of the corpus' lower-cased pieces, so sigma/accent/Unicode-14 pieces have
    ids of their own and any lowering difference shows up in the ids."""
    path = tmp_path_factory.mktemp("uncased_hostile") / "vocab.txt"
    return write_vocab(path, build_vocab(corpus, do_lower_case=True, seed=1))


@pytest.fixture(scope="session")
def long_token_vocab_file(corpus, tmp_path_factory):
    """Cased corpus vocab that also holds whole words of up to 800 UTF-8 bytes (200 x "é"):
    beyond FastWordpieceTokenizer's 256-byte limit, so the preprocessor must fall back."""
    path = tmp_path_factory.mktemp("long_tokens") / "vocab.txt"
    tokens = build_vocab(corpus, do_lower_case=False, max_token_bytes=800)
    return write_vocab(path, tokens + ["é" * 200, "##" + "b" * 199])
