"""Fuzzing the data readers: random bytes, and valid files with one random mutation.

Each reader is called as the scripts call it (the task processors through `get_processor`,
`read_squad_examples`, `read_conll`). It must either return its examples or raise one of
`bert_tf.errors.USER_ERRORS`, which the scripts print as one line, with a message of one line
naming the file. Any other exception would reach a user as a traceback and fails the test.
Runs are derandomized, so CI sees the same examples on every run.
"""

import json
import pathlib
import tempfile

import pytest

pytest.importorskip("hypothesis", reason="fuzzing needs hypothesis (pip install -e '.[test]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bert_tf.data.conll import read_conll  # noqa: E402
from bert_tf.data.processors import get_processor  # noqa: E402
from bert_tf.data.squad import read_squad_examples  # noqa: E402
from bert_tf.errors import USER_ERRORS  # noqa: E402
from data.task_layouts import GLUE_LAYOUTS, XNLI_LAYOUT, write_layout  # noqa: E402
from data.test_conll import THREE_COLUMNS  # noqa: E402
from squad.squad_builders import answer_at, qa, squad_json  # noqa: E402

FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow])

# Byte strings that mean something to one of the formats, for insertions.
TOKENS = [b"\t", b"\n", b"\r", b"\r\n", b"\n\n", b'"', b"'", b",", b" ", b"\x00", b"\x0b",
          b"\x1c", b"\xef\xbb\xbf", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x80\xa8",
          b"\xc2\x85", b"\xf4\x90\x80\x80", b"-DOCSTART-", b"O", b"B-", b"-X", b"I-PER",
          b"S-LOC", b"{", b"}", b"[", b"]", b":", b"null", b"true", b"-1", b"0", b"1e999",
          b"NaN", b"Infinity", b'""', b'"\\ud800"', b'"\\u0000"', b"\\", b'"x": ', b"#",
          b"label", b"sentence", b"index", b"contradictory", b"entailment", b"5.000"]
fragment = st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=8))


@st.composite
def mutated(draw, valid):
    """`valid` with one mutation: an insertion, deletion, replacement, cut or repeat."""
    kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "repeat"]))
    i = draw(st.integers(0, len(valid)))
    if kind == "truncate":
        return valid[:i]
    j = draw(st.integers(i, min(len(valid), i + 24)))
    if kind == "delete":
        return valid[:i] + valid[j:]
    if kind == "repeat":
        return valid[:j] + valid[i:j] * draw(st.integers(1, 30)) + valid[j:]
    piece = draw(fragment)
    return valid[:i] + piece + (valid[i:] if kind == "insert" else valid[j:])


def contents(valid):
    """Random bytes or a one-mutation copy of `valid`."""
    return st.one_of(st.binary(max_size=400), mutated(valid))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_readers")


def fresh_dir(workdir):
    # Hypothesis runs many examples per test: each gets a directory of its own.
    return pathlib.Path(tempfile.mkdtemp(dir=workdir))


def read_or_user_error(path, read):
    """read() -> its result, or None after checking the user error it raised."""
    try:
        return read()
    except USER_ERRORS as error:
        message = str(error)
        assert len(message.splitlines()) == 1, f"{type(error).__name__}: {message!r}"
        assert str(path) in message, f"the message does not name {path}: {message!r}"
        return None


# --- Task processors (run_classifier's --task_name) ---------------------------------------

# Your own tasks: name -> (get_processor options, the rows of train, dev and test).
CUSTOM = {
    "tsv": ({}, [["a good film", "pos"], ["a bad one", "neg"]]),
    "csv": ({"text_a_column": "text", "text_b_column": "other", "label_column": "label",
             "has_header": True},
            [["text", "other", "label"], ['"a, quoted" text', "b", "pos"], ["c", "d", "neg"]]),
}


def task_dir(directory, task):
    """(processor, data_dir) of `task` with its valid fixture files."""
    if task in CUSTOM:
        options, rows = CUSTOM[task]
        delimiter = "\t" if task == "tsv" else ","
        for split in ("train", "dev", "test"):
            text = "".join(delimiter.join(r) + "\n" for r in rows)
            (directory / f"{split}.{task}").write_text(text, encoding="utf-8")
        return get_processor(task, **options), str(directory)
    layout = XNLI_LAYOUT if task == "xnli" else GLUE_LAYOUTS[task.split("_")[0]]
    return get_processor(task), write_layout(directory, layout)


def split_file(processor, task, data_dir, split):
    if task in CUSTOM:
        return pathlib.Path(data_dir) / f"{split}.{task}"
    if task == "xnli":
        name = {"train": "multinli/multinli.train.zh.tsv", "dev": "xnli.dev.tsv",
                "test": "xnli.test.tsv"}[split]
        return pathlib.Path(data_dir) / name
    return pathlib.Path(processor.path_of(data_dir, split))


