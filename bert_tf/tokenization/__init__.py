"""Google-exact WordPiece tokenization: Python (`FullTokenizer`) and in-graph (`BertPreprocessor`).

Both give the ids of the original google-research/bert `tokenization.py`; `packing` turns
tokens into the fixed-length features of the original `run_classifier.py`.

The in-graph modules import TensorFlow and tf-text, so they are loaded on first use of
`BertPreprocessor` / `GraphBasicTokenizer` only; the Python tokenizer does not need them.

Example:
    >>> from bert_tf.tokenization import FullTokenizer, InputExample, convert_single_example
    >>> tok = FullTokenizer("uncased_L-12_H-768_A-12/vocab.txt")  # doctest: +SKIP
    >>> example = InputExample("dev-1", "Hi!", label="1")
    >>> convert_single_example(example, {"0": 0, "1": 1}, 8, tok)  # doctest: +SKIP
"""

from bert_tf.tokenization.basic_tokenizer import BasicTokenizer, whitespace_tokenize
from bert_tf.tokenization.casing import infer_do_lower_case, validate_case_matches_checkpoint
from bert_tf.tokenization.char_classes import (
    is_chinese_char,
    is_control,
    is_punctuation,
    is_whitespace,
)
from bert_tf.tokenization.examples import InputExample, InputFeatures
from bert_tf.tokenization.full_tokenizer import FullTokenizer, convert_by_vocab
from bert_tf.tokenization.packing import (
    convert_single_example,
    pack_tokens,
    truncate_seq_pair,
    truncated_lengths,
)
from bert_tf.tokenization.text import TextDecodeError, convert_to_unicode
from bert_tf.tokenization.vocab import REQUIRED_TOKENS, VocabError, load_vocab
from bert_tf.tokenization.wordpiece_tokenizer import WordpieceTokenizer

_LAZY = {
    "BertPreprocessor": "bert_tf.tokenization.preprocessor",
    "GraphBasicTokenizer": "bert_tf.tokenization.graph_basic_tokenizer",
}


def __getattr__(name):
    # TensorFlow costs seconds to import; only the in-graph classes need it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BasicTokenizer",
    "BertPreprocessor",
    "FullTokenizer",
    "GraphBasicTokenizer",
    "InputExample",
    "InputFeatures",
    "REQUIRED_TOKENS",
    "TextDecodeError",
    "VocabError",
    "WordpieceTokenizer",
    "convert_by_vocab",
    "convert_single_example",
    "convert_to_unicode",
    "infer_do_lower_case",
    "is_chinese_char",
    "is_control",
    "is_punctuation",
    "is_whitespace",
    "load_vocab",
    "pack_tokens",
    "truncate_seq_pair",
    "truncated_lengths",
    "validate_case_matches_checkpoint",
    "whitespace_tokenize",
]
