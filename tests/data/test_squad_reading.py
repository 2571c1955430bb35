"""SQuAD JSON reading: the original's whitespace split and character-to-word offsets, training
answers to word positions, skipped (and counted) answers, v2.0 impossible questions, and one
clear line for malformed files."""

import json
import logging

import pytest

from bert_tf.data import DataFormatError, MissingDataError
from bert_tf.data.squad import read_squad_examples, split_context
from squad.squad_builders import answer_at, qa, write_squad


def test_split_context_uses_the_five_squad_whitespace_characters():
    text = " a\tb\r\nc\u202fd\u00a0e  f"
    words, char_to_word, starts = split_context(text)
    # U+00A0 is not SQuAD whitespace: "d\u00a0e" stays one word (the tokenizer splits it later).
    assert words == ["a", "b", "c", "d\u00a0e", "f"]
    assert starts == [1, 3, 6, 8, 13]
    assert char_to_word == [-1, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4]
    assert [text[s:s + len(w)] for w, s in zip(words, starts)] == words


def test_training_answers_become_word_positions(tmp_path):
    context = "The man went to the store and bought a gallon of milk."
    path = write_squad(tmp_path / "train.json", [(context, [
        qa("q1", "Who went?", [answer_at(context, "man")]),
        qa("q2", "What did he buy?", [answer_at(context, "a gallon of milk")]),
        # An answer that starts inside a word covers the whole word, as in the original.
        qa("q3", "What?", [answer_at(context, "ilk")]),
    ])])
    read = read_squad_examples(path, is_training=True)
    assert read.num_questions == 3 and read.num_skipped == 0
    q1, q2, q3 = read.examples
    assert (q1.start_position, q1.end_position, q1.orig_answer_text) == (1, 1, "man")
    assert (q2.start_position, q2.end_position) == (8, 11)
    assert q2.doc_tokens[8:12] == ["a", "gallon", "of", "milk."]
    assert (q3.start_position, q3.end_position) == (11, 11)
    # A paragraph's questions share one word list (tokenized once by the features).
    assert q1.doc_tokens is q2.doc_tokens and q1.context_text == context
    assert not q1.is_impossible


def test_unicode_and_whitespace_in_the_context(tmp_path):
    context = "Caf\u00e9\u202fna\u00efve\tJohn\u00a0Smith\r\n(1895-1943).  \u00dcber"
    path = write_squad(tmp_path / "train.json", [(context, [
        qa("u1", "Who?", [answer_at(context, "John")]),
        qa("u2", "When?", [answer_at(context, "1895")]),
        qa("u3", "What?", [answer_at(context, "\u00dcber")]),
        qa("u4", "What?", [answer_at(context, "na\u00efve\tJohn")]),
        # The answer text is split at U+00A0 (Python whitespace), the context is not: the
        # original cannot find it and skips the question.
        qa("u5", "Who?", [answer_at(context, "John\u00a0Smith")]),
    ])])
    read = read_squad_examples(path, is_training=True)
    assert read.skipped_ids == ["u5"]
    words = read.examples[0].doc_tokens
    assert words == ["Caf\u00e9", "na\u00efve", "John\u00a0Smith", "(1895-1943).", "\u00dcber"]
    assert [(e.start_position, e.end_position) for e in read.examples] == \
        [(2, 2), (3, 3), (4, 4), (1, 2)]
    # The answer text as written; the tab inside it is only whitespace when matching.
    assert read.examples[3].orig_answer_text == "na\u00efve\tJohn"


def test_answer_not_at_answer_start_is_skipped_with_a_warning_and_counted(tmp_path, caplog):
    context = "The man went to the store."
    path = write_squad(tmp_path / "train.json", [
        (context, [qa("ok", "Who?", [answer_at(context, "man")]),
                   qa("moved", "Where?", [("store", 4)])]),          # points at "man"
        # answer_start on the context's leading space: no word there.
        (" The man", [qa("leading", "Who?", [("The", 0)])]),
    ])
    caplog.set_level(logging.WARNING)
    read = read_squad_examples(path, is_training=True)
    assert [e.qas_id for e in read.examples] == ["ok"]
    assert read.skipped_ids == ["moved", "leading"] and read.num_skipped == 2
    assert read.num_questions == 3
    assert "'moved' skipped" in caplog.text and "2 of 3 questions skipped" in caplog.text
    # Prediction reading never looks at the answers: nothing is skipped.
    assert len(read_squad_examples(path, is_training=False).examples) == 3


