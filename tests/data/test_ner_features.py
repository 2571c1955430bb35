"""Word-to-WordPiece alignment and windows for token classification, against hand-computed
features on the original tokenization test vocabulary; windows and coverage on random
sentences; mapping per-token outputs back to words; the TFRecords and their tf.data pipeline;
and the whole CoNLL-2003 dev set with MiniLM's vocabulary when the files are present."""

import os
import pathlib
import random

import numpy as np
import pytest

from bert_tf.data.conll import NerFlagError, NerSentence, labels_from_sentences, read_conll
from bert_tf.data.ner_features import (IGNORE_LABEL_ID, convert_sentences_to_features,
                                       ner_dataset, read_ner_tfrecord, tokenize_words,
                                       validate_window_settings, window_owners, word_windows,
                                       words_from_tokens, write_ner_tfrecord)
from bert_tf.tokenization import FullTokenizer

CONLL_DIR = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conll2003"

# ORIGINAL_TEST_VOCAB ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, want 5, ##want 6,
# ##ed 7, wa 8, un 9, runn 10, ##ing 11, "," 12, low 13, lowest 14.
LABELS = ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
O, B_LOC, B_PER, I_LOC, I_PER = range(5)
X = IGNORE_LABEL_ID


@pytest.fixture(scope="module")
def tokenizer(original_test_vocab_file):
    return FullTokenizer(original_test_vocab_file, do_lower_case=True)


def sentence(*pairs):
    return NerSentence(tuple(w for w, _ in pairs), tuple(t for _, t in pairs))


def test_first_piece_carries_the_label_later_pieces_are_ignored(tokenizer):
    s = sentence(("UNwanted", "B-PER"), ("running", "I-PER"), (",", "O"), ("xyz", "B-LOC"),
                 ("low", "O"))
    [f] = convert_sentences_to_features([s], LABELS, 12, tokenizer)
    # [CLS] un ##want ##ed runn ##ing , [UNK] low [SEP] pad pad
    assert f.input_ids == [2, 9, 6, 7, 10, 11, 12, 1, 13, 3, 0, 0]
    assert f.input_mask == [1] * 10 + [0, 0]
    assert f.segment_ids == [0] * 12
    assert f.label_ids == [X, B_PER, X, X, I_PER, X, O, B_LOC, O, X, X, X]
    assert f.word_ids == [-1, 0, -1, -1, 1, -1, 2, 3, 4, -1, -1, -1]
    assert (f.sentence_index, f.window_index, f.is_real_example) == (0, 0, True)


def test_a_word_without_pieces_becomes_unk_and_keeps_its_label(tokenizer):
    s = sentence(("low", "O"), ("\u200b", "B-PER"), ("\x00", "O"))
    assert tokenize_words(s.words, tokenizer) == (["low", "[UNK]", "[UNK]"], [0, 1, 2])
    [f] = convert_sentences_to_features([s], LABELS, 6, tokenizer)
    assert f.input_ids == [2, 13, 1, 1, 3, 0]
    assert f.label_ids == [X, O, B_PER, O, X, X]


def test_word_windows_hand_computed():
    # Words of 3, 1, 2, 2 and 1 pieces, windows of 5 pieces, stride 3.
    windows = word_windows([0, 3, 4, 6, 8], 9, 5, 3)
    assert windows == [(0, 2, 0, 4), (1, 4, 3, 5), (3, 5, 6, 3)]
    # Word 1 (piece 3) ends window 0 and starts window 1: the longer window wins the tie;
    # word 3 (piece 6) has more context in window 1 (3 left, 1 right) than in window 2.
    assert window_owners(windows, [0, 3, 4, 6, 8]) == [0, 1, 1, 1, 2]
    assert word_windows([0, 1, 2], 3, 3, 1) == [(0, 3, 0, 3)]
    # A word longer than a window is cut to the window (its first piece is the scored one).
    assert word_windows([0, 50], 60, 10, 5) == [(0, 1, 0, 10), (1, 2, 50, 10)]


def test_long_sentence_windows_score_each_word_once(tokenizer):
    s = sentence(("unwanted", "B-PER"), ("low", "O"), ("running", "B-LOC"),
                 ("running", "I-LOC"), ("low", "O"))
    features = convert_sentences_to_features([s], LABELS, 7, tokenizer, stride=3)
    assert [f.input_ids for f in features] == [
        [2, 9, 6, 7, 13, 3, 0],      # un ##want ##ed low
        [2, 13, 10, 11, 10, 11, 3],  # low runn ##ing runn ##ing
        [2, 10, 11, 13, 3, 0, 0]]    # runn ##ing low
    assert [f.label_ids for f in features] == [
        [X, B_PER, X, X, X, X, X],
        [X, O, B_LOC, X, I_LOC, X, X],
        [X, X, X, O, X, X, X]]
    assert [f.word_ids for f in features] == [
        [-1, 0, -1, -1, -1, -1, -1],
        [-1, 1, 2, -1, 3, -1, -1],
        [-1, -1, -1, 4, -1, -1, -1]]
    assert [(f.sentence_index, f.window_index) for f in features] == [(0, 0), (0, 1), (0, 2)]


