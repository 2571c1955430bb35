"""BertPreprocessor (in-graph) gives exactly the ids of FullTokenizer + the original packing."""

import csv
import io
import zipfile

import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.tokenization import (BertPreprocessor, FullTokenizer, InputExample,
                                  convert_single_example)
from tokenization.hostile_corpus import hostile_pairs

# (vocab fixture, do_lower_case): the real uncased MiniLM vocab, and cased / uncased vocabs made
# of the corpus' own pieces (so accents, sigma and Unicode-14 pieces have ids and any slip shows).
VOCABS = [("minilm_vocab_file", True), ("cased_hostile_vocab_file", False),
          ("uncased_hostile_vocab_file", True)]


def python_rows(tokenizer, pairs, seq_length):
    rows = []
    for i, (a, b) in enumerate(pairs):
        f = convert_single_example(InputExample(str(i), a, b), None, seq_length, tokenizer)
        rows.append((f.input_ids, f.input_mask, f.segment_ids))
    return rows


def graph_pairs(pre, pairs):
    return graph_rows(pre([tf.constant([a for a, _ in pairs]), tf.constant([b for _, b in pairs])]))


def graph_rows(packed):
    cols = [packed[k].numpy().tolist() for k in ("input_word_ids", "input_mask", "input_type_ids")]
    return list(zip(*cols))


def assert_same(python, graph, pairs):
    mismatches = [(pairs[i], p[0], g[0]) for i, (p, g) in enumerate(zip(python, graph))
                  if tuple(p) != tuple(g)]
    assert not mismatches, f"{len(mismatches)} rows differ, first: {mismatches[0]!r}"


@pytest.fixture(scope="module")
def tools(request):
    cache = {}

    def get(vocab_fixture, do_lower_case, seq_length):
        vocab = request.getfixturevalue(vocab_fixture)
        key = (vocab, do_lower_case, seq_length)
        if key not in cache:
            cache[key] = (FullTokenizer(vocab, do_lower_case),
                          BertPreprocessor(vocab, do_lower_case, seq_length=seq_length))
        return cache[key]

    return get


@pytest.mark.parametrize("seq_length", [128, 16])
@pytest.mark.parametrize("vocab_fixture, do_lower_case", VOCABS)
def test_single_segments_identical(tools, corpus, vocab_fixture, do_lower_case, seq_length):
    tokenizer, pre = tools(vocab_fixture, do_lower_case, seq_length)
    singles = [(text, None) for text in corpus]
    graph = graph_rows(pre(tf.constant(corpus)))
    assert_same(python_rows(tokenizer, singles, seq_length), graph, singles)


@pytest.mark.parametrize("seq_length", [128, 16])
@pytest.mark.parametrize("vocab_fixture, do_lower_case", VOCABS)
def test_pairs_identical(tools, corpus, vocab_fixture, do_lower_case, seq_length):
    tokenizer, pre = tools(vocab_fixture, do_lower_case, seq_length)
    pairs = hostile_pairs(corpus)
    graph = graph_pairs(pre, pairs)
    assert_same(python_rows(tokenizer, pairs, seq_length), graph, pairs)


@pytest.mark.parametrize("vocab_fixture, do_lower_case", VOCABS)
def test_tokenize_gives_the_pieces_of_each_word(tools, corpus, vocab_fixture, do_lower_case):
    tokenizer, pre = tools(vocab_fixture, do_lower_case, 128)
    ragged = pre.tokenize(tf.constant(corpus))
    assert ragged.dtype == tf.int32 and ragged.ragged_rank == 2  # [batch, (words), (pieces)]
    for text, words in zip(corpus, ragged.to_list()):
        expected = [tokenizer.convert_tokens_to_ids(tokenizer.wordpiece_tokenizer.tokenize_word(w))
                    for w in tokenizer.basic_tokenizer.tokenize(text)]
        assert words == expected, repr(text)


def test_hostile_vocabs_mostly_produce_known_pieces(tools, corpus):
    # Guards the test itself: the corpus-built vocabs must not turn everything into [UNK].
    for vocab_fixture, lower in VOCABS[1:]:
        tokenizer, _ = tools(vocab_fixture, lower, 128)
        pieces = [p for text in corpus for p in tokenizer.tokenize(text)]
        assert sum(p != "[UNK]" for p in pieces) > 0.8 * len(pieces)
        assert any(p.startswith("##") for p in pieces)


def test_drug_reviews_identical(tools, drugreview_zip):
    with zipfile.ZipFile(drugreview_zip) as z:
        text = z.read("drugsComTest.tsv").decode("utf-8")
    reviews = [row["review"] for row in csv.DictReader(io.StringIO(text), delimiter="\t")][:400]
    tokenizer, pre = tools("minilm_vocab_file", True, 128)
    pairs = list(zip(reviews, reviews[1:] + reviews[:1]))
    graph = graph_pairs(pre, pairs)
    assert_same(python_rows(tokenizer, pairs, 128), graph, pairs)


def test_vocab_with_long_tokens_falls_back_and_stays_identical(long_token_vocab_file, corpus):
    tokenizer = FullTokenizer(long_token_vocab_file, do_lower_case=False)
    pre = BertPreprocessor(long_token_vocab_file, do_lower_case=False, seq_length=128)
    assert isinstance(pre._wordpiece, tf_text.WordpieceTokenizer)
    assert tokenizer.tokenize("é" * 200) == ["é" * 200]
    pairs = hostile_pairs(corpus)
    graph = graph_pairs(pre, pairs)
    assert_same(python_rows(tokenizer, pairs, 128), graph, pairs)


@pytest.mark.parametrize("vocab_fixture, do_lower_case", VOCABS)
def test_fast_wordpiece_is_used_for_ordinary_vocabs(tools, vocab_fixture, do_lower_case):
    _, pre = tools(vocab_fixture, do_lower_case, 128)
    assert isinstance(pre._wordpiece, tf_text.FastWordpieceTokenizer)
