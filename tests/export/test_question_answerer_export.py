"""The question_answerer SavedModel against run_squad's Python prediction path: the same answer
texts and context offsets (squad_features -> model -> postprocess.compute_predictions) for
contexts longer than one window, long questions, punctuation, accents and runs of whitespace;
every span's text and offsets as `get_final_text` gives them; and the export's bookkeeping."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401 - registers the tokenizer ops the SavedModel uses

from bert_tf.checkpoints import SquadInfo, load_pretrained
from bert_tf.data.squad import read_squad_examples
from bert_tf.data.squad_features import convert_examples_to_features
from bert_tf.export.question_answerer import id_to_token
from bert_tf.export.squad_graph import SquadGraph
from bert_tf.modeling import BertQuestionAnswerer
from bert_tf.squad.postprocess import _span_answer, compute_predictions, raw_results
from bert_tf.tokenization import BertPreprocessor, FullTokenizer
from squad.squad_builders import SQUAD_VOCAB, qa, write_squad
from support.builders import write_vocab

from export.conftest import xla_compiled_functions

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Several windows at max_seq_length 32; double spaces, a tab, a newline, U+202F (a SQuAD word
# break), U+00A0 (inside a word), accents precomposed and combining, possessives, brackets.
LONG = ("The man  went to the store and bought a gallon of milk. Steve Smith's cafe, the "
        "largest in Paris (1895-1943), is where the river Seine flows through the capital city "
        "of France.\tJohn Smith was born in the year 1895;\nhe bought a naïve café and "
        "Cafe\u0301 in Japanese electronics.  The   leader\u202fwho went to Paris? x\u00a0y z.")
SHORT = "Paris is the capital city of France."
PARAGRAPHS = [
    (LONG, [qa("long1", "Who bought a gallon of milk?"),
            qa("long2", "Where is the store, the river, the city and the cafe of the leader?"),
            qa("long3", "What year was John Smith born?")]),
    (" \t ", [qa("blank", "Is there anything?")]),
    (SHORT, [qa("short", "What is the capital of France?")]),
]


def python_answers(final, info, squad_file):
    """{id: (text, start, end, score, null odds)} from the Python pipeline, in the export's
    terms: no answer is ("", -1, -1)."""
    model = load_pretrained(str(final), BertQuestionAnswerer)
    tokenizer = FullTokenizer(str(final / "vocab.txt"), do_lower_case=info.do_lower_case)
    examples = read_squad_examples(squad_file, is_training=False).examples
    features = convert_examples_to_features(examples, tokenizer, info.max_seq_length,
                                            info.doc_stride, info.max_query_length)
    logits = model({
        "input_word_ids": np.array([f.input_ids for f in features], np.int32),
        "input_mask": np.array([f.input_mask for f in features], np.int32),
        "input_type_ids": np.array([f.segment_ids for f in features], np.int32)}).numpy()
    answers = compute_predictions(
        examples, features, raw_results([f.unique_id for f in features], logits[..., 0],
                                        logits[..., 1]),
        info.n_best_size, info.max_answer_length, info.do_lower_case,
        info.version_2_with_negative, info.null_score_diff_threshold)
    out = {}
    for example in examples:
        entries = answers.nbest[example.qas_id]
        text = answers.predictions[example.qas_id]
        best = next(e for e in entries if e.text) if info.version_2_with_negative else entries[0]
        odds = answers.null_odds[example.qas_id] if answers.null_odds else None
        if text == "" or best.start_char is None:  # no answer, or the "empty" placeholder
            out[example.qas_id] = ("", -1, -1, None, odds)
        else:
            out[example.qas_id] = (text, best.start_char, best.end_char,
                                   best.start_logit + best.end_logit, odds)
    return examples, out


def exported_answers(export, examples):
    fn = tf.saved_model.load(str(export)).signatures["serving_default"]
    return fn(question=tf.constant([e.question_text for e in examples]),
              context=tf.constant([e.context_text for e in examples]))


@pytest.mark.parametrize("version_2", [False, True], ids=["v1.1", "v2.0"])
def test_exported_answers_equal_the_python_pipelines(squad_export, version_2, tmp_path):
    final, export, info = squad_export(version_2)
    squad_file = write_squad(tmp_path / "dev.json", PARAGRAPHS)
    examples, want = python_answers(final, info, squad_file)
    got = exported_answers(export, examples)
    assert sorted(got) == sorted(["text", "start", "end", "score"]
                                 + (["has_answer", "null_odds"] if version_2 else []))
    for i, example in enumerate(examples):
        text, start, end, score, odds = want[example.qas_id]
        assert (got["text"][i].numpy().decode("utf-8"), int(got["start"][i]),
                int(got["end"][i])) == (text, start, end), example.qas_id
        if start >= 0:
            assert example.context_text[start:end].split() == text.split()
            assert got["score"][i].numpy() == pytest.approx(score, rel=1e-6)
        if version_2:
            assert bool(got["has_answer"][i]) == (start >= 0)
            assert got["null_odds"][i].numpy() == pytest.approx(odds, rel=1e-6, abs=1e-6)
    # What this model's answers cover: a context without words, a question without any valid
    # span ("empty" in Python), an answer in the long context's last window, a partial word
    # ("1895" of "1895;"); in v2.0, questions answered and not.
    assert want["blank"][:3] == want["short"][:3] == ("", -1, -1)
    assert want["long2"][:3] == ("1895", LONG.index("1895;"), LONG.index("1895;") + 4)
    if version_2:
        assert [want[q][1] >= 0 for q in ("long1", "long2", "long3")] == [False, True, False]
    else:
        assert want["long1"][1] > len(LONG) - 30


SPAN_CONTEXTS = [
    LONG[:150],
    LONG[150:],
    "Steve Smith's (1895-1943). CAFE\u0301 x\u00a0y ΣΑΣ 日本 l'été İstanbul a##b [UNK] -- ...",
]


@pytest.mark.parametrize("do_lower_case", [True, False], ids=["uncased", "cased"])
def test_every_span_maps_back_as_get_final_text_does(do_lower_case, tmp_path):
    """All spans of up to 10 pieces of some awkward contexts: text and character offsets equal
    postprocess's (alignment, partial words, the whole-words fallback)."""
    vocab = write_vocab(tmp_path / "vocab.txt", SQUAD_VOCAB)
    info = SquadInfo(do_lower_case=do_lower_case, max_seq_length=128, doc_stride=16,
                     max_query_length=8)
    squad_file = write_squad(tmp_path / "spans.json",
                             [(c, [qa(f"c{i}", "who?")]) for i, c in enumerate(SPAN_CONTEXTS)])
    examples = read_squad_examples(squad_file, is_training=False).examples
    tokenizer = FullTokenizer(vocab, do_lower_case=do_lower_case)
    features = convert_examples_to_features(examples, tokenizer, 128, 16, 8)
    assert len(features) == len(examples)  # one window each: doc position = token - offset
    rows, want = [], []
    for example, feature in zip(examples, features):
        doc = sorted(feature.token_to_orig_map)
        for first in doc:
            for last in doc[doc.index(first):doc.index(first) + 10]:
                rows.append((example, first - doc[0], last - doc[0]))
                want.append(_span_answer(example, feature, first, last, do_lower_case, False))
    graph = SquadGraph(BertPreprocessor(vocab, do_lower_case, 128), id_to_token(vocab), info)
    _, windows = graph.windows(tf.constant([r[0].question_text for r in rows]),
                               tf.constant([r[0].context_text for r in rows]))
    span = {"has": tf.ones([len(rows)], tf.bool),
            "doc_first": tf.constant([r[1] for r in rows]),
            "doc_last": tf.constant([r[2] for r in rows])}
    text, start, end = graph.answer_text(span, windows)
    got = list(zip([t.decode("utf-8") for t in text.numpy()], start.numpy().tolist(),
                   end.numpy().tolist()))
    assert got == [tuple(w) for w in want]
    # The cases the alignment has: partial words and whole-word fallbacks both occur.
    joined = [" ".join(r[0].doc_tokens) for r in rows]
    assert any(w[0] not in j.split() and " " not in w[0] for w, j in zip(want, joined))


