"""A corpus of text that breaks careless WordPiece ports, and vocabularies built from it.

Every entry targets one rule of the original tokenizer (see REFERENCE.md section 3); the random
mixtures at the end combine them (seeded, so failures reproduce).
"""

import random
import string

from bert_tf.tokenization import BasicTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

_TARGETED = [
    # accents and combining marks (NFD + Mn stripping only when lower-casing)
    "Héllo naïve café Ångström résumé",
    "e\u0301 a\u0308 o\u0303\u0301 \u0301alone \u0301",
    "Z\u0351\u0300\u0315a\u0362\u0334l\u0358go\u0489 text",
    "İstanbul ı I i İ",
    "Straße ß ẞ ﬁ ﬂ Ǆ ǅ ǆ",
    "ᎠᎡᎢ Ᏸ ᲐᲑᲒ Ⓐ Ⅻ ǲ",
    # capital sigma: per-word lower() makes a word-final one "ς"
    "ΟΔΟΣ ΟΔΟΣ. ΟΔΟΣ, Σ ΣΣ ΣΑΣ ΑΣ1 ΑΣΑ",
    "ΟΔΟΣ.ΟΔΟΣ ΟΔΟΣ'Α ΑΣ\u00adΑ ΑΣ\x01Α ΑΣ\ufffdΑ ΑΣ\x00Α ΑΣ\u200bΑ ΑΣ\u0301 ΑΣ\u0301Α",
    "ὈΔΥΣΣΕΎΣ ΣΊΣΥΦΟΣ ΜΆΣ\u02b0 \u02b0Σ ᾼΣ Α\u0345Σ",
    # CJK ideographs (split) vs Hangul / kana (not split)
    "中文字符测试 ah\u535a\u63a8zz \u3400\u4dbf\u9fff \U00020000\U0002a6df\U0002b740\U0002ceaf",
    "\uf900\ufad9\ufa6e\U0002f800\U0002fa1d 漢字かな交じり文",
    "한국어 텍스트입니다 ひらがな カタカナ ｶﾀｶﾅ ㈱",
    # right-to-left and Indic / Southeast Asian scripts
    "مرحبا بالعالم مُحَمَّد ١٢٣",
    "שָׁלוֹם עולם",
    "नमस्ते दुनिया क़ ॐ",
    "สวัสดีครับ ภาษาไทย",
    # emoji, ZWJ sequences, flags, variation selectors
    "👍🏽 👨\u200d👩\u200d👧 🇳🇱 ❤\ufe0f 😀😀",
    # zero-width, controls, bidi, replacement character, NUL
    "zero\u200bwidth\u200cjoin\u200dwj\u2060bom\ufeffsoft\u00adhyphen",
    "ctrl\x01\x07\x1b\x7f\x85\x9fend \u202eevil\u202c \u061c",
    "bad\ufffdchar nul\x00byte \ufffd \x00",
    # whitespace of every kind
    "tab\tnew\nline\rcr\x0bvt\x0cff\x1cfs",
    "nbsp\u00a0ideo\u3000en\u2002thin\u2009hair\u200aog\u1680mvs\u180e",
    "line\u2028sep\u2029para \u0085nel",
    # punctuation: every printable ASCII one, and Unicode P* / symbols
    string.punctuation,
    " ".join(string.punctuation),
    "a" + "a".join(string.punctuation) + "a",
    "¿¡«»—–…‘’“”‹›【】「」、。，！？ § ¶ © ® ™ ° ± ∑ √ ∞ ≠ ≤ ¥ € £ ¢ ^ ` ~ |",
    "https://example.com/a?b=c&d=e#f user@example.com 3.14159 1,000,000 C++ don't",
    "ＡＢＣ１２３！？ ｆｕｌｌｗｉｄｔｈ",
    "abcдеф中文ghi МОСКВА Москва",
    # characters whose lower-casing / NFD differ between ICU versions (Unicode 14+)
    "\U00010570\U000105c9 \U00010570Σ Σ\U00010597 \U000105e4 \u2c2f \ua7c0",
    # empty and whitespace-only
    "",
    " ",
    "\t\n \u3000",
    "\x00\ufffd\u200b",
]


def _long_words():
    words = []
    for n in (100, 150, 199, 200, 201, 250):
        words.append("a" * n)
        words.append("x " + "b" * n + " y")
    # code points, not bytes: 200 two-byte characters are allowed, 201 are not
    words += ["é" * 200, "é" * 201, "中" * 300]
    # decomposed accents count after stripping when lower-casing, before it when not
    words += ["e\u0301" * 150, "E\u0301" * 101]
    # 201 chars that lower() turns into 202 (İ -> i + U+0307), and a sigma-ending long word
    words += ["İ" * 200, "Α" * 199 + "Σ", "Α" * 200 + "Σ"]
    return words


def _long_sentences(rng):
    vocab = "the quick brown fox jumps over lazy dogs unwanted running".split()
    return [" ".join(rng.choice(vocab) for _ in range(n)) for n in (60, 130, 300)]


def _mixtures(rng, count):
    pool = "".join(_TARGETED) + "ΣΣΣ  \t.,!" + "abcXYZ"
    pool = sorted(set(pool))
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def hostile_corpus(mixtures=150):
    """All targeted strings, long words, long sentences and `mixtures` random mixtures."""
    rng = random.Random(1234)
    return _TARGETED + _long_words() + _long_sentences(rng) + _mixtures(rng, mixtures)


def hostile_pairs(corpus):
    """(text_a, text_b) pairs: every string against another, long ones included."""
    shifted = corpus[7:] + corpus[:7]
    return list(zip(corpus, shifted))


def build_vocab(corpus, do_lower_case, seed=0, max_token_bytes=256):
    """A vocab whose pieces come from the corpus itself (so ids are mostly not [UNK]).

    For each word: sometimes the whole word, always a 1-3 character prefix and "##" pieces for
    most of its characters; about one character in seven gets no "##" piece, so some words still
    fall back to [UNK] and the greedy search has to back off. Whole words over `max_token_bytes`
    UTF-8 bytes are left out (256 keeps tf-text's FastWordpieceTokenizer usable).
    """
    rng = random.Random(seed)
    basic = BasicTokenizer(do_lower_case=do_lower_case)
    tokens = dict.fromkeys(SPECIALS)
    for text in corpus:
        for word in basic.tokenize(text):
            if rng.random() < 0.3 and len(word.encode("utf-8")) <= max_token_bytes:
                tokens[word] = None
            tokens[word[: rng.randint(1, 3)]] = None
            for i in range(1, len(word)):
                if rng.random() < 0.5:
                    tokens["##" + word[i : i + rng.randint(1, 3)]] = None
                if ord(word[i]) % 7:
                    tokens["##" + word[i]] = None
    return list(tokens)
