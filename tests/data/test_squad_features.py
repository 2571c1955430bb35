"""SQuAD windows against hand-computed cases: the packing, the document stride, max-context
scoring, training targets (answer straddling two windows, at a window edge, impossible), the
answer-span improvement, unicode contexts, long questions, the flag checks, and the TFRecords
in the original run_squad layout."""

import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data.squad import read_squad_examples
from bert_tf.data.squad_features import (FIRST_UNIQUE_ID, SquadFlagError,
                                         convert_examples_to_features, doc_windows,
                                         improve_answer_span, is_max_context,
                                         validate_window_flags)
from bert_tf.data.squad_records import (cached_squad_tfrecord, read_squad_tfrecord,
                                        squad_dataset, squad_feature_spec, write_squad_tfrecord)
from squad.squad_builders import SQUAD_VOCAB, answer_at, qa, squad_tokenizer, write_squad

STORE = "The man went to the store and bought a gallon of milk."
# Pieces: the man went to the store and bought a gallon of milk .  (13, one per word but "milk.")
# With a 5-piece question, max_seq_length 16 and doc_stride 4, windows of 8 pieces:
#   window 0: pieces 0-7, window 1: pieces 4-11, window 2: pieces 8-12.
SETTINGS = dict(max_seq_length=16, doc_stride=4, max_query_length=6)


@pytest.fixture
def tokenizer(tmp_path):
    return squad_tokenizer(tmp_path)


def ids(*tokens):
    return [SQUAD_VOCAB.index(t) for t in tokens]


def store_features(tmp_path, tokenizer, answer, is_training=True, **settings):
    path = write_squad(tmp_path / "store.json", [(STORE, [
        qa("q", "What did he buy?", [answer_at(STORE, answer)])])])
    examples = read_squad_examples(path, is_training=is_training).examples
    return convert_examples_to_features(examples, tokenizer, is_training=is_training,
                                        **dict(SETTINGS, **settings))


def targets(features):
    return [(f.start_position, f.end_position) for f in features]


def test_doc_windows_and_max_context_as_the_original():
    assert doc_windows(13, 8, 4) == [(0, 8), (4, 8), (8, 5)]
    assert doc_windows(10, 4, 3) == [(0, 4), (3, 4), (6, 4)]
    assert doc_windows(5, 8, 4) == [(0, 5)]
    assert doc_windows(9, 4, 10) == [(0, 4), (4, 4), (8, 1)]  # never skips pieces
    # The original's example: "the man went to the store and bought a gallon of milk",
    # spans A = 0-4, B = 3-7, C = 6-10: "bought" (7) has most context in C.
    spans = [(0, 5), (3, 5), (6, 5)]
    assert [is_max_context(spans, i, 7) for i in range(3)] == [False, False, True]
    assert [is_max_context([(0, 8), (4, 8)], i, 6) for i in range(2)] == [False, True]
    # A tie (same min context, same length) goes to the first window.
    assert [is_max_context([(0, 4), (3, 4)], i, 3) for i in range(2)] == [True, False]


def test_window_packing_by_hand(tmp_path, tokenizer):
    features = store_features(tmp_path, tokenizer, "a gallon of milk", is_training=False)
    assert [f.unique_id for f in features] == [FIRST_UNIQUE_ID + i for i in range(3)]
    assert [(f.example_index, f.doc_span_index) for f in features] == [(0, 0), (0, 1), (0, 2)]
    w1, w2 = features[1], features[2]
    head = ["[CLS]", "what", "did", "he", "buy", "?", "[SEP]"]
    assert w1.tokens == head + "the store and bought a gallon of milk".split() + ["[SEP]"]
    assert w1.input_ids == ids(*w1.tokens) and w1.input_mask == [1] * 16
    assert w1.segment_ids == [0] * 7 + [1] * 9
    assert w1.token_to_orig_map == {7: 4, 8: 5, 9: 6, 10: 7, 11: 8, 12: 9, 13: 10, 14: 11}
    assert [w1.token_is_max_context[p] for p in range(7, 15)] == \
        [False, False, True, True, True, True, False, False]
    # The last window is shorter and padded with zeros.
    assert w2.tokens == head + ["a", "gallon", "of", "milk", ".", "[SEP]"]
    assert w2.input_ids == ids(*w2.tokens) + [0] * 3
    assert w2.input_mask == [1] * 13 + [0] * 3 and w2.segment_ids == [0] * 7 + [1] * 6 + [0] * 3
    assert w2.token_to_orig_map == {7: 8, 8: 9, 9: 10, 10: 11, 11: 11}
    assert [w2.token_is_max_context[p] for p in range(7, 12)] == [False, False, True, True, True]
    assert targets(features) == [(None, None)] * 3 and not w1.is_impossible


def test_training_targets_in_each_window_that_holds_the_whole_answer(tmp_path, tokenizer):
    # Pieces 8-11 (the "." after milk is cut off by the span improvement).
    assert targets(store_features(tmp_path, tokenizer, "a gallon of milk")) == \
        [(0, 0), (11, 14), (7, 10)]


