"""FullTokenizer: BasicTokenizer then WordpieceTokenizer, plus token <-> id conversion.

`do_lower_case=None` guesses the casing from the folder holding the vocab file, as the original
guesses it from the checkpoint folder (`uncased_*` -> True, `cased_*` -> False, unknown -> True);
an explicit value that contradicts the folder name is used but logged as a warning.

Example:
    >>> tok = FullTokenizer("uncased_L-12_H-768_A-12/vocab.txt")  # doctest: +SKIP
    >>> tok.tokenize("UNwant\\u00E9d,running")  # doctest: +SKIP
    ['un', '##want', '##ed', ',', 'runn', '##ing']
"""

from absl import logging

from bert_tf.tokenization import casing
from bert_tf.tokenization.basic_tokenizer import BasicTokenizer
from bert_tf.tokenization.vocab import load_vocab
from bert_tf.tokenization.wordpiece_tokenizer import WordpieceTokenizer


def convert_by_vocab(mapping, items, what="token"):
    """Maps each item through `mapping`; an unknown item is a KeyError naming it."""
    try:
        return [mapping[item] for item in items]
    except KeyError as e:
        raise KeyError(f"{what} {e.args[0]!r} is not in the vocabulary") from None


class FullTokenizer:
    """End-to-end WordPiece tokenizer with the original BERT semantics.

    Args:
        vocab_file: path to `vocab.txt` (see `load_vocab` for the checks).
        do_lower_case: True for uncased models, False for cased ones, None to infer it from the
            vocab file's folder name (default True when the name says nothing).

    Attributes:
        vocab: OrderedDict token -> id.
        inv_vocab: dict id -> token.
        do_lower_case: the casing in effect.
    """

    def __init__(self, vocab_file, do_lower_case=None):
        inferred = casing.infer_do_lower_case(vocab_file)
        if do_lower_case is None:
            do_lower_case = True if inferred is None else inferred
        else:
            warning = casing.mismatch_message(do_lower_case, vocab_file)
            if warning:
                logging.warning(warning)
        self.do_lower_case = bool(do_lower_case)
        self.vocab_file = str(vocab_file)
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {index: token for token, index in self.vocab.items()}
        self.basic_tokenizer = BasicTokenizer(do_lower_case=self.do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

    def tokenize(self, text):
        """`str` (or UTF-8 bytes) -> list of WordPiece tokens."""
        pieces = []
        for word in self.basic_tokenizer.tokenize(text):
            pieces.extend(self.wordpiece_tokenizer.tokenize_word(word))
        return pieces

    def convert_tokens_to_ids(self, tokens):
        return convert_by_vocab(self.vocab, tokens, "token")

    def convert_ids_to_tokens(self, ids):
        return convert_by_vocab(self.inv_vocab, ids, "id")
