"""SQuAD v1.1 / v2.0 JSON -> `SquadExample`s, with the original run_squad.py reading rules.

The context is split into words at whitespace as the original defines it (space, tab, CR, LF
and U+202F NARROW NO-BREAK SPACE; other Unicode spaces stay inside a word and are left to the
tokenizer). Every character maps to the word it is in (whitespace to the word before it), so a
training answer's `answer_start` and length give its first and last word.

Training rules, as in the original:
  * the answer is kept only if the whitespace-normalised answer text occurs in the words it
    covers; otherwise the question is skipped with a warning (a misplaced `answer_start` or odd
    Unicode). Skipped questions are counted and listed in the result, so a script can log them;
  * with `version_2_with_negative`, a question marked `is_impossible` gets no span (positions
    -1, which the features turn into 0, the `[CLS]` token).
Two choices where the original stops with a traceback:
  * a training question with several answers (SQuAD's dev-format files list every annotator's
    answer) trains on the first one instead of stopping;
  * `is_impossible` missing from a question reads as false, so a v1.1 file reads as v2.0.
Anything else malformed (invalid JSON, no `data`, a question without `id` or text, an
`answer_start` outside its context, a duplicate id) is a one-line `DataFormatError` naming the
file and the question id or position.

Example:

```python
read = read_squad_examples("train-v1.1.json", is_training=True)
print(len(read.examples), "questions,", read.num_skipped, "skipped")
```
"""

import dataclasses
import json
from typing import List, Optional, Sequence, Tuple

from absl import logging

from bert_tf.data.processors import DataFormatError, require_file

# The original's whitespace: only these five characters separate context words.
SQUAD_WHITESPACE = frozenset(" \t\r\n\u202f")


@dataclasses.dataclass
class SquadExample:
    """One question about one paragraph.

    Attributes:
        qas_id: the question's `id`.
        question_text: the question.
        doc_tokens: the context's words (shared by the paragraph's questions).
        word_starts: each word's character offset in `context_text` (shared likewise).
        context_text: the paragraph's context, as in the file.
        orig_answer_text: training only: the answer text ("" when impossible).
        start_position, end_position: training only: the answer's first and last word
            (-1 when impossible); None when read for prediction.
        is_impossible: training with version_2_with_negative only, as the original.
    """

    qas_id: str
    question_text: str
    doc_tokens: Sequence[str]
    word_starts: Sequence[int] = ()
    context_text: str = ""
    orig_answer_text: Optional[str] = None
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False


@dataclasses.dataclass
class SquadReadResult:
    """What `read_squad_examples` read.

    Attributes:
        examples: the examples kept, in file order.
        num_questions: the questions in the file.
        skipped_ids: ids of training questions skipped because their answer text is not where
            `answer_start` points.
    """

    examples: List[SquadExample]
    num_questions: int
    skipped_ids: List[str]

    @property
    def num_skipped(self) -> int:
        return len(self.skipped_ids)


def split_context(text: str) -> Tuple[List[str], List[int], List[int]]:
    """(words, char_to_word_offset, word_starts) of a context, as the original splits it.

    `char_to_word_offset[i]` is the word holding character i; whitespace belongs to the word
    before it (-1 for leading whitespace).

    Example: `split_context("a  bc")` -> `(["a", "bc"], [0, 0, 0, 1, 1], [0, 3])`.
    """
    words, char_to_word, starts = [], [], []
    previous_is_space = True
    for index, char in enumerate(text):
        if char in SQUAD_WHITESPACE:
            previous_is_space = True
        else:
            if previous_is_space:
                words.append(char)
                starts.append(index)
            else:
                words[-1] += char
            previous_is_space = False
        char_to_word.append(len(words) - 1)
    return words, char_to_word, starts


