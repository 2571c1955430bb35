"""Character classes of the original BERT tokenizer, as predicates and as code-point tables.

The predicates (`is_whitespace`, `is_control`, `is_punctuation`, `is_chinese_char`) are the
definitions; everything else here is derived from them by evaluating them over every code point,
so the Python tokenizer (str.translate tables, `re` classes) and the in-graph one (RE2 classes)
classify every character the same way by construction, with this Python's `unicodedata`.

Example:
    >>> is_punctuation("$"), is_control("\\u200b"), is_whitespace("\\u3000")
    (True, True, True)
    >>> print(regex_class([0x41, 0x42, 0x43, 0x5F]))
    [\\x{41}-\\x{43}\\x{5f}]
"""

import functools
import unicodedata

# CJK Unified Ideographs blocks (+ compatibility ideographs) that get spaces around them.
# Hangul, Hiragana and Katakana are deliberately absent: those scripts separate words by spaces.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

MAX_CODE_POINT = 0x10FFFF


def is_whitespace(char):
    """Space, \\t, \\n, \\r or any category Zs character (these become a plain space)."""
    if char in " \t\n\r":
        return True
    return unicodedata.category(char) == "Zs"


def is_control(char):
    """Category Cc or Cf, except \\t \\n \\r which count as whitespace (these are dropped)."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def is_punctuation(char):
    """Every non-alphanumeric printable ASCII character, or any category P* character."""
    cp = ord(char)
    # "$", "^", "`" etc. are not Unicode punctuation but the original splits them off too.
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_chinese_char(char):
    """True for a character in one of the CJK ideograph ranges (`CJK_RANGES`)."""
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def is_dropped(char):
    """Characters `_clean_text` removes: NUL, U+FFFD and controls."""
    return char in ("\x00", "\ufffd") or is_control(char)


def is_nonspacing_mark(char):
    """Category Mn: what accent stripping removes after NFD."""
    return unicodedata.category(char) == "Mn"


def splits_words(char):
    """Characters that end a word: `is_whitespace`, or what `str.split()` splits on.

    `whitespace_tokenize` uses `str.split()`, which also splits on a few characters that
    `is_whitespace` does not map to a space (U+2028, U+2029; the others are controls and dropped).
    """
    return not is_dropped(char) and (is_whitespace(char) or char.isspace())


@functools.lru_cache(maxsize=None)
def assigned_code_points():
    """Code points that are neither unassigned (Cn), private use (Co) nor surrogates (Cs)."""
    return tuple(
        cp
        for cp in range(MAX_CODE_POINT + 1)
        if unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs")
    )


@functools.lru_cache(maxsize=None)
def code_points(predicate):
    """All code points for which `predicate(chr(cp))` holds, ascending.

    Only assigned code points are tried (1/8 of the range, so this stays well under a second):
    every category-based predicate above is False on Cn/Co, which tests check exhaustively.
    `is_chinese_char` is range-based (the ranges include unassigned code points): use
    `cjk_code_points()` for it.
    """
    return tuple(cp for cp in assigned_code_points() if predicate(chr(cp)))


def cjk_code_points():
    """Every code point in `CJK_RANGES`, assigned or not, ascending."""
    return tuple(cp for lo, hi in sorted(CJK_RANGES) for cp in range(lo, hi + 1))


def to_ranges(cps):
    """Sorted code points -> list of inclusive (first, last) runs."""
    ranges = []
    for cp in cps:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return [tuple(r) for r in ranges]


def regex_class(cps):
    """An RE2 character class `[...]` matching exactly `cps` (RE2 `\\x{...}` escapes)."""
    parts = []
    for lo, hi in to_ranges(cps):
        parts.append("\\x{%x}" % lo if lo == hi else "\\x{%x}-\\x{%x}" % (lo, hi))
    return "[" + "".join(parts) + "]"


def python_regex_class(cps):
    """The same class for Python's `re` (which spells code points `\\U0010ffff`)."""
    parts = []
    for lo, hi in to_ranges(cps):
        parts.append("\\U%08x" % lo if lo == hi else "\\U%08x-\\U%08x" % (lo, hi))
    return "[" + "".join(parts) + "]"
