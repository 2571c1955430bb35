"""The tagger SavedModel against run_ner: the exported tags of dev.txt's sentences equal
run_ner's eval_predictions.txt; on raw sentences (runs of whitespace, accents, characters
without pieces, words longer than a window) and with other window settings, the tags equal
run_ner's Python path (`ner_features` -> model -> `words_from_tokens`); entities and their
offsets follow conlleval's rules on those tags; and the export's bookkeeping."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401 - registers the tokenizer ops the SavedModel uses

from bert_tf.checkpoints import load_pretrained
from bert_tf.checkpoints.ner_info import NerInfo, read_ner_info
from bert_tf.data.conll import NerSentence, read_conll
from bert_tf.data.ner_features import (convert_sentences_to_features, tokenize_words,
                                       word_windows, words_from_tokens)
from bert_tf.export.tagger import tag_fn
from bert_tf.modeling import BertConfig, BertTokenClassifier
from bert_tf.ner.metrics import entity_spans
from bert_tf.tokenization import FullTokenizer

from export.conftest import xla_compiled_functions

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORD = re.compile(r"[^ \t\n\r\v\f]+")  # the export's word: a run outside ASCII whitespace

# Runs of spaces, tabs and line breaks; accents precomposed and combining (uncased: stripped);
# a no-break space inside a word; a zero-width space and a control character alone (no pieces:
# one [UNK]); a word of 20 pieces, longer than a window of 14; a sentence of blanks only.
RAW = [
    "john smith visited  paris .",
    "  Jóhn\tSmíth visited\nPARIS ,  with Acme\u0301 corp .  ",
    "mary x\u00a0y met \u200b tokyo \x07 and li wei left new york .",
    "anna met ...................., berlin and globex with initech . peter jones left berlin "
    "with acme corp and mary met tokyo .",
    " \t\n ",
    "日本 café naïve ΣΑΣ peter",
]


def python_tags(model, info, vocab, sentences):
    """run_ner's path on raw sentences: per sentence (words' tags, tag probabilities, word
    (start, end) offsets)."""
    tokenizer = FullTokenizer(vocab, do_lower_case=info.do_lower_case)
    spans = [[m.span() for m in WORD.finditer(s)] for s in sentences]
    conll = [NerSentence(tuple(s[a:b] for a, b in words), ("O",) * len(words))
             for s, words in zip(sentences, spans)]
    features = convert_sentences_to_features(conll, info.labels, info.max_seq_length, tokenizer,
                                             info.stride)
    logits = model({
        "input_word_ids": np.array([f.input_ids for f in features], np.int32),
        "input_mask": np.array([f.input_mask for f in features], np.int32),
        "input_type_ids": np.array([f.segment_ids for f in features], np.int32)}).numpy()
    per_word = words_from_tokens([f.sentence_index for f in features],
                                 np.array([f.word_ids for f in features]), logits,
                                 [len(s.words) for s in conll])
    out = []
    for word_logits, words in zip(per_word, spans):
        ids = word_logits.argmax(-1)
        probs = tf.nn.softmax(word_logits, axis=-1).numpy() if len(ids) else word_logits
        out.append(([info.labels[i] for i in ids], [float(p[i]) for p, i in zip(probs, ids)],
                    words))
    return out


def as_lists(out, i):
    """Row i of the tagger's outputs without its padding."""
    n, m = int(out["num_words"][i]), int(out["num_entities"][i])
    entities = [(out["entity_text"][i, e].numpy().decode("utf-8"),
                 out["entity_type"][i, e].numpy().decode("utf-8"),
                 int(out["entity_start"][i, e]), int(out["entity_end"][i, e]),
                 float(out["entity_score"][i, e])) for e in range(m)]
    return ([t.decode("utf-8") for t in out["tags"][i, :n].numpy()],
            out["tag_scores"][i, :n].numpy().tolist(),
            list(zip(out["word_start"][i, :n].numpy().tolist(),
                     out["word_end"][i, :n].numpy().tolist())), entities)


def check_against_python(out, want, sentences):
    """Tags, words and entities equal the Python path's; returns the entities found."""
    found = []
    for i, (sentence, (tags, probs, words)) in enumerate(zip(sentences, want)):
        got_tags, got_probs, got_words, entities = as_lists(out, i)
        assert (got_tags, got_words) == (tags, words), repr(sentence)
        assert got_probs == pytest.approx(probs, abs=1e-5)
        expected = []
        for entity_type, first, last in entity_spans(tags):
            start, end = words[first][0], words[last][1]
            expected.append((sentence[start:end], entity_type, start, end,
                             pytest.approx(np.mean(probs[first:last + 1]), abs=1e-5)))
        assert entities == expected, repr(sentence)
        assert out["tags"].shape[0] == out["num_words"].shape[0] == len(sentences)
        found += entities
    return found


