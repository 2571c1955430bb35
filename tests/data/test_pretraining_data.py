"""create_pretraining_data: the original algorithm's random-number order and rules, the record
layout, the masking / next-sentence statistics on the drug reviews, reproducibility, the sharded
parallel path, and one-line errors that leave no output."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest

from bert_tf.data.pretraining import create_pretraining_data
from bert_tf.data.pretraining_instances import (PretrainingDataError, PretrainingParams,
                                                create_instances_from_document,
                                                create_masked_lm_predictions, truncate_seq_pair)
from bert_tf.data.pretraining_text import documents_to_text, split_sentences
from bert_tf.tokenization import FullTokenizer, TextDecodeError, VocabError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLS, SEP, MASK = 101, 102, 103  # MiniLM (uncased BERT) vocab


class ScriptedRandom(random.Random):
    """Returns scripted values, records every call; shuffle keeps the order."""

    def __init__(self, values):
        super().__init__(0)
        self.values, self.calls = list(values), []

    def random(self):
        self.calls.append(("random",))
        return self.values.pop(0)

    def randint(self, a, b):
        self.calls.append(("randint", a, b))
        return self.values.pop(0)

    def shuffle(self, x):
        self.calls.append(("shuffle", len(x)))


# --- The original's random-number order, checked call by call -------------------------------


def test_actual_next_instance_follows_original_call_order():
    doc = [["a1", "a2"], ["b1"], ["c1"]]
    params = PretrainingParams(max_seq_length=7, max_predictions_per_seq=1)  # 4 tokens of text
    # not short; a_end = 1; actual next; the first candidate gets [MASK]
    rng = ScriptedRandom([0.5, 1, 0.9, 0.1])
    [inst] = create_instances_from_document([doc], 0, params, ["[MASK]"], rng)
    assert rng.calls == [("random",), ("randint", 1, 2), ("random",), ("shuffle", 4), ("random",)]
    assert inst.tokens == ["[CLS]", "[MASK]", "a2", "[SEP]", "b1", "c1", "[SEP]"]
    assert inst.segment_ids == [0, 0, 0, 0, 1, 1, 1]
    assert (inst.masked_lm_positions, inst.masked_lm_labels) == ([1], ["a1"])
    assert not inst.is_random_next and rng.values == []


def test_random_next_puts_unused_sentences_back():
    doc, other = [["a1", "a2"], ["b1"], ["c1"]], [["x1"], ["y1", "y2", "y3"]]
    params = PretrainingParams(max_seq_length=7, max_predictions_per_seq=1, short_seq_prob=0.0)
    rng = ScriptedRandom([
        0.5,            # target length: max (4)
        1, 0.2,         # chunk a|b c: a_end 1, random next
        1, 1,           # other document, start at its sentence 1 -> y1 y2 y3 (>= 2 tokens)
        0.3,            # truncate B (3 > 2 = A): drop its front -> y2 y3
        0.95, 0.3,      # mask: keep the original token
        # b and c were put back: chunk b c (length 2 < 4 but the document ends)
        1, 0.7,         # a_end 1, actual next
        0.1,            # mask -> [MASK]
    ])
    first, second = create_instances_from_document([doc, other], 0, params, ["[MASK]"], rng)
    assert first.is_random_next and first.tokens[:6] == ["[CLS]", "a1", "a2", "[SEP]", "y2", "y3"]
    assert first.masked_lm_labels == [first.tokens[first.masked_lm_positions[0]]]
    assert not second.is_random_next
    assert second.tokens == ["[CLS]", "[MASK]", "[SEP]", "c1", "[SEP]"]
    assert rng.calls[:6] == [("random",), ("randint", 1, 2), ("random",), ("randint", 0, 1),
                             ("randint", 0, 1), ("random",)]
    assert rng.values == []


def test_truncation_cuts_the_longer_segment_front_or_back():
    a, b = [1, 2, 3], [4]
    truncate_seq_pair(a, b, 2, ScriptedRandom([0.3, 0.7]))  # front, then back
    assert (a, b) == ([2], [4])
    a, b = [1, 2], [3, 4]
    truncate_seq_pair(a, b, 3, ScriptedRandom([0.7]))  # a tie cuts B
    assert (a, b) == ([1, 2], [3])


def test_whole_word_masking_takes_a_word_whole_or_skips_it():
    tokens = ["[CLS]", "un", "##want", "##ed", "run", "[SEP]"]
    out, positions, labels = create_masked_lm_predictions(
        tokens, 0.5, 3, ["[MASK]"], ScriptedRandom([0.1, 0.1, 0.1]), do_whole_word_mask=True)
    assert positions == [1, 2, 3] and out[1:4] == ["[MASK]"] * 3
    # At most 2 predictions: "unwanted" (3 pieces) is skipped, not cut; "run" is taken.
    out, positions, labels = create_masked_lm_predictions(
        tokens, 0.5, 2, ["[MASK]"], ScriptedRandom([0.1]), do_whole_word_mask=True)
    assert (positions, labels) == ([4], ["run"])


def test_random_replacement_draws_from_the_whole_vocabulary():
    vocab_words = ["[PAD]", "w1", "w2", "w3"]
    rng = ScriptedRandom([0.85, 0.6, 2])  # not [MASK], not kept, random word index 2
    out, _, _ = create_masked_lm_predictions(["[CLS]", "x", "[SEP]"], 0.15, 5, vocab_words, rng)
    assert out == ["[CLS]", "w2", "[SEP]"] and rng.calls[-1] == ("randint", 0, 3)


def test_sentence_splitter_and_corpus_layout(drugreview_pretraining_text):
    assert split_sentences('He said "stop!" Then Dr. J. Smith left... OK?! e.g. 5 mg. daily') == [
        'He said "stop!"', "Then Dr. J. Smith left...", "OK?!", "e.g. 5 mg. daily"]
    assert split_sentences("  no end mark  ") == ["no end mark"] and split_sentences(" ") == []
    assert documents_to_text(["Ab. Cd.", "", "E."]) == "Ab.\nCd.\n\nE.\n"
    with open(drugreview_pretraining_text, encoding="utf-8") as f:
        text = f.read()
    assert text.count("\n\n") == 599 and "\n\n\n" not in text  # 600 reviews


# --- Records and statistics on the drug reviews --------------------------------------------


def test_records_have_the_original_layout(drugreview_pretraining_records,
                                          read_pretraining_records):
    path, stats = drugreview_pretraining_records
    r = read_pretraining_records(path)
    assert len(r["input_ids"]) == stats.instances > 1000
    lengths = r["input_mask"].sum(1)
    assert (r["input_mask"] == (np.arange(128) < lengths[:, None])).all()  # 1s then 0s
    assert (r["input_ids"][r["input_mask"] == 0] == 0).all()
    rows = np.arange(len(lengths))
    first_sep = (r["segment_ids"] == 0).sum(1) - (128 - lengths) - 1
    assert (r["input_ids"][:, 0] == CLS).all()
    assert (r["input_ids"][rows, first_sep] == SEP).all()
    assert (r["input_ids"][rows, lengths - 1] == SEP).all()
    real = r["masked_lm_weights"] > 0
    assert set(np.unique(r["masked_lm_weights"])) == {0.0, 1.0}
    assert (r["masked_lm_positions"][~real] == 0).all() and (r["masked_lm_ids"][~real] == 0).all()
    # Never [CLS] or [SEP]; positions ascending.
    pos = np.where(real, r["masked_lm_positions"], -1)
    assert not (pos == 0).any()
    assert not (pos == first_sep[:, None]).any() and not (pos == lengths[:, None] - 1).any()
    assert all((np.diff(p[p >= 0]) > 0).all() for p in pos)
    assert set(np.unique(r["next_sentence_labels"])) == {0, 1}


def test_masking_and_next_sentence_statistics(drugreview_pretraining_records,
                                              read_pretraining_records):
    path, stats = drugreview_pretraining_records
    r = read_pretraining_records(path)
    real = r["masked_lm_weights"] > 0
    masked_fraction = real.sum() / r["input_mask"].sum()
    assert 0.13 <= masked_fraction <= 0.17
    assert stats.masked_fraction == pytest.approx(masked_fraction)
    # num_to_predict = min(20, max(1, round(len * 0.15))) for every sequence
    expected = np.minimum(20, np.maximum(1, np.round(r["input_mask"].sum(1) * 0.15)))
    assert (real.sum(1) == expected).all()
    shown = np.take_along_axis(r["input_ids"], r["masked_lm_positions"], 1)[real]
    originals = r["masked_lm_ids"][real]
    as_mask = np.mean(shown == MASK)
    kept = np.mean(shown == originals)
    assert abs(as_mask - 0.8) < 0.02 and abs(kept - 0.1) < 0.02
    assert abs(1 - as_mask - kept - 0.1) < 0.02
    random_next = r["next_sentence_labels"].mean()
    assert 0.45 <= random_next <= 0.65
    assert stats.random_next_fraction == pytest.approx(random_next)


def _word_groups(tokens):
    groups = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if token.startswith("##") and groups:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


@pytest.mark.parametrize("whole_word", [True, False])
def test_whole_word_masking_masks_all_pieces_together(tmp_path, small_pretraining_text,
                                                      minilm_vocab_file, read_pretraining_records,
                                                      whole_word):
    out = str(tmp_path / "wwm.tfrecord")
    create_pretraining_data([small_pretraining_text], [out], minilm_vocab_file,
                            params=PretrainingParams(dupe_factor=1, do_whole_word_mask=whole_word))
    r = read_pretraining_records(out)
    inv = FullTokenizer(minilm_vocab_file).inv_vocab
    split_words = 0
    for ids, positions, labels, weights in zip(r["input_ids"], r["masked_lm_positions"],
                                               r["masked_lm_ids"], r["masked_lm_weights"]):
        chosen = set(positions[weights > 0].tolist())
        ids = ids.copy()
        ids[positions[weights > 0]] = labels[weights > 0]  # the original tokens
        tokens = [inv[i] for i in ids[ids > 0]]
        for group in _word_groups(tokens):
            if len(group) > 1 and 0 < len(chosen.intersection(group)) < len(group):
                split_words += 1
    # Without whole-word masking, many words are masked only in part (the check can fail).
    assert (split_words == 0) if whole_word else (split_words > 20)


# --- Reproducibility, sharding, parallel workers --------------------------------------------


def _run(tmp_path, name, corpus, vocab, **kwargs):
    outputs = [str(tmp_path / f"{name}-{i}.tfrecord") for i in range(kwargs.pop("files", 1))]
    stats = create_pretraining_data([corpus], outputs, vocab,
                                    params=PretrainingParams(dupe_factor=1), **kwargs)
    return [open(p, "rb").read() for p in outputs], stats


def test_seed_reproduces_bytes_and_another_seed_differs(tmp_path, small_pretraining_text,
                                                        minilm_vocab_file):
    first, _ = _run(tmp_path, "a", small_pretraining_text, minilm_vocab_file, random_seed=7)
    again, _ = _run(tmp_path, "b", small_pretraining_text, minilm_vocab_file, random_seed=7)
    other, _ = _run(tmp_path, "c", small_pretraining_text, minilm_vocab_file, random_seed=8)
    assert first == again and first != other
    assert sorted(os.listdir(tmp_path)) == ["a-0.tfrecord", "b-0.tfrecord", "c-0.tfrecord"]


def test_outputs_are_dealt_round_robin(tmp_path, small_pretraining_text, minilm_vocab_file,
                                       read_pretraining_records):
    _run(tmp_path, "one", small_pretraining_text, minilm_vocab_file)
    _run(tmp_path, "two", small_pretraining_text, minilm_vocab_file, files=2)
    one = read_pretraining_records(str(tmp_path / "one-0.tfrecord"))["input_ids"]
    even = read_pretraining_records(str(tmp_path / "two-0.tfrecord"))["input_ids"]
    odd = read_pretraining_records(str(tmp_path / "two-1.tfrecord"))["input_ids"]
    assert len(even) - len(odd) in (0, 1)
    assert (one[0::2] == even).all() and (one[1::2] == odd).all()


def test_parallel_shards_equal_serial_shards(tmp_path, small_pretraining_text, minilm_vocab_file):
    serial, stats = _run(tmp_path, "serial", small_pretraining_text, minilm_vocab_file,
                         documents_per_shard=40, num_workers=1)
    parallel, _ = _run(tmp_path, "parallel", small_pretraining_text, minilm_vocab_file,
                       documents_per_shard=40, num_workers=2)
    whole, _ = _run(tmp_path, "whole", small_pretraining_text, minilm_vocab_file)
    assert stats.documents == 120
    assert serial == parallel  # the output does not depend on the number of workers
    assert serial != whole     # shards change the random-next pool and the shuffle


def test_progress_reports_running_totals(tmp_path, small_pretraining_text, minilm_vocab_file):
    seen = []
    _run(tmp_path, "p", small_pretraining_text, minilm_vocab_file, documents_per_shard=50,
         num_workers=1, progress=lambda s: seen.append((s.documents, s.instances)))
    assert [d for d, _ in seen] == [50, 100, 120]
    assert all(a[1] < b[1] for a, b in zip(seen, seen[1:]))


def test_tiny_documents_do_not_crash(tmp_path, minilm_vocab_file, read_pretraining_records):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("hello\n\nworld\n\n\n\nok\n", encoding="utf-8")
    out = str(tmp_path / "tiny.tfrecord")
    stats = create_pretraining_data([str(corpus)], [out], minilm_vocab_file,
                                    params=PretrainingParams(dupe_factor=3))
    r = read_pretraining_records(out)
    assert stats.documents == 3 and len(r["input_ids"]) == 9
    assert (r["next_sentence_labels"] == 1).all()  # a one-sentence chunk always gets a random B
    single = tmp_path / "single.txt"
    single.write_text("word\n", encoding="utf-8")
    stats = create_pretraining_data([str(single)], [out], minilm_vocab_file,
                                    params=PretrainingParams(dupe_factor=1))
    assert stats.instances == 1  # B comes from the only document there is


# --- Bad input: one-line errors, nothing written -------------------------------------------


def test_empty_corpus_is_an_error_and_writes_nothing(tmp_path, minilm_vocab_file):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n  \n\n", encoding="utf-8")
    out = tmp_path / "out" / "x.tfrecord"
    with pytest.raises(PretrainingDataError, match=r"empty\.txt holds no documents"):
        create_pretraining_data([str(corpus)], [str(out)], minilm_vocab_file)
    assert not out.parent.exists() or os.listdir(out.parent) == []


@pytest.mark.parametrize("params, message", [
    (PretrainingParams(max_predictions_per_seq=10),
     r"--max_predictions_per_seq=10 is too small for --masked_lm_prob=0.15 \* "
     r"--max_seq_length=128 \(= 19"),
    (PretrainingParams(max_seq_length=4), r"--max_seq_length=4: must be at least 5"),
    (PretrainingParams(masked_lm_prob=0.0), r"--masked_lm_prob=0.0"),
    (PretrainingParams(dupe_factor=0), r"--dupe_factor=0"),
])
def test_bad_flags_are_one_line_errors(tmp_path, small_pretraining_text, minilm_vocab_file,
                                       params, message):
    with pytest.raises(PretrainingDataError, match=message) as e:
        create_pretraining_data([small_pretraining_text], [str(tmp_path / "x")], minilm_vocab_file,
                                params=params)
    assert "\n" not in str(e.value) and os.listdir(tmp_path) == []


def test_vocab_without_mask_token(tmp_path, small_pretraining_text):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n", encoding="utf-8")
    with pytest.raises(VocabError, match=r"vocab\.txt: vocabulary lacks the token \[MASK\]"):
        create_pretraining_data([small_pretraining_text], [str(tmp_path / "x")], str(vocab))
    assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]


def test_undecodable_input_names_file_and_line(tmp_path, minilm_vocab_file):
    corpus = tmp_path / "bad.txt"
    corpus.write_bytes(b"fine line\n\nbad \xff byte\n")
    with pytest.raises(TextDecodeError, match=r"bad\.txt:3: text is not valid UTF-8"):
        create_pretraining_data([str(corpus)], [str(tmp_path / "x")], minilm_vocab_file)
    assert sorted(os.listdir(tmp_path)) == ["bad.txt"]


def test_script_prints_one_error_line_and_exits_nonzero(tmp_path, small_pretraining_text,
                                                        minilm_vocab_file):
    out = tmp_path / "x.tfrecord"
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "create_pretraining_data.py"),
         f"--input_file={small_pretraining_text}", f"--output_file={out}",
         f"--vocab_file={minilm_vocab_file}", "--max_seq_length=512"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "--max_predictions_per_seq=20 is too small" in errors[0]
    assert not out.exists()
