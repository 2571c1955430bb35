"""BasicTokenizer: cleaning, CJK spacing, lower-casing, accent stripping, punctuation splitting.

Same output as the original `BasicTokenizer`, step by step:
  1. drop U+0000, U+FFFD and control characters (Cc, Cf; \\t \\n \\r are whitespace);
  2. turn whitespace (space, \\t, \\n, \\r, Zs) into a space;
  3. put spaces around CJK ideographs;
  4. split on whitespace (`str.split()`);
  5. if lower-casing, per word: `str.lower()` (per word, so a word-final capital sigma becomes
     "ς"), then NFD and drop category Mn (accents);
  6. split every punctuation character off as its own token.
Character classes come from `char_classes`, turned into `str.translate` tables and `re` classes
(built once per process) instead of a Python loop per character.

Example:
    >>> BasicTokenizer(do_lower_case=True).tokenize(" \\tHeLLo!how  \\n Are yoU?  ")
    ['hello', '!', 'how', 'are', 'you', '?']
"""

import functools
import re
import unicodedata

from bert_tf.tokenization import char_classes as cc
from bert_tf.tokenization.text import convert_to_unicode


def whitespace_tokenize(text):
    """Splits on whitespace as `str.split()` does (leading/trailing whitespace ignored)."""
    return text.split()


@functools.lru_cache(maxsize=None)
def _tables():
    # clean: dropped characters -> deleted, whitespace -> " " (the two classes are disjoint).
    clean = {cp: None for cp in cc.code_points(cc.is_dropped)}
    clean.update({cp: " " for cp in cc.code_points(cc.is_whitespace)})
    strip_marks = {cp: None for cp in cc.code_points(cc.is_nonspacing_mark)}
    cjk = re.compile("(" + cc.python_regex_class(cc.cjk_code_points()) + ")")
    punct = re.compile("(" + cc.python_regex_class(cc.code_points(cc.is_punctuation)) + ")")
    return clean, strip_marks, cjk, punct


def strip_accents(text):
    """NFD, then drop every nonspacing mark (category Mn)."""
    if text.isascii():  # ASCII has neither decompositions nor marks.
        return text
    return unicodedata.normalize("NFD", text).translate(_tables()[1])


class BasicTokenizer:
    """Splits text into words and punctuation the way the original BERT does.

    Args:
        do_lower_case: lower-case and strip accents (uncased models) or not (cased models).

    Example:
        >>> BasicTokenizer(do_lower_case=False).tokenize("HäLLo!how")
        ['HäLLo', '!', 'how']
    """

    def __init__(self, do_lower_case=True):
        self.do_lower_case = do_lower_case

    def tokenize(self, text):
        """`str` (or UTF-8 bytes) -> list of word/punctuation tokens."""
        clean, _, cjk, punct = _tables()
        text = convert_to_unicode(text).translate(clean)
        text = cjk.sub(r" \1 ", text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.do_lower_case:
                token = strip_accents(token.lower())
            # re.split with a capturing group keeps each punctuation character as a piece.
            split_tokens.extend(piece for piece in punct.split(token) if piece)
        # Re-split in case lower()/NFD produced whitespace (as the original does).
        return whitespace_tokenize(" ".join(split_tokens))
