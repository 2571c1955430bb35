"""Making TF's Unicode lower-casing and NFD agree with Python's, character for character.

The in-graph tokenizer lower-cases with `tf.strings.lower` (ICU) and decomposes with
`tf_text.normalize_utf8` (another ICU build). Their Unicode versions differ from the one in
Python's `unicodedata` (14.0 for Python 3.11), so a few dozen recent characters (Vithkuqi, ...)
lower-case or decompose differently. Two fixes, both derived at run time from this Python and
this TF, so they follow whichever versions are installed:

  * `final_sigma_tables`: the case-ignorable / cased code points as Python sees them, so the graph
    can decide "Σ" -> "σ"/"ς" itself (Python's Final_Sigma rule) before ICU ever sees it;
  * `lowering_fixups`: every character whose lower -> NFD -> drop-Mn result differs between TF
    and Python, each with a placeholder (a control character, so it cannot survive cleaning in
    real text) that passes through TF's ops untouched and is then replaced by Python's result.

Example:
    >>> fixups = lowering_fixups()  # doctest: +SKIP
    >>> fixups.results["\\U00010570"]  # Vithkuqi capital A; TF's lower keeps it  # doctest: +SKIP
    '\\U00010597'
"""

import collections
import functools
import unicodedata

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.tokenization import char_classes as cc

CAPITAL_SIGMA = "\u03a3"
# Planes with assigned characters; 4-13 are unassigned and 15-16 are private use in every
# Unicode version so far, so no lower-casing or decomposition can differ there.
_SCANNED_PLANES = ((0x0, 0x3FFFF), (0xE0000, 0xEFFFF))
# Case_Ignorable = Mn | Me | Cf | Lm | Sk | Word_Break in {MidLetter, MidNumLet, Single_Quote};
# the latter are all in Po/Pi/Pf. Only these categories can hold case-ignorable characters.
_IGNORABLE_CANDIDATE_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Lm", "Sk", "Po", "Pi", "Pf"})

Fixups = collections.namedtuple("Fixups", ["placeholders", "results"])
Fixups.__doc__ = """Per-character patches: `placeholders[char]` and `results[char]` (Python's
lower -> NFD -> drop-Mn output for `char`)."""


def _python_is_case_ignorable(char):
    # CPython has no public API for the property: probe its own Final_Sigma logic, which
    # skips case-ignorable characters in both directions. "ΑΣc" ends in "ς" iff c is skipped
    # or uncased; "ΑΣcΑ" ends in "σ" iff c is skipped or cased.
    return ("ΑΣ" + char).lower()[1] == "ς" and ("ΑΣ" + char + "Α").lower()[1] == "σ"


def _python_is_cased(char):
    return char.islower() or char.isupper() or char.istitle()


@functools.lru_cache(maxsize=None)
def final_sigma_tables():
    """(ignorable_ranges, cased_ranges): int32 arrays [n, 2] of inclusive code-point ranges."""
    assigned = cc.assigned_code_points()
    ignorable = [
        cp
        for cp in assigned
        if unicodedata.category(chr(cp)) in _IGNORABLE_CANDIDATE_CATEGORIES
        and _python_is_case_ignorable(chr(cp))
    ]
    cased = [cp for cp in assigned if _python_is_cased(chr(cp))]
    as_array = lambda cps: np.array(cc.to_ranges(cps), np.int32).reshape(-1, 2)
    return as_array(ignorable), as_array(cased)


def python_lowering(text):
    """What the original does to a word when lower-casing: lower(), NFD, drop Mn."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if not cc.is_nonspacing_mark(c))


def graph_lowering(strings):
    """The same three steps with TF ops (the plain path of `GraphBasicTokenizer`)."""
    strings = tf.strings.lower(strings, encoding="utf-8")
    strings = tf_text.normalize_utf8(strings, "NFD")
    return tf.strings.regex_replace(strings, _mark_class(), "")


@functools.lru_cache(maxsize=None)
def _mark_class():
    return cc.regex_class(cc.code_points(cc.is_nonspacing_mark))


@functools.lru_cache(maxsize=None)
def lowering_fixups():
    """Characters whose lowering differs between TF and Python, with their patches.

    Scans every code point that can reach the lowering step (not dropped, not whitespace, not
    "Σ", which is resolved beforehand) once per process (about half a second).
    """
    dropped = set(cc.code_points(cc.is_dropped))
    word_breaks = set(cc.code_points(cc.splits_words))
    candidates = [
        cp
        for lo, hi in _SCANNED_PLANES
        for cp in range(lo, hi + 1)
        if not 0xD800 <= cp <= 0xDFFF
        and cp not in dropped
        and cp not in word_breaks
        and cp != ord(CAPITAL_SIGMA)
    ]
    chars = [chr(cp) for cp in candidates]
    lowered = graph_lowering(tf.constant([c.encode("utf-8") for c in chars])).numpy()
    results = {}
    for char, got in zip(chars, lowered):
        expected = python_lowering(char)
        if got.decode("utf-8") != expected:
            results[char] = expected
    # Placeholders: dropped characters (so absent from cleaned text) that TF's lowering keeps.
    pool = [chr(cp) for cp in sorted(dropped) if cp not in (0, 0xFFFD)]
    kept = graph_lowering(tf.constant([c.encode("utf-8") for c in pool])).numpy()
    pool = [c for c, k in zip(pool, kept) if k.decode("utf-8") == c]
    if len(pool) < len(results):
        raise RuntimeError(
            f"{len(results)} characters lower-case differently in TF and Python, "
            f"more than the {len(pool)} placeholders available"
        )
    placeholders = dict(zip(sorted(results), pool))
    return Fixups(placeholders=placeholders, results=results)