def test_export_report_assets_and_no_xla(squad_export):
    final, export, info = squad_export(False)
    report = json.loads((export.parent / "export_report.json").read_text())
    assert report["kind"] == "question_answerer"
    assert report["model"] == str(final.resolve())
    assert sorted(report["bytes"]) == ["encoder", "preprocessor", "question_answerer"]
    assert SquadInfo(**json.loads((export / "assets" / "squad_info.json").read_text())) == info
    assert (export / "assets" / "vocab.txt").read_text().split("\n")[:3] == SQUAD_VOCAB[:3]
    assert xla_compiled_functions(export) == []
    assert not [n for n in os.listdir(export.parent) if n.startswith(".staging")]


def test_batches_empty_and_mismatched(squad_export):
    _, export, _ = squad_export(False)
    fn = tf.saved_model.load(str(export)).signatures["serving_default"]
    empty = fn(question=tf.constant([], tf.string), context=tf.constant([], tf.string))
    assert empty["text"].shape == (0,) and empty["start"].shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        fn(question=tf.constant(["a", "b"]), context=tf.constant(["a"]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        fn(question=tf.constant(["a"]), context=tf.constant([b"caf\xc3"]))  # not UTF-8


def test_a_bad_squad_info_is_one_error_line(squad_export, tmp_path):
    final, _, _ = squad_export(False)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(final):
        (broken / name).write_bytes((final / name).read_bytes())
    (broken / "squad_info.json").write_text('{"max_seq_length": 600}')
    result = subprocess.run([sys.executable, "-m", "bert_tf.export", "--model", str(broken),
                             "--output", str(tmp_path / "out")], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --model:") and "squad_info.json" in last
    assert not (tmp_path / "out" / "question_answerer").exists()