def load_squad_json(path: str) -> list:
    """The `data` list of a SQuAD JSON file (local or any `tf.io.gfile` URL).

    Raises:
        MissingDataError: no such file.
        DataFormatError: not UTF-8, not JSON, or no `data` list.
    """
    require_file(path, "a SQuAD JSON file")
    if "://" in str(path):
        import tensorflow as tf  # only remote paths (gs://...) need TF's file system

        with tf.io.gfile.GFile(path, "rb") as f:
            raw = f.read()
    else:
        with open(path, "rb") as f:
            raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{path}: not valid UTF-8 at byte {e.start}") from None
    try:
        top = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{path}, line {e.lineno}, column {e.colno}: not valid JSON "
                              f"({e.msg})") from None
    except RecursionError:
        raise DataFormatError(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as e:  # e.g. an integer beyond Python's digit limit
        raise DataFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise DataFormatError(f'{path}: expected a JSON object with a "data" list of articles '
                              "(the SQuAD format)")
    return top["data"]


def _field(obj, key, kind, where, path):
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        what = {str: "a string", list: "a list", int: "an integer", bool: "true or false"}[kind]
        raise DataFormatError(f'{path}: {where}: "{key}" must be {what}')
    return value


def _training_answer(qa, qid, context, char_to_word, words, path):
    """(text, start word, end word) of a training answer, or None when it cannot be found."""
    answers = _field(qa, "answers", list, f"question {qid!r}", path)
    if not answers:
        raise DataFormatError(
            f"{path}: question {qid!r} has no answer (for a SQuAD v2.0 file, set "
            "version_2_with_negative; is_impossible marks unanswerable questions)")
    where = f"question {qid!r}, answer 1"
    text = _field(answers[0], "text", str, where, path)
    offset = _field(answers[0], "answer_start", int, where, path)
    if not text:
        raise DataFormatError(f"{path}: {where}: the answer text is empty")
    if offset < 0 or offset + len(text) > len(context):
        raise DataFormatError(f"{path}: {where}: answer_start {offset} with a {len(text)}-"
                              f"character answer runs outside the {len(context)}-character context")
    start = char_to_word[offset]
    end = char_to_word[offset + len(text) - 1]
    actual = " ".join(words[start:end + 1]) if start >= 0 else ""
    cleaned = " ".join(text.split())
    if actual.find(cleaned) == -1:
        logging.warning("%s: question %r skipped: the answer %r is not at answer_start %d "
                        "(the words there read %r)", path, qid, cleaned, offset, actual)
        return None
    return text, start, end


def read_squad_examples(path: str, is_training: bool,
                        version_2_with_negative: bool = False) -> SquadReadResult:
    """Reads a SQuAD v1.1/v2.0 file.

    Args:
        path: the JSON file (local or gs://).
        is_training: read the answers into word positions (training); otherwise only the
            questions and contexts are read, as the original's prediction reading.
        version_2_with_negative: training on SQuAD v2.0: read `is_impossible`.

    Returns:
        A `SquadReadResult` (examples, question count, skipped question ids).

    Raises:
        MissingDataError, DataFormatError: see the module docstring.
    """
    articles = load_squad_json(path)
    examples, skipped, seen = [], [], set()
    num_questions = 0
    for a, article in enumerate(articles, start=1):
        paragraphs = _field(article, "paragraphs", list, f"article {a}", path)
        for p, paragraph in enumerate(paragraphs, start=1):
            where = f"article {a}, paragraph {p}"
            context = _field(paragraph, "context", str, where, path)
            questions = _field(paragraph, "qas", list, where, path)
            words, char_to_word, starts = split_context(context)
            for q, qa in enumerate(questions, start=1):
                num_questions += 1
                if not isinstance(qa, dict) or "id" not in qa:
                    raise DataFormatError(f'{path}: {where}, question {q} has no "id"')
                qid = _field(qa, "id", str, f"{where}, question {q}", path)
                if qid in seen:
                    raise DataFormatError(f"{path}: {where}: question id {qid!r} occurs twice")
                seen.add(qid)
                question = _field(qa, "question", str, f"question {qid!r}", path)
                example = SquadExample(qid, question, words, starts, context)
                if is_training:
                    if version_2_with_negative and "is_impossible" in qa:
                        example.is_impossible = _field(qa, "is_impossible", bool,
                                                       f"question {qid!r}", path)
                    if example.is_impossible:
                        example.orig_answer_text, example.start_position = "", -1
                        example.end_position = -1
                    else:
                        answer = _training_answer(qa, qid, context, char_to_word, words, path)
                        if answer is None:
                            skipped.append(qid)
                            continue
                        (example.orig_answer_text, example.start_position,
                         example.end_position) = answer
                examples.append(example)
    if skipped:
        logging.warning("%s: %d of %d questions skipped: answer text not found where "
                        "answer_start points", path, len(skipped), num_questions)
    return SquadReadResult(examples, num_questions, skipped)