def test_answer_straddling_two_windows(tmp_path, tokenizer):
    # Pieces 6-9: past the end of window 0, inside window 1, before the start of window 2.
    assert targets(store_features(tmp_path, tokenizer, "and bought a gallon")) == \
        [(0, 0), (9, 12), (0, 0)]
    # Pieces 3-9: no window holds the whole answer, so no window has a target.
    assert targets(store_features(tmp_path, tokenizer, "to the store and bought a gallon")) == \
        [(0, 0)] * 3


def test_answer_at_a_window_edge(tmp_path, tokenizer):
    # "bought" (piece 7) is window 0's last piece and inside window 1.
    features = store_features(tmp_path, tokenizer, "bought")
    assert targets(features) == [(14, 14), (10, 10), (0, 0)]
    assert features[0].tokens[14] == features[1].tokens[10] == "bought"
    # "the" (piece 0) is the first document position; "milk." ends the last window.
    assert targets(store_features(tmp_path, tokenizer, "The"))[0] == (7, 7)
    features = store_features(tmp_path, tokenizer, "milk.")
    assert targets(features) == [(0, 0), (0, 0), (10, 11)]
    assert features[2].tokens[10:13] == ["milk", ".", "[SEP]"]


def test_improve_answer_span(tokenizer):
    pieces = ["the", "leader", "was", "john", "smith", "(", "1895", "-", "1943", ")", "."]
    # "(1895-1943)." is one word: pieces 5-10, tightened to the answer "1895".
    assert improve_answer_span(pieces, 5, 10, tokenizer, "1895") == (6, 6)
    assert improve_answer_span(pieces, 3, 10, tokenizer, "John Smith (1895") == (3, 6)
    # "want" inside "unwanted" (un ##want ##ed): no sub-span matches, the whole word stays.
    assert improve_answer_span(["un", "##want", "##ed"], 0, 2, tokenizer, "want") == (0, 2)
    # "japan" inside "japanese" (japan ##ese): the first piece is the answer.
    assert improve_answer_span(["the", "japan", "##ese"], 1, 2, tokenizer, "Japan") == (1, 1)


def test_unicode_and_whitespace_in_the_context(tmp_path, tokenizer):
    context = "Caf\u00e9\u202fna\u00efve\tJohn\u00a0Smith\r\n(1895-1943).  \u00dcber \u200b x"
    path = write_squad(tmp_path / "u.json", [(context, [
        qa("year", "What year?", [answer_at(context, "1895")]),
        qa("smith", "Who?", [answer_at(context, "Smith")]),
        qa("unk", "What?", [answer_at(context, "\u00dcber")]),
        qa("after", "What?", [answer_at(context, "x")]),
        qa("cafe", "What?", [answer_at(context, "Caf\u00e9\u202fna\u00efve")]),
    ])])
    examples = read_squad_examples(path, is_training=True).examples
    features = convert_examples_to_features(examples, tokenizer, 32, 8, 8, is_training=True)
    assert len(features) == 5  # one window each
    first = features[0]
    offset = first.tokens.index("[SEP]") + 1
    # Accents stripped, U+00A0 splits "John Smith", "Über" is unknown, U+200B has no piece.
    assert first.tokens[offset:] == ["cafe", "naive", "john", "smith", "(", "1895", "-", "1943",
                                     ")", ".", "[UNK]", "x", "[SEP]"]
    assert [first.token_to_orig_map[offset + i] for i in range(12)] == \
        [0, 1, 2, 2, 3, 3, 3, 3, 3, 3, 4, 6]
    answers = [f.tokens[f.start_position:f.end_position + 1] for f in features]
    assert answers == [["1895"], ["smith"], ["[UNK]"], ["x"], ["cafe", "naive"]]


def test_question_longer_than_max_query_length(tmp_path, tokenizer):
    path = write_squad(tmp_path / "long.json", [(STORE, [
        qa("q", "who what where did he buy the man went", [answer_at(STORE, "milk")])])])
    examples = read_squad_examples(path, is_training=True).examples
    features = convert_examples_to_features(examples, tokenizer, max_seq_length=16, doc_stride=4,
                                            max_query_length=4, is_training=True)
    # Query cut to 4 pieces: windows of 16 - 4 - 3 = 9 pieces (0-8, 4-12).
    assert [f.tokens[:6] for f in features] == [["[CLS]", "who", "what", "where", "did",
                                                 "[SEP]"]] * 2
    assert [len(f.tokens) for f in features] == [16, 16]
    assert features[1].tokens[6:] == "the store and bought a gallon of milk .".split() + ["[SEP]"]
    assert targets(features) == [(0, 0), (13, 13)]


