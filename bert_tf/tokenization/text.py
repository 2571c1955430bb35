"""Turning caller input into `str`: UTF-8 only, with an error that says where the bad bytes are.

The original decoded bytes with `errors="ignore"`, silently dropping undecodable bytes. Here they
are an error (`TextDecodeError`) naming the source (file and line when the caller knows them) and
the byte offset, because silently altered training text is worse than a stopped run.

Example:
    >>> convert_to_unicode(b"caf\\xc3\\xa9")
    'café'
    >>> convert_to_unicode(b"a\\xffb", source="train.tsv:3")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bert_tf...TextDecodeError: train.tsv:3: text is not valid UTF-8 at byte 1 (b'a\\xffb')
"""


class TextDecodeError(ValueError):
    """Input bytes that are not valid UTF-8 (the message names the source and the byte)."""


def convert_to_unicode(text, source=None):
    """Returns `text` as `str`, decoding `bytes` as strict UTF-8.

    Args:
        text: `str` (returned as is) or `bytes`/`bytearray` (decoded as UTF-8).
        source: optional "file:line" (or any label) to put in the error message.

    Raises:
        TextDecodeError: undecodable bytes.
        TypeError: any other type.
    """
    if isinstance(text, str):
        return text
    where = f"{source}: " if source else ""
    if isinstance(text, (bytes, bytearray)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            snippet = bytes(text[max(0, e.start - 20) : e.end + 20])
            raise TextDecodeError(
                f"{where}text is not valid UTF-8 at byte {e.start} ({snippet!r})"
            ) from None
    raise TypeError(f"{where}expected str or UTF-8 bytes, got {type(text).__name__}")