def test_several_answers_train_on_the_first(tmp_path):
    context = "Paris is the capital of France."
    path = write_squad(tmp_path / "dev.json", [(context, [
        qa("q", "What?", [answer_at(context, "France"), answer_at(context, "Paris")])])])
    example = read_squad_examples(path, is_training=True).examples[0]
    assert (example.orig_answer_text, example.start_position, example.end_position) == \
        ("France", 5, 5)


def test_version_2_impossible_questions(tmp_path):
    context = "Paris is the capital of France."
    path = write_squad(tmp_path / "v2.json", [(context, [
        qa("no", "Who?", [], is_impossible=True, plausible_answers=[{"text": "Paris",
                                                                       "answer_start": 0}]),
        qa("yes", "What?", [answer_at(context, "Paris")], is_impossible=False),
        qa("plain", "What?", [answer_at(context, "France")]),   # no flag: answerable
    ])], version="v2.0")
    read = read_squad_examples(path, is_training=True, version_2_with_negative=True)
    no, yes, plain = read.examples
    assert no.is_impossible and (no.start_position, no.end_position, no.orig_answer_text) == \
        (-1, -1, "")
    assert not yes.is_impossible and yes.start_position == 0
    assert not plain.is_impossible and plain.start_position == 5
    # Without the v2.0 flag, a question with no answer cannot be trained on.
    with pytest.raises(DataFormatError, match="'no' has no answer.*version_2_with_negative"):
        read_squad_examples(path, is_training=True)
    # Prediction reading keeps every question and, as the original, no impossibility.
    assert [e.is_impossible for e in read_squad_examples(path, False, True).examples] == \
        [False] * 3


def one_line_error(path, match, is_training=True, **kwargs):
    with pytest.raises(DataFormatError, match=match) as info:
        read_squad_examples(str(path), is_training=is_training, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [\n  {"paragraphs": [}\n]}', encoding="utf-8")
    one_line_error(path, r"line 2, column 19: not valid JSON")


@pytest.mark.parametrize("content, match", [
    ({"version": "1.1"}, 'a "data" list'),
    ([], 'a "data" list'),
    ({"data": [{"title": "x"}]}, 'article 1: "paragraphs" must be a list'),
    ({"data": [{"paragraphs": [{"qas": []}]}]}, 'article 1, paragraph 1: "context" must be'),
    ({"data": [{"paragraphs": [{"context": "a b", "qas": [{"question": "q?"}]}]}]},
     'article 1, paragraph 1, question 1 has no "id"'),
    ({"data": [{"paragraphs": [{"context": "a b", "qas": [{"id": 7, "question": "q?"}]}]}]},
     '"id" must be a string'),
    ({"data": [{"paragraphs": [{"context": "a b", "qas": [{"id": "q1"}]}]}]},
     "question 'q1': \"question\" must be a string"),
])
def test_malformed_structure(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    one_line_error(path, match)


def test_bad_answers_name_the_question(tmp_path):
    context = "The man went."
    cases = {
        "beyond": ([("went", 40)], "question 'beyond', answer 1: answer_start 40 with a "
                                   "4-character answer runs outside the 13-character context"),
        "negative": ([("The", -1)], "answer_start -1"),
        "string": ([("man", "4")], '"answer_start" must be an integer'),
        "empty": ([("", 4)], "the answer text is empty"),
    }
    for qid, (answers, match) in cases.items():
        path = write_squad(tmp_path / f"{qid}.json", [(context, [qa(qid, "Q?", answers)])])
        one_line_error(path, match)
    path = write_squad(tmp_path / "twice.json", [(context, [qa("d", "Q?", [("man", 4)]),
                                                            qa("d", "Q?", [("man", 4)])])])
    one_line_error(path, "question id 'd' occurs twice", is_training=False)
    path = write_squad(tmp_path / "flag.json", [(context, [qa("f", "Q?", [], is_impossible="no")])])
    one_line_error(path, '"is_impossible" must be true or false', version_2_with_negative=True)


def test_missing_file_and_bad_utf8(tmp_path):
    with pytest.raises(MissingDataError, match="no such file"):
        read_squad_examples(str(tmp_path / "absent.json"), is_training=True)
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"data": [{"paragraphs": [{"context": "caf\xe9", "qas": []}]}]}')
    one_line_error(path, "not valid UTF-8 at byte 42")