def read_split(processor, data_dir, split):
    """What run_classifier reads for `split` (GLUE test sets also give the submission index)."""
    if split == "train":
        return processor.get_train_examples(data_dir), processor.get_labels(data_dir)
    if split == "dev":
        return processor.get_dev_examples(data_dir)
    examples = processor.get_test_examples(data_dir)
    index = processor.test_index(data_dir) if hasattr(processor, "test_index") else None
    return examples, index


TASKS = ["mrpc", "cola", "sst2", "stsb", "qqp", "mnli", "mnli_mismatched", "qnli", "rte",
         "wnli", "xnli", "tsv", "csv"]


@settings(max_examples=1500, **FUZZ)
@given(task=st.sampled_from(TASKS), split=st.sampled_from(["train", "dev", "test"]),
       data=st.data())
def test_task_files_give_examples_or_one_line(workdir, task, split, data):
    processor, data_dir = task_dir(fresh_dir(workdir), task)
    path = split_file(processor, task, data_dir, split)
    path.write_bytes(data.draw(contents(path.read_bytes()), label="file"))
    read_or_user_error(path, lambda: read_split(processor, data_dir, split))


# --- SQuAD JSON ---------------------------------------------------------------------------

CONTEXT = "The man went to the store and bought a gallon of milk.\tCafé\u202fnaïve"
VALID_SQUAD = squad_json([
    (CONTEXT, [qa("q1", "Who went?", [answer_at(CONTEXT, "man")]),
               qa("q2", "What?", [answer_at(CONTEXT, "a gallon of milk")], is_impossible=False),
               qa("q3", "Why?", [], is_impossible=True)]),
    ("Second paragraph .", [qa("q4", "Which?", [answer_at("Second paragraph .", "Second")])]),
], version="2.0")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats()
    | st.text(max_size=12) | st.sampled_from(["", "q1", "man", "\ud800"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["data", "paragraphs", "context", "qas", "id", "question",
                                       "answers", "text", "answer_start", "is_impossible"])
                      | st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def _nodes(value, path=()):
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, child in children:
        yield from _nodes(child, path + (key,))


@st.composite
def squad_documents(draw):
    """The valid document with one node replaced by a random JSON value, or deleted."""
    doc = json.loads(json.dumps(VALID_SQUAD))
    path = draw(st.sampled_from(list(_nodes(doc))))
    if not path:
        return draw(json_values)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return doc


SQUAD_FLAGS = st.sampled_from([(True, False), (True, True), (False, False)])


def read_squad(path, flags):
    is_training, version_2 = flags
    return read_squad_examples(str(path), is_training, version_2_with_negative=version_2)


@settings(max_examples=1000, **FUZZ)
@given(raw=contents(json.dumps(VALID_SQUAD).encode("utf-8")), flags=SQUAD_FLAGS)
def test_squad_bytes_give_examples_or_one_line(workdir, raw, flags):
    path = fresh_dir(workdir) / "train.json"
    path.write_bytes(raw)
    read_or_user_error(path, lambda: read_squad(path, flags))


@settings(max_examples=1000, **FUZZ)
@given(doc=squad_documents(), flags=SQUAD_FLAGS)
def test_squad_structures_give_examples_or_one_line(workdir, doc, flags):
    path = fresh_dir(workdir) / "train.json"
    # ensure_ascii keeps a lone surrogate as its \ud800 escape, as JSON files carry it.
    path.write_text(json.dumps(doc), encoding="utf-8")
    read_or_user_error(path, lambda: read_squad(path, flags))


# Inputs beyond the mutations' reach that json.loads rejects with ValueError / RecursionError
# instead of JSONDecodeError (found by fuzzing).
@pytest.mark.parametrize("raw", [
    b'{"data": [' + b"1" * 4301 + b"]}",  # beyond Python's integer digit limit
    b"[" * 100000,
], ids=["huge-integer", "deep-nesting"])
def test_squad_json_that_json_loads_rejects_oddly_is_one_line(tmp_path, raw):
    path = tmp_path / "train.json"
    path.write_bytes(raw)
    read_or_user_error(path, lambda: read_squad(path, (True, False)))


# --- CoNLL --------------------------------------------------------------------------------

CONLL_OPTIONS = st.sampled_from([
    {}, {"tag_scheme": "IOB1"}, {"tag_scheme": "bioes"}, {"tag_column": 1},
    {"tag_column": 2}, {"label_list": ["O", "B-ORG", "B-MISC", "B-PER", "I-PER"]},
])


@settings(max_examples=1500, **FUZZ)
@given(raw=contents(THREE_COLUMNS.encode("utf-8")), options=CONLL_OPTIONS)
def test_conll_files_give_sentences_or_one_line(workdir, raw, options):
    path = fresh_dir(workdir) / "train.txt"
    path.write_bytes(raw)
    sentences = read_or_user_error(path, lambda: read_conll(str(path), **options))
    for sentence in sentences or ():
        assert sentence.words and len(sentence.words) == len(sentence.tags)
