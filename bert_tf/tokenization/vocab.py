"""Loading a WordPiece `vocab.txt`: one token per line, the line number (from 0) is the id.

Follows the original `load_vocab`: every line is a token after `str.strip()` (so a blank line is
the token "" and takes an id), and a token that occurs twice keeps its first position in the
dict's order but maps to its last id. On top of that the file is validated: it must exist, be
non-empty UTF-8 and hold the special tokens every BERT input needs.

Example:
    >>> vocab = load_vocab("uncased_L-12_H-768_A-12/vocab.txt")  # doctest: +SKIP
    >>> vocab["[CLS]"], len(vocab)  # doctest: +SKIP
    (101, 30522)
"""

import collections
import os

REQUIRED_TOKENS = ("[CLS]", "[SEP]", "[UNK]", "[PAD]")


class VocabError(ValueError):
    """A vocabulary file that cannot be used (the message names the file and line)."""


def _read_remote(path):
    """The bytes of a URL such as `gs://...`, through tf.io.gfile (TensorFlow is imported only
    for such paths, so local use stays TensorFlow-free)."""
    import tensorflow as tf

    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.OpError as e:
        reason = e.message.splitlines()[0] if e.message else type(e).__name__
        raise VocabError(f"{path}: cannot read vocabulary file ({reason})") from None


def load_vocab(vocab_file):
    """Reads `vocab_file` into an `OrderedDict[str, int]` (token -> id).

    Args:
        vocab_file: path to a UTF-8 text file with one token per line; a local path or a URL
            `tf.io.gfile` reads (`gs://...`).

    Raises:
        VocabError: missing, empty or non-UTF-8 file, or one of `REQUIRED_TOKENS` absent.
    """
    path = os.fspath(vocab_file)
    data = _read_remote(path) if "://" in path else None
    if data is None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise VocabError(f"{path}: cannot read vocabulary file ({e.strerror or e})") from None
    if not data:
        raise VocabError(f"{path}: vocabulary file is empty")
    # Lines end at "\n" only, as the original's readline did ("\r\n" leaves "\r": strip() drops it).
    raw_lines = data.split(b"\n")
    if data.endswith(b"\n"):
        raw_lines.pop()
    vocab = collections.OrderedDict()
    for index, raw in enumerate(raw_lines):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise VocabError(
                f"{path}:{index + 1}: not valid UTF-8 at byte {e.start} of the line ({raw[:40]!r})"
            ) from None
        vocab[line.strip()] = index
    missing = [t for t in REQUIRED_TOKENS if t not in vocab]
    if missing:
        raise VocabError(f"{path}: vocabulary lacks the special token(s) {', '.join(missing)}")
    return vocab