def test_version_2_impossible_questions_target_cls(tmp_path, tokenizer):
    path = write_squad(tmp_path / "v2.json", [(STORE, [
        qa("no", "Who did he buy?", [], is_impossible=True),
        qa("yes", "What did he buy?", [answer_at(STORE, "milk")], is_impossible=False)])],
        version="v2.0")
    examples = read_squad_examples(path, True, version_2_with_negative=True).examples
    features = convert_examples_to_features(examples, tokenizer, is_training=True, **SETTINGS)
    impossible = [f for f in features if f.example_index == 0]
    assert len(impossible) == 3 and all(f.is_impossible for f in impossible)
    assert targets(impossible) == [(0, 0)] * 3
    assert targets([f for f in features if f.example_index == 1]) == [(0, 0), (14, 14), (10, 10)]


def test_window_flags_are_checked():
    validate_window_flags(384, 128, 64)
    with pytest.raises(SquadFlagError, match=r"--doc_stride \(317\) must be smaller than "
                                             r"max_seq_length - max_query_length - 3 = 317"):
        validate_window_flags(384, 317, 64)
    with pytest.raises(SquadFlagError, match=r"--max_seq_length \(67\) must be greater than "
                                             r"--max_query_length \(64\) \+ 3"):
        validate_window_flags(67, 1, 64)
    with pytest.raises(SquadFlagError, match="--doc_stride must be a positive integer"):
        validate_window_flags(384, 0, 64)


def test_streaming_gives_the_same_windows(tmp_path, tokenizer):
    kept = store_features(tmp_path, tokenizer, "milk")
    streamed = []
    path = write_squad(tmp_path / "s.json", [(STORE, [qa("q", "What did he buy?",
                                                        [answer_at(STORE, "milk")])])])
    examples = read_squad_examples(path, is_training=True).examples
    assert convert_examples_to_features(examples, tokenizer, is_training=True,
                                        output_fn=streamed.append, **SETTINGS) == []
    assert streamed == kept


def test_records_round_trip_in_the_original_layout(tmp_path, tokenizer):
    features = store_features(tmp_path, tokenizer, "a gallon of milk")
    path = str(tmp_path / "train.tf_record")
    assert write_squad_tfrecord(path, features, is_training=True) == 3
    record = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(path))).numpy())
    assert sorted(record.features.feature) == ["end_positions", "input_ids", "input_mask",
                                               "is_impossible", "segment_ids", "start_positions",
                                               "unique_ids"]
    columns = read_squad_tfrecord(path, 16, is_training=True)
    assert columns["unique_ids"].tolist() == [f.unique_id for f in features]
    assert columns["input_ids"].tolist() == [f.input_ids for f in features]
    assert columns["start_positions"].tolist() == [0, 11, 7]
    assert columns["end_positions"].tolist() == [0, 14, 10]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]
    assert sorted(squad_feature_spec(16, False)) == ["input_ids", "input_mask", "segment_ids",
                                                     "unique_ids"]


def test_prediction_records_pad_to_whole_batches(tmp_path, tokenizer):
    features = store_features(tmp_path, tokenizer, "milk", is_training=False)
    path = str(tmp_path / "eval.tf_record")
    assert write_squad_tfrecord(path, features, is_training=False, pad_to_multiple_of=2) == 4
    batches = list(squad_dataset(path, 16, batch_size=2, is_training=False))
    assert len(batches) == 2
    unique_ids, weights = (np.concatenate([b[i].numpy() for b in batches]) for i in (1, 2))
    assert unique_ids.tolist() == [f.unique_id for f in features] + [0]
    assert weights.tolist() == [1, 1, 1, 0]
    first = batches[0][0]
    assert sorted(first) == ["input_mask", "input_type_ids", "input_word_ids"]
    assert first["input_word_ids"].numpy().tolist() == [f.input_ids for f in features[:2]]
    assert first["input_word_ids"].dtype == tf.int32


def test_training_dataset_gives_start_end_labels(tmp_path, tokenizer):
    features = store_features(tmp_path, tokenizer, "a gallon of milk")
    path = str(tmp_path / "train.tf_record")
    write_squad_tfrecord(path, features, is_training=True)
    inputs, labels, weights = next(iter(squad_dataset(path, 16, batch_size=6, is_training=True)))
    assert labels.shape == (6, 2) and labels.dtype == tf.int32
    assert weights.numpy().tolist() == [1.0] * 6
    seen = {tuple(row) for row in labels.numpy().tolist()}
    assert seen <= {(0, 0), (11, 14), (7, 10)}  # repeated and shuffled


def test_cache_reused_only_for_the_same_key(tmp_path, tokenizer):
    features = store_features(tmp_path, tokenizer, "milk")
    path = str(tmp_path / "train.tf_record")
    calls = []

    def build():
        calls.append(1)
        return features, True, 1, {"num_examples": 1}

    meta = cached_squad_tfrecord(path, "key-a", build)
    assert not meta["reused"] and meta["num_rows"] == 3 and meta["num_examples"] == 1
    assert cached_squad_tfrecord(path, "key-a", build)["reused"]
    assert not cached_squad_tfrecord(path, "key-b", build)["reused"]
    assert len(calls) == 2
