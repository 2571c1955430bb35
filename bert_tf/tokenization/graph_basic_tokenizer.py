"""The BasicTokenizer as TF ops: strings [batch] -> words RaggedTensor [batch, (words)].

Pure TF / tf-text ops (usable in `tf.data`, `tf.function` and SavedModels) that give the same
words as `BasicTokenizer`:
  1. reject invalid UTF-8 as Python's strict decoder does (`TextDecodeError` on that side): RE2
     fails to match malformed sequences, and the one class it would accept, encoded
     surrogates, is excluded by name;
  2. delete NUL, U+FFFD and Cc/Cf controls (one RE2 replace with a class built from
     `char_classes`, so the classification is Python's);
  3. lower-casing only: resolve capital sigma by Python's Final_Sigma rule, lower-case with ICU,
     NFD, delete Mn; the characters where ICU and Python disagree go through placeholders
     (`graph_unicode`). Lower-casing the whole string equals lower-casing each word: whitespace
     is neither cased nor case-ignorable, so it bounds the sigma context exactly like a split;
  4. non-ASCII separators (Zs, U+2028/9) become a space, every punctuation and CJK character
     gets a space on each side, and `tf.strings.split` splits on ASCII whitespace. That equals
     the original's CJK spacing + split + punctuation split: CJK characters are uncased
     starters, so spacing them after step 3 instead of before changes nothing.

Example:
    >>> tokenizer = GraphBasicTokenizer(do_lower_case=True)
    >>> [w.decode() for w in tokenizer(tf.constant(["ΟΔΟΣ, 中文!"]))[0].numpy()]  # doctest: +SKIP
    ['οδος', ',', '中', '文', '!']
"""

import tensorflow as tf
from bert_tf.tokenization import char_classes as cc
from bert_tf.tokenization import graph_unicode

_SIGMA, _SMALL_SIGMA, _FINAL_SIGMA = 0x3A3, 0x3C3, 0x3C2


def _in_ranges(cps, ranges):
    """cps int32 [n], ranges numpy [r, 2] inclusive and sorted -> bool [n]."""
    lo = tf.constant(ranges[:, 0])
    hi = tf.constant(ranges[:, 1])
    index = tf.searchsorted(lo, cps, side="right") - 1  # last range starting at or before cp
    return (index >= 0) & (cps <= tf.gather(hi, tf.maximum(index, 0)))


def _literal(char):
    return "\\x{%x}" % ord(char)


def _rewrite(text):
    return text.replace("\\", "\\\\")  # RE2 rewrite strings treat "\" as an escape


class GraphBasicTokenizer:
    """In-graph twin of `BasicTokenizer`.

    Args:
        do_lower_case: lower-case, NFD and strip accents (uncased models) or not.

    Call with a string tensor [batch]; returns a string RaggedTensor [batch, (words)].
    """

    def __init__(self, do_lower_case=True):
        self.do_lower_case = bool(do_lower_case)
        self._drop = cc.regex_class(cc.code_points(cc.is_dropped))
        # ASCII whitespace is left to tf.strings.split; only the rare others need replacing.
        self._other_spaces = cc.regex_class(
            [cp for cp in cc.code_points(cc.splits_words) if cp > 0x7F]
        )
        alone = sorted(set(cc.code_points(cc.is_punctuation)) | set(cc.cjk_code_points()))
        self._alone = "(" + cc.regex_class(alone) + ")"
        if self.do_lower_case:
            self._ignorable, self._cased = graph_unicode.final_sigma_tables()
            self._fixups = graph_unicode.lowering_fixups()
            special = [ord(graph_unicode.CAPITAL_SIGMA)] + [ord(c) for c in self._fixups.results]
            self._needs_care = "(?s).*" + cc.regex_class(sorted(special)) + ".*"

    def __call__(self, strings):
        strings = tf.convert_to_tensor(strings, tf.string)
        strings = self._check_utf8(strings)
        strings = tf.strings.regex_replace(strings, self._drop, "")
        if self.do_lower_case:
            strings = self._lower(strings)
        strings = tf.strings.regex_replace(strings, self._other_spaces, " ")
        strings = tf.strings.regex_replace(strings, self._alone, " \\1 ")
        return tf.strings.split(strings)  # ASCII whitespace runs; no empty words

    def _check_utf8(self, strings):
        valid = tf.strings.regex_full_match(strings, "(?s)[^\\x{d800}-\\x{dfff}]*")
        check = tf.debugging.Assert(
            tf.reduce_all(valid),
            ["input text is not valid UTF-8:", tf.boolean_mask(strings, ~valid)],
            summarize=1,
        )
        with tf.control_dependencies([check]):
            return tf.identity(strings)

    def _lower(self, strings):
        # Batches without "Σ" or a patched character (nearly all) take the plain ICU path.
        needs_care = tf.reduce_any(tf.strings.regex_full_match(strings, self._needs_care))
        return tf.cond(
            needs_care,
            lambda: self._lower_with_fixups(self._resolve_sigma(strings)),
            lambda: graph_unicode.graph_lowering(strings),
        )

    def _resolve_sigma(self, strings):
        """Replaces every "Σ" by "ς" (final) or "σ", as Python's str.lower() decides."""
        cps = tf.strings.unicode_decode(strings, "UTF-8")  # int32 [batch, (chars)]
        flat = cps.flat_values  # [n]
        rows = tf.cast(cps.value_rowids(), tf.int32)  # [n]
        n = tf.size(flat)
        stops = ~_in_ranges(flat, self._ignorable)  # the context skips case-ignorables
        cased = _in_ranges(flat, self._cased)
        # Positions of non-ignorable characters, plus a sentinel n that belongs to no row.
        stop_pos = tf.concat([tf.cast(tf.where(stops)[:, 0], tf.int32), [n]], 0)  # [s + 1]
        rows_ext = tf.concat([rows, [-1]], 0)
        cased_ext = tf.concat([cased, [False]], 0)
        before = tf.cumsum(tf.cast(stops, tf.int32), exclusive=True)  # stops strictly before i
        prev = tf.where(before > 0, tf.gather(stop_pos, tf.maximum(before - 1, 0)), n)
        nxt = tf.gather(stop_pos, before + tf.cast(stops, tf.int32))  # first stop after i
        prev_cased = tf.gather(cased_ext, prev) & tf.equal(tf.gather(rows_ext, prev), rows)
        next_cased = tf.gather(cased_ext, nxt) & tf.equal(tf.gather(rows_ext, nxt), rows)
        is_sigma = tf.equal(flat, _SIGMA)
        final = prev_cased & ~next_cased
        lowered = tf.where(final, _FINAL_SIGMA, _SMALL_SIGMA)
        flat = tf.where(is_sigma, lowered, flat)
        return tf.strings.unicode_encode(cps.with_flat_values(flat), "UTF-8")

    def _lower_with_fixups(self, strings):
        placeholders, results = self._fixups
        for char, placeholder in placeholders.items():
            strings = tf.strings.regex_replace(strings, _literal(char), _rewrite(placeholder))
        strings = graph_unicode.graph_lowering(strings)
        for char, placeholder in placeholders.items():
            strings = tf.strings.regex_replace(
                strings, _literal(placeholder), _rewrite(results[char])
            )
        return strings