def test_exported_tags_equal_run_ners_eval_predictions(tagger_export):
    run, export = tagger_export
    predictions = read_conll(str(run.output_dir / "eval_predictions.txt"))
    sentences = [" ".join(s.words) for s in predictions]
    fn = tf.saved_model.load(str(export / "tagger")).signatures["serving_default"]
    out = fn(sentences=tf.constant(sentences))
    assert sorted(out) == sorted(["tags", "tag_scores", "word_start", "word_end", "num_words",
                                  "entity_text", "entity_type", "entity_start", "entity_end",
                                  "entity_score", "num_entities"])
    final = run.output_dir / "final_model"
    info = read_ner_info(str(final))
    tokenizer = FullTokenizer(str(final / "vocab.txt"), do_lower_case=info.do_lower_case)
    windows = []
    for i, (sentence, text) in enumerate(zip(predictions, sentences)):
        tags, _, words, entities = as_lists(out, i)
        assert tags == list(sentence.tags), text
        assert [text[a:b] for a, b in words] == list(sentence.words)
        assert [(e[1], e[2], e[3]) for e in entities] == [
            (t, words[a][0], words[b][1]) for t, a, b in entity_spans(tags)]
        assert all(text[start:end] == entity_text for entity_text, _, start, end, _ in entities)
        pieces, first_piece = tokenize_words(sentence.words, tokenizer)
        windows.append(len(word_windows(first_piece, len(pieces), info.max_seq_length - 2,
                                        info.stride)))
    assert max(windows) >= 2 and min(windows) == 1  # long sentences take several windows
    assert sum(int(n) for n in out["num_entities"]) >= len(predictions)


def test_raw_sentences_equal_the_python_path(tagger_export):
    """The trained run_ner model on sentences with awkward spacing and characters."""
    run, export = tagger_export
    final = run.output_dir / "final_model"
    info = read_ner_info(str(final))
    model = load_pretrained(str(final), BertTokenClassifier, num_labels=info.num_labels)
    want = python_tags(model, info, str(final / "vocab.txt"), RAW)
    fn = tf.saved_model.load(str(export / "tagger")).signatures["serving_default"]
    entities = check_against_python(fn(sentences=tf.constant(RAW)), want, RAW)
    assert any(text == "Jóhn\tSmíth" for text, *_ in entities)  # the sentence's own spacing
    assert want[4] == ([], [], [])


@pytest.fixture(scope="module")
def random_tagger(ner_model):
    """A random tagger with a large head (its tags change with the context, so a word scored
    in another window than run_ner's gets another tag) and its vocabulary."""
    config = BertConfig.from_dict(json.loads((ner_model / "bert_config.json").read_text()))
    keras.utils.set_random_seed(11)
    model = BertTokenClassifier(config, num_labels=7).ensure_built()
    model.head.dense.kernel.assign(model.head.dense.kernel * 50.0)
    return model, str(ner_model / "vocab.txt")


@pytest.mark.parametrize("max_seq_length, stride, lower", [
    (8, 1, True), (8, 3, False), (12, 10, True), (64, 31, True)])
def test_window_settings_equal_the_python_path(random_tagger, max_seq_length, stride, lower):
    model, vocab = random_tagger
    info = NerInfo(labels=["O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"],
                   do_lower_case=lower, max_seq_length=max_seq_length, stride=stride)
    want = python_tags(model, info, vocab, RAW)
    out = tf.function(tag_fn(model, info, vocab))(tf.constant(RAW))
    check_against_python(out, want, RAW)
    assert len({tag for tags, _, _ in want for tag in tags}) >= 3
    assert any(last > first for tags, _, _ in want for _, first, last in entity_spans(tags))


def test_export_report_assets_and_no_xla(tagger_export):
    run, export = tagger_export
    report = json.loads((export / "export_report.json").read_text())
    assert report["kind"] == "tagger"
    assert report["model"] == str((run.output_dir / "final_model").resolve())
    assert sorted(report["bytes"]) == ["encoder", "preprocessor", "tagger"]
    tagger = export / "tagger"
    assert NerInfo(**json.loads((tagger / "assets" / "ner_info.json").read_text())) == \
        read_ner_info(str(run.output_dir / "final_model"))
    assert (tagger / "assets" / "vocab.txt").exists()
    assert xla_compiled_functions(tagger) == []
    assert not [n for n in os.listdir(export) if n.startswith(".staging")]
    fn = tf.saved_model.load(str(tagger)).signatures["serving_default"]
    empty = fn(sentences=tf.constant([], tf.string))
    assert empty["tags"].shape == (0, 0) and empty["num_entities"].shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError):
        fn(sentences=tf.constant([b"caf\xc3"]))  # not UTF-8


@pytest.mark.parametrize("change, message", [
    ({"max_seq_length": 600}, "max_position_embeddings"),
    ({"labels": ["O", "B-PER", "E-PER"]}, "'E-PER' is not an IOB2 tag"),
])
def test_a_bad_ner_info_is_one_error_line(tagger_export, tmp_path, change, message):
    run, _ = tagger_export
    final = run.output_dir / "final_model"
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(final):
        (broken / name).write_bytes((final / name).read_bytes())
    info = json.loads((final / "ner_info.json").read_text())
    labels = change.get("labels", info["labels"])
    if len(labels) != len(info["labels"]):
        labels = labels + [f"B-X{i}" for i in range(len(info["labels"]) - len(labels))]
    info.update(change, labels=labels)
    (broken / "ner_info.json").write_text(json.dumps(info))
    result = subprocess.run([sys.executable, "-m", "bert_tf.export", "--model", str(broken),
                             "--output", str(tmp_path / "out")], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --model:") and "ner_info.json" in last and message in last
    assert not (tmp_path / "out" / "tagger").exists()
