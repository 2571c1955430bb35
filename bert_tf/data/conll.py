"""CoNLL token-classification files (NER) -> sentences of words and IOB2 tags.

File format: one token per line, columns separated by spaces or tabs, the word in the first
column and the tag in the last one (or in `tag_column`); any other columns (part of speech,
chunk) are read past. A blank line ends a sentence. A line whose first column is `-DOCSTART-`
marks a new document: it is skipped and ends the sentence before it. UTF-8, with or without a
byte-order mark; `\\r\\n` line ends are accepted.

Tag schemes (`tag_scheme`, case-insensitive), all converted to IOB2 as they are read:
  * IOB1: `I-X` begins an entity unless it follows a tag of type X; `B-X` is used only where an
    entity directly follows another of the same type (the original CoNLL-2003 release).
  * IOB2 (alias BIO): every entity begins with `B-X` (the shared CoNLL-2003 copy). Read as is:
    an `I-X` that follows no entity of type X is left for the metrics, which count it as an
    entity's start, as conlleval does.
  * BIOES (alias IOBES): `S-X` is a one-word entity, `E-X` ends one; they become `B-X` / `I-X`.

Labels: with a `label_list`, every tag of the file, as written (before conversion), must be one
of them; `iob2_labels` gives the list the model uses. Without one, `labels_from_sentences` on the
training sentences gives `O` first, then the other tags sorted. Both complete each entity type
with its `B-` and `I-` tag, so that any IOB2 entity can be expressed.

Bad input raises a one-line `DataFormatError` naming the file and line: too few columns, a tag
outside the label list or not of the scheme, invalid UTF-8, no sentence at all. Settings that
cannot work (an unknown tag scheme, a tag column on the word) raise `NerFlagError`.

Example:

```python
train = read_conll("conll2003/train.txt")          # IOB2, tag in the last column
labels = labels_from_sentences(train)              # ['O', 'B-LOC', 'B-MISC', ..., 'I-PER']
dev = read_conll("conll2003/dev.txt", label_list=labels)
dev[0].words, dev[0].tags                          # ('CRICKET', '-', ...), ('O', 'O', ...)
```
"""

import dataclasses
import re
from typing import Iterable, List, Optional, Sequence, Tuple

from bert_tf.data.processors import DataFormatError, data_error, require_file
from bert_tf.tokenization.packing import describe_labels, short_repr

DOCSTART = "-DOCSTART-"
OUTSIDE = "O"

