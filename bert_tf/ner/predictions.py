"""`predictions.txt`: the tagged sentences in CoNLL form, written atomically.

One line per word, `WORD GOLD PRED` separated by single spaces, and a blank line after each
sentence, so conlleval and `bert_tf.data.conll.read_conll` read it back (`tag_column=1` for the
gold tags, the default last column for the predictions). Tags are IOB2, the scheme the
sentences were converted to when read; `-DOCSTART-` lines are not repeated.

The file is written atomically (`bert_tf.atomic_files`): a reader never sees half a file, and on
an error an older file stays as it was. The path may be local or a `tf.io.gfile` URL (gs://).

Example:

```python
predicted = tags_from_ids(word_ids, label_list)   # per sentence, from words_from_tokens
write_predictions("out/predictions.txt", dev_sentences, predicted)
```
"""

import os
import re
from typing import List, Sequence

from bert_tf.atomic_files import write_text_atomic
from bert_tf.data.conll import NerSentence

PREDICTIONS_FILENAME = "predictions.txt"

# A field with an ASCII blank in it would split into two columns when read back.
_BLANK = re.compile(r"[ \t\n\r\f\v]")


def tags_from_ids(ids_per_sentence: Sequence[Sequence[int]],
                  label_list: Sequence[str]) -> List[List[str]]:
    """Predicted label ids (per sentence, per word) -> tags."""
    return [[label_list[int(i)] for i in ids] for ids in ids_per_sentence]


def format_predictions(sentences: Sequence[NerSentence],
                       predicted_tags: Sequence[Sequence[str]]) -> str:
    """The text of `predictions.txt` (see the module docstring).

    Raises:
        ValueError: a different number of sentences or of tags in a sentence, or a word or
            tag holding a blank (it would not read back as one column).
    """
    if len(sentences) != len(predicted_tags):
        raise ValueError(f"{len(sentences)} sentences but predictions for "
                         f"{len(predicted_tags)}")
    lines = []
    for index, (sentence, predicted) in enumerate(zip(sentences, predicted_tags)):
        if len(predicted) != len(sentence.words):
            raise ValueError(f"sentence {index} (line {sentence.line}) has "
                             f"{len(sentence.words)} words but {len(predicted)} predicted tags")
        for fields in zip(sentence.words, sentence.tags, predicted):
            for field in fields:
                if not field or _BLANK.search(field):
                    raise ValueError(f"sentence {index} (line {sentence.line}): {field!r} is "
                                     f"empty or holds a blank; it cannot be one column")
            lines.append(" ".join(fields))
        lines.append("")
    return "".join(line + "\n" for line in lines)


def write_predictions(path: str, sentences: Sequence[NerSentence],
                      predicted_tags: Sequence[Sequence[str]]) -> str:
    """Writes `predictions.txt` (or any `path`) atomically; creates its folder; returns path.

    Raises:
        ValueError: see `format_predictions`; nothing is written then.
    """
    import tensorflow as tf

    text = format_predictions(sentences, predicted_tags)
    path = os.fspath(path)
    tf.io.gfile.makedirs(os.path.dirname(path if "://" in path else os.path.abspath(path)))
    write_text_atomic(path, text)
    return path
