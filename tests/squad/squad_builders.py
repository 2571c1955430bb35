"""Hand-built SQuAD material for the reading, feature and decoding tests: a tiny WordPiece
vocabulary (written with `support.builders.write_vocab`) and SQuAD JSON files.

With this vocabulary every word of the test contexts is one piece unless the test says
otherwise: "japanese" is `japan ##ese`, "unwanted" is `un ##want ##ed` (the pieces of the
original tokenization tests), and "(1895-1943)." is `( 1895 - 1943 ) .`.
"""

import json
import pathlib

from support.builders import ORIGINAL_TEST_VOCAB, write_vocab

WORDS = [
    "the", "man", "went", "to", "store", "and", "bought", "a", "gallon", "of", "milk", "who",
    "what", "where", "did", "he", "buy", "?", ".", "(", ")", "-", "'", "s", "1895", "1943",
    "john", "smith", "was", "born", "year", "leader", "japan", "##ese", "electronics", "is",
    "largest", "cafe", "naive", "steve", "paris", "in", "france", "capital", "city", "river",
    "seine", "flows", "through", "x", "y", "z", "q", "w",
]
SQUAD_VOCAB = ORIGINAL_TEST_VOCAB + WORDS


def squad_tokenizer(folder, do_lower_case=True):
    from bert_tf.tokenization import FullTokenizer

    path = write_vocab(pathlib.Path(folder) / "vocab.txt", SQUAD_VOCAB)
    return FullTokenizer(path, do_lower_case=do_lower_case)


def qa(qid, question, answers=(), is_impossible=None, **extra):
    """One question; `answers` are (text, answer_start) pairs."""
    item = {"id": qid, "question": question,
            "answers": [{"text": t, "answer_start": s} for t, s in answers]}
    if is_impossible is not None:
        item["is_impossible"] = is_impossible
    item.update(extra)
    return item


def squad_json(paragraphs, version="1.1"):
    """A SQuAD file's content: one article holding `paragraphs`, each (context, [qa, ...])."""
    return {"version": version,
            "data": [{"title": "Test", "paragraphs": [{"context": c, "qas": list(q)}
                                                      for c, q in paragraphs]}]}


def write_squad(path, paragraphs, version="1.1"):
    path = pathlib.Path(path)
    path.write_text(json.dumps(squad_json(paragraphs, version)), encoding="utf-8")
    return str(path)


def answer_at(context, text, occurrence=0):
    """(text, answer_start) of the `occurrence`-th `text` in `context`."""
    start = -1
    for _ in range(occurrence + 1):
        start = context.index(text, start + 1)
    return text, start