# Canonical name of each accepted spelling, and the prefixes each scheme writes.
_SCHEMES = {"iob1": "IOB1", "iob2": "IOB2", "bio": "IOB2", "bioes": "BIOES", "iobes": "BIOES"}
_PREFIXES = {"IOB1": ("B", "I"), "IOB2": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
_TO_IOB2_PREFIX = {"B": "B", "I": "I", "E": "I", "S": "B"}

# Columns split on ASCII blanks only: a no-break space inside a word stays part of the word.
_BLANKS = " \t\f\v\r"
_SEPARATOR = re.compile(r"[ \t\f\v\r]+")


class NerFlagError(ValueError):
    """Token-classification settings that cannot work; the message names the setting."""


@dataclasses.dataclass(frozen=True)
class NerSentence:
    """One sentence of a CoNLL file.

    Attributes:
        words: the first column of each token line.
        tags: each word's tag, in IOB2.
        line: the 1-based line of the sentence's first word (for messages).
    """

    words: Tuple[str, ...]
    tags: Tuple[str, ...]
    line: int = 0


def canonical_tag_scheme(name: str) -> str:
    """The scheme's canonical name, "IOB1", "IOB2" or "BIOES", for an accepted spelling
    (case-insensitive; BIO and IOBES are aliases)."""
    scheme = _SCHEMES.get(str(name).strip().lower())
    if scheme is None:
        raise NerFlagError(f"--tag_scheme={name!r} is not supported; choose one of "
                           "IOB1, IOB2 (or BIO), BIOES (or IOBES)")
    return scheme


def split_tag(tag: str) -> Tuple[str, str]:
    """("O", "") for `O`, else (prefix, type) split at the first "-": "B-PER" -> ("B", "PER").

    Raises:
        ValueError: the tag is neither `O` nor `<prefix>-<type>` with a non-empty type.
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, entity_type = tag.partition("-")
    if not dash or not prefix or not entity_type:
        raise ValueError(f"{tag!r} is neither O nor <prefix>-<type>")
    return prefix, entity_type


def tag_problem(tag: str, scheme: str) -> Optional[str]:
    """Why `tag` is not a tag of `scheme` (a canonical name), or None if it is."""
    allowed = ", ".join(p + "-" for p in _PREFIXES[scheme])
    problem = f"is not a tag of the {scheme} scheme (O, or {allowed} followed by a type)"
    try:
        prefix, _ = split_tag(tag)
    except ValueError:
        return problem
    return None if prefix == OUTSIDE or prefix in _PREFIXES[scheme] else problem


def to_iob2(tags: Sequence[str], scheme: str) -> List[str]:
    """One sentence's tags of `scheme` (valid tags, see `tag_problem`) in IOB2."""
    scheme = canonical_tag_scheme(scheme)
    if scheme == "IOB2":
        return list(tags)
    if scheme == "BIOES":
        out = []
        for tag in tags:
            prefix, entity_type = split_tag(tag)
            out.append(tag if prefix == OUTSIDE else f"{_TO_IOB2_PREFIX[prefix]}-{entity_type}")
        return out
    out, previous_type = [], ""
    for tag in tags:  # IOB1: I-X starts an entity unless the previous tag has type X.
        prefix, entity_type = split_tag(tag)
        if prefix == "I" and entity_type != previous_type:
            tag = f"B-{entity_type}"
        out.append(tag)
        previous_type = entity_type
    return out


def _complete(labels: List[str]) -> List[str]:
    """`labels` plus the missing B-/I- partner of each entity type (sorted), appended."""
    present = set(labels)
    types = sorted({split_tag(label)[1] for label in labels} - {""})
    missing = [f"{p}-{t}" for p in ("B", "I") for t in types if f"{p}-{t}" not in present]
    return labels + sorted(missing)


def labels_from_sentences(sentences: Iterable[NerSentence]) -> List[str]:
    """The label list of a training set: `O` first, then every other tag sorted (B- and I- of
    each entity type found)."""
    tags = {tag for sentence in sentences for tag in sentence.tags} - {OUTSIDE}
    return [OUTSIDE] + sorted(_complete(sorted(tags)))


def iob2_labels(label_list: Sequence[str], tag_scheme: str = "IOB2") -> List[str]:
    """The model's label list for a user's `label_list` written in `tag_scheme`: each label in
    IOB2, in the given order without repeats, then the missing B-/I- partners (sorted).

    Example: `iob2_labels(["O", "S-PER", "B-PER", "I-PER", "E-PER"], "BIOES")`
    -> `["O", "B-PER", "I-PER"]`.
    """
    scheme = canonical_tag_scheme(tag_scheme)
    labels = []
    for label in label_list:
        problem = tag_problem(label, scheme)
        if problem:
            raise NerFlagError(f"--label_list: {short_repr(label)} {problem}")
        # Out of context only the prefix changes (an IOB1 I-X may also mean I-X in IOB2).
        prefix, entity_type = split_tag(label)
        converted = label if prefix == OUTSIDE else f"{_TO_IOB2_PREFIX[prefix]}-{entity_type}"
        if converted not in labels:
            labels.append(converted)
    if not labels:
        raise NerFlagError("--label_list is empty")
    return _complete(labels)


def _check_tag_column(tag_column: int) -> int:
    """The number of columns a line needs for `tag_column` (0 is the word's own column)."""
    if isinstance(tag_column, bool) or not isinstance(tag_column, int) or tag_column == 0:
        raise NerFlagError(f"--tag_column must be a non-zero column index (1 is the second "
                           f"column, -1 the last; column 0 holds the word), got {tag_column!r}")
    return tag_column + 1 if tag_column > 0 else max(2, -tag_column + 1)


def _read_bytes(path: str) -> bytes:
    if "://" in str(path):
        import tensorflow as tf  # only remote paths (gs://...) need TF's file system

        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def _decoded_lines(path: str):
    """(1-based line number, text) of each line; invalid UTF-8 is a DataFormatError."""
    data = _read_bytes(path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    # Split on "\n" only: str.splitlines would also break at \x1c, \u2028 and the like.
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise data_error(path, number, f"not valid UTF-8 ({e.reason} at byte {e.start} "
                                           f"of the line)") from None


def read_conll(path: str, tag_scheme: str = "IOB2", label_list: Optional[Sequence[str]] = None,
               tag_column: int = -1) -> List[NerSentence]:
    """Every sentence of a CoNLL file, tags converted to IOB2 (see the module docstring).

    Args:
        path: the file (local, or a `tf.io.gfile` URL such as gs://).
        tag_scheme: "IOB1", "IOB2" (or "BIO"), "BIOES" (or "IOBES"); case-insensitive.
        label_list: the tags allowed, as written in the file; None accepts any tag of the
            scheme.
        tag_column: the tag's column: -1 (the last, default), 1 (the second), ...

    Returns:
        The sentences in file order; none is empty.

    Raises:
        NerFlagError: unknown `tag_scheme`, `tag_column` 0 or not an int.
        MissingDataError: the file does not exist.
        DataFormatError: a line with too few columns, a tag outside `label_list` or not of the
            scheme, invalid UTF-8, or a file without any sentence.
    """
    scheme = canonical_tag_scheme(tag_scheme)
    needed = _check_tag_column(tag_column)
    allowed = None if label_list is None else frozenset(label_list)
    require_file(path, "a CoNLL file")
    sentences: List[NerSentence] = []
    words: List[str] = []
    tags: List[str] = []
    first_line = 0

    def end_sentence():
        if words:
            sentences.append(NerSentence(tuple(words), tuple(to_iob2(tags, scheme)), first_line))
            words.clear()
            tags.clear()

    for number, line in _decoded_lines(path):
        text = line.strip(_BLANKS)
        if not text:
            end_sentence()
            continue
        fields = _SEPARATOR.split(text)
        if fields[0] == DOCSTART:
            end_sentence()
            continue
        if len(fields) < needed:
            where = "last" if tag_column == -1 else f"in column {tag_column}"
            raise data_error(path, number, f"expected at least {needed} columns (the word "
                                           f"first, the tag {where}), found {len(fields)}")
        tag = fields[tag_column]
        if allowed is not None and tag not in allowed:
            raise data_error(path, number, f"tag {short_repr(tag)} is not one of "
                                           f"{describe_labels(label_list)}")
        problem = tag_problem(tag, scheme)
        if problem:
            raise data_error(path, number, f"tag {short_repr(tag)} {problem}; is the tag "
                                           f"scheme right?")
        if not words:
            first_line = number
        words.append(fields[0])
        tags.append(tag)
    end_sentence()
    if not sentences:
        raise DataFormatError(f"{path}: no sentences (the file is empty or holds only blank "
                              f"and {DOCSTART} lines)")
    return sentences