def test_the_default_stride_is_half_a_window_and_settings_are_checked():
    assert validate_window_settings(128) == 63
    assert validate_window_settings(3) == 1
    assert validate_window_settings(10, 8) == 8
    for bad in (2, 0, 12.0, True):
        with pytest.raises(NerFlagError, match="--max_seq_length must be an integer"):
            validate_window_settings(bad)
    for bad in (0, 9, -1, 2.5):
        with pytest.raises(NerFlagError, match=r"stride must be an integer from 1 to "
                                               r"max_seq_length - 2 = 8"):
            validate_window_settings(10, bad)


def test_a_tag_outside_the_label_list_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="sentence 0 .*tag 'B-ORG' is not in the label list"):
        convert_sentences_to_features([sentence(("low", "B-ORG"))], LABELS, 8, tokenizer)


WORDS = ["unwanted", "running", "low", "lowest", ",", "want", "wa", "xyz", "\u200b",
         "un,want,running,low", "unwantedrunning"]


def random_sentence(rng):
    n = rng.randint(1, 25)
    return NerSentence(tuple(rng.choice(WORDS) for _ in range(n)),
                       tuple(rng.choice(LABELS) for _ in range(n)))


def test_random_sentences_every_word_scored_exactly_once_inside_contiguous_windows(tokenizer):
    rng = random.Random(20240)
    for trial in range(300):
        sentences = [random_sentence(rng) for _ in range(3)]
        max_seq_length = rng.randint(3, 24)
        stride = rng.choice([None, rng.randint(1, max_seq_length - 2)])
        features = convert_sentences_to_features(sentences, LABELS, max_seq_length, tokenizer,
                                                 stride)
        effective = validate_window_settings(max_seq_length, stride)
        for f in features:
            assert len(f.input_ids) == len(f.label_ids) == len(f.word_ids) == max_seq_length
            length = sum(f.input_mask)
            assert f.input_mask == [1] * length + [0] * (max_seq_length - length)
            pieces, _ = tokenize_words(sentences[f.sentence_index].words, tokenizer)
            window = tokenizer.convert_ids_to_tokens(f.input_ids[1:length - 1])
            assert " ".join(window) in " ".join(pieces), trial  # a contiguous slice
        for s in sentences:
            pieces, first = tokenize_words(s.words, tokenizer)
            windows = word_windows(first, len(pieces), max_seq_length - 2, effective)
            for (a, b, start, _), (c, _, next_start, _) in zip(windows, windows[1:]):
                assert a < c <= b, (trial, windows)  # moves on, leaves no word out
                assert next_start - start <= effective or c == a + 1, (trial, windows)
        rows = len(features)
        labels = words_from_tokens([f.sentence_index for f in features],
                                   [f.word_ids for f in features],
                                   [f.label_ids for f in features],
                                   [len(s.words) for s in sentences])
        assert [row.tolist() for row in labels] == [[LABELS.index(t) for t in s.tags]
                                                    for s in sentences], trial
        assert rows >= len(sentences)


def test_words_from_tokens_maps_logits_and_skips_padding_rows(tokenizer):
    sentences = [sentence(("low", "O"), ("running", "B-PER")), sentence(("want", "B-LOC"))]
    features = convert_sentences_to_features(sentences, LABELS, 6, tokenizer)
    sentence_ids = [f.sentence_index for f in features] + [-1, -1]
    word_ids = [f.word_ids for f in features] + [[-1] * 6] * 2
    logits = np.random.default_rng(0).normal(size=(len(features) + 2, 6, 5)).astype(np.float32)
    per_word = words_from_tokens(sentence_ids, word_ids, logits, [2, 1])
    assert [w.shape for w in per_word] == [(2, 5), (1, 5)]
    np.testing.assert_array_equal(per_word[0][1], logits[0, 2])  # "running" at position 2
    np.testing.assert_array_equal(per_word[1][0], logits[1, 1])
    # Outputs for the real rows only (padding rows at the end left out) are enough.
    assert len(words_from_tokens(sentence_ids, word_ids, logits[:2], [2, 1])) == 2


