"""Fuzzing: `FullTokenizer` and the in-graph `BertPreprocessor` give the same ids on random text.

Hypothesis generates batches of strings: unrestricted Unicode (every category, unassigned code
points included; surrogates cannot occur in valid text) and mixtures aimed at the original's
rules (accents and combining marks, capital sigma, punctuation, whitespace and control kinds,
CJK, words over the 200-character limit). Each batch is tokenized by both sides with every
vocabulary of the parity tests (the real uncased MiniLM vocab and the cased / uncased vocabs made
of the hostile corpus' pieces); words must get the same pieces and packed pairs the same rows.
Runs are derandomized, so CI sees the same examples on every run.
"""

import pytest

pytest.importorskip("hypothesis", reason="fuzzing needs hypothesis (pip install -e '.[test]')")

import tensorflow as tf  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bert_tf.tokenization import BertPreprocessor, FullTokenizer  # noqa: E402
from tokenization.test_preprocessor_parity import (VOCABS, assert_same, graph_rows,  # noqa: E402
                                                   python_rows)

PAIR_SEQ_LENGTH = 48  # short enough that long pairs get truncated

# Example budgets keep the module at about 30 s on 2 CPU cores.
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Any code point but a surrogate: controls, format characters, marks, private use, unassigned.
any_char = st.characters(exclude_categories=["Cs"])

# The characters each rule of the original tokenizer treats specially.
special_chars = st.one_of(
    st.characters(categories=["Mn", "Me", "Mc"]),  # combining marks (stripped when lowering)
    st.sampled_from("ΣσςΑΟΔİıIiẞßǅﬁ"),  # final sigma, dotted I, ligatures
    st.characters(categories=["P"]),  # Unicode punctuation
    st.sampled_from("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),  # ASCII symbols split like punctuation
    st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2009\u200a\u2028"
                    "\u2029\u202f\u205f\u3000"),  # whitespace of every kind
    st.characters(categories=["Cc", "Cf"]),  # controls and format characters (dropped)
    st.sampled_from("\x00\ufffd\u200b\u200d\ufeff\u00ad"),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),  # CJK ideographs
    st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),  # CJK extension B
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),  # Hangul: not split
    st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo"]),
    st.characters(min_codepoint=0x10570, max_codepoint=0x105FF),  # Vithkuqi (Unicode 14)
)
accented_word = st.builds(
    lambda base, marks: base + marks,
    st.sampled_from("aeiouAEIOUnNcCsΣΑ"),
    st.text(st.characters(categories=["Mn"]), max_size=3),
)
# Words over the original's 200-code-point limit become one [UNK]; what counts is the length after
# cleaning and (uncased) after lower-casing and accent stripping, so lengths cluster at the limit
# for one- and two-character units.
long_word = st.builds(
    lambda unit, length, tail: (unit * length)[:length] + tail,
    st.sampled_from(["a", "é", "e\u0301", "E\u0301", "İ", "中", "Α", "ΑΣ", "x\u200b", "ǅ"]),
    st.one_of(st.sampled_from([199, 200, 201, 399, 400, 401, 402]), st.integers(100, 450)),
    st.sampled_from(["", "Σ", "\u0301", ".", "b"]),
)
targeted_text = st.lists(
    st.one_of(special_chars, accented_word, long_word, st.sampled_from(["un", "##", "[UNK]"])),
    max_size=25,
).map("".join)
random_text = st.text(any_char, max_size=80)


@pytest.fixture(scope="module")
def sides(request):
    """(name, FullTokenizer, words fn, pack fn) for each vocabulary, built once per module.

    The graph side runs as `tf.function`s with fixed signatures: traced once, then every batch
    reuses the graph, which is also how a SavedModel or tf.data runs the preprocessor.
    """
    built = []
    for vocab_fixture, do_lower_case in VOCABS:
        vocab = request.getfixturevalue(vocab_fixture)
        pre = BertPreprocessor(vocab, do_lower_case, seq_length=PAIR_SEQ_LENGTH)
        batch = tf.TensorSpec([None], tf.string)
        words = tf.function(pre.tokenize, input_signature=[batch])
        pack = tf.function(lambda a, b, pre=pre: pre([a, b]), input_signature=[batch, batch])
        name = f"{vocab_fixture} (do_lower_case={do_lower_case})"
        built.append((name, FullTokenizer(vocab, do_lower_case), words, pack))
    return built


def check_batch(sides, texts):
    """Both tokenizers on `texts`: per-word pieces, and pairs packed with truncation."""
    pairs = list(zip(texts, texts[1:] + texts[:1]))
    for name, tokenizer, words, pack in sides:
        graph_words = words(tf.constant(texts)).to_list()
        for text, got in zip(texts, graph_words):
            expected = [tokenizer.convert_tokens_to_ids(tokenizer.wordpiece_tokenizer
                                                        .tokenize_word(word))
                        for word in tokenizer.basic_tokenizer.tokenize(text)]
            assert got == expected, f"{name}: pieces differ for {text!r}"
        packed = pack(tf.constant([a for a, _ in pairs]), tf.constant([b for _, b in pairs]))
        python = python_rows(tokenizer, pairs, PAIR_SEQ_LENGTH)
        assert_same(python, graph_rows(packed), [(name, a, b) for a, b in pairs])


@settings(max_examples=60, **FUZZ)
@given(texts=st.lists(random_text, min_size=1, max_size=12))
def test_random_unicode_gives_identical_ids(sides, texts):
    check_batch(sides, texts)


@settings(max_examples=60, **FUZZ)
@given(texts=st.lists(targeted_text, min_size=1, max_size=8))
def test_targeted_mixtures_give_identical_ids(sides, texts):
    check_batch(sides, texts)


@settings(max_examples=30, **FUZZ)
@given(texts=st.lists(st.text(st.characters(codec="ascii"), max_size=40), min_size=1,
                      max_size=12))
def test_ascii_with_controls_gives_identical_ids(sides, texts):
    # All of ASCII, controls included: the bulk of real input, where a slip costs most.
    check_batch(sides, texts)