def test_words_from_tokens_refuses_missing_and_doubled_words(tokenizer):
    sentences = [sentence(("low", "O"), ("want", "O"))]
    [f] = convert_sentences_to_features(sentences, LABELS, 6, tokenizer)
    with pytest.raises(ValueError, match="sentence 0, word 0 has 2 predictions"):
        words_from_tokens([0, 0], [f.word_ids] * 2, [f.label_ids] * 2, [2])
    with pytest.raises(ValueError, match="sentence 0, word 2 has 0 predictions"):
        words_from_tokens([0], [f.word_ids], [f.label_ids], [3])
    with pytest.raises(ValueError, match="token_values has 0 rows"):
        words_from_tokens([0], [f.word_ids], np.zeros((0, 6)), [2])


def test_tfrecords_round_trip_with_padding_rows(tmp_path, tokenizer):
    sentences = [random_sentence(random.Random(i)) for i in range(5)]
    features = convert_sentences_to_features(sentences, LABELS, 8, tokenizer)
    path = str(tmp_path / "out" / "eval.tf_record")
    rows = write_ner_tfrecord(path, features, pad_to_multiple_of=4)
    assert rows % 4 == 0 and len(features) <= rows < len(features) + 4
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    columns = read_ner_tfrecord(path, 8)
    real = len(features)
    for name in ("input_ids", "input_mask", "segment_ids", "label_ids", "word_ids"):
        np.testing.assert_array_equal(columns[name][:real], [getattr(f, name) for f in features])
        assert (columns[name][real:] == (-1 if name in ("label_ids", "word_ids") else 0)).all()
    np.testing.assert_array_equal(columns["sentence_ids"],
                                  [f.sentence_index for f in features] + [-1] * (rows - real))
    np.testing.assert_array_equal(columns["is_real_example"], [1] * real + [0] * (rows - real))

    batches = list(ner_dataset(path, 8, 4, is_training=False).as_numpy_iterator())
    inputs = {k: np.concatenate([b[0][k] for b in batches]) for k in batches[0][0]}
    labels = np.concatenate([b[1] for b in batches])
    weights = np.concatenate([b[2] for b in batches])
    np.testing.assert_array_equal(inputs["input_word_ids"], columns["input_ids"])
    np.testing.assert_array_equal(inputs["input_mask"], columns["input_mask"])
    np.testing.assert_array_equal(inputs["input_type_ids"], columns["segment_ids"])
    scored = columns["label_ids"] >= 0
    np.testing.assert_array_equal(weights, scored.astype(np.float32))
    np.testing.assert_array_equal(labels, np.where(scored, columns["label_ids"], 0))
    assert labels.dtype == np.int32 and weights.dtype == np.float32
    assert weights.sum() == sum(len(s.words) for s in sentences)

    train = next(iter(ner_dataset(path, 8, 4, is_training=True)))
    assert train[1].shape == (4, 8) and train[2].shape == (4, 8)


def test_a_failed_write_leaves_the_older_file_and_no_temporary_one(tmp_path, tokenizer):
    features = convert_sentences_to_features([sentence(("low", "O"))] * 3, LABELS, 6, tokenizer)
    path = tmp_path / "train.tf_record"
    write_ner_tfrecord(str(path), features[:1])
    before = path.read_bytes()
    features[2].input_ids = ["not an id"] * 6
    with pytest.raises(TypeError):
        write_ner_tfrecord(str(path), features)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.tf_record"]


@pytest.mark.skipif(not CONLL_DIR.is_dir(),
                    reason=f"the real CoNLL-2003 files are absent ({CONLL_DIR}); they sit "
                           f"beside the repository on development machines only")
def test_the_whole_conll2003_dev_set_is_covered_word_by_word(minilm_dir):
    tokenizer = FullTokenizer(str(minilm_dir / "vocab.txt"), do_lower_case=True)
    dev = read_conll(str(CONLL_DIR / "dev.txt"))
    labels = labels_from_sentences(dev)
    gold = [[labels.index(t) for t in s.tags] for s in dev]
    lengths = [len(s.words) for s in dev]
    # At 128, as fine-tuning uses it, the three dev sentences of more than 126 pieces (up to
    # 144) take two windows each; at 24 (22 pieces), 1,112 sentences take up to 13.
    for max_seq_length, windows, longest in ((128, 3253, 2), (24, 5287, 13)):
        features = convert_sentences_to_features(dev, labels, max_seq_length, tokenizer)
        assert len(features) == windows
        assert max(f.window_index for f in features) + 1 == longest
        per_word = words_from_tokens([f.sentence_index for f in features],
                                     [f.word_ids for f in features],
                                     [f.label_ids for f in features], lengths)
        assert [w.tolist() for w in per_word] == gold
        assert sum(sum(i >= 0 for i in f.label_ids) for f in features) == sum(lengths) == 51362
