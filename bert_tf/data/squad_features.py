"""SQuAD examples -> model windows, with the original run_squad.py algorithm.

Per example:
  1. the question's WordPieces, cut to `max_query_length`;
  2. the context's WordPieces, word by word, remembering each piece's word
     (`tok_to_orig_index`) and each word's first piece (`orig_to_tok_index`);
  3. training: the answer's words become a WordPiece span, tightened to the tokenized
     answer text where it occurs inside it (`improve_answer_span`);
  4. windows of `max_seq_length - len(query) - 3` pieces, each starting `doc_stride` pieces
     after the previous one (`doc_windows`), the last one ending at the document's end;
  5. each window is packed as `[CLS] query [SEP] window [SEP]` (segments 0 then 1), zero-padded;
     a piece seen by several windows is "max context" in the one where
     `min(left, right context) + 0.01 * window length` is largest (`is_max_context`);
  6. training: start/end are the answer's positions in the window, or 0 (`[CLS]`) when the
     window does not hold the whole answer or the question is impossible.

`unique_id`s count from 1000000000 as in the original; the decoding in `bert_tf.squad`
matches model outputs to windows by them.

Example:

```python
features = convert_examples_to_features(read.examples, tokenizer, max_seq_length=384,
                                        doc_stride=128, max_query_length=64, is_training=True)
```
"""

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple

FIRST_UNIQUE_ID = 1000000000


class SquadFlagError(ValueError):
    """Window settings that cannot work; the message names the flag."""


@dataclasses.dataclass
class SquadFeatures:
    """One window of one example, with what decoding needs to map it back.

    Attributes:
        unique_id: the window's id (from `FIRST_UNIQUE_ID`).
        example_index: the example's index in the list converted.
        doc_span_index: the window's index within its example.
        tokens: the real (unpadded) WordPieces, `[CLS] query [SEP] window [SEP]`.
        token_to_orig_map: position in `tokens` -> context word, for the window's pieces.
        token_is_max_context: position in `tokens` -> whether this window is the piece's
            max-context window.
        input_ids, input_mask, segment_ids: `max_seq_length` ints each.
        start_position, end_position: training targets (0 when there is no answer in the
            window); None for prediction.
        is_impossible: the example is a v2.0 impossible question (training).
    """

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: List[str]
    token_to_orig_map: Dict[int, int]
    token_is_max_context: Dict[int, bool]
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False


def validate_window_flags(max_seq_length: int, doc_stride: int, max_query_length: int) -> None:
    """Raises `SquadFlagError` for settings that give no room for the context or windows that
    do not overlap (`doc_stride` at or above the shortest window,
    `max_seq_length - max_query_length - 3`)."""
    for name, value in (("max_seq_length", max_seq_length), ("doc_stride", doc_stride),
                        ("max_query_length", max_query_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SquadFlagError(f"--{name} must be a positive integer, got {value!r}")
    if max_seq_length <= max_query_length + 3:
        raise SquadFlagError(f"--max_seq_length ({max_seq_length}) must be greater than "
                             f"--max_query_length ({max_query_length}) + 3")
    shortest = max_seq_length - max_query_length - 3
    if doc_stride >= shortest:
        raise SquadFlagError(
            f"--doc_stride ({doc_stride}) must be smaller than max_seq_length - "
            f"max_query_length - 3 = {shortest}, the shortest document window, so that "
            "windows overlap")


def doc_windows(num_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> List[Tuple[int, int]]:
    """(start, length) of each window over `num_tokens` document pieces.

    Example: `doc_windows(10, 4, 3)` -> `[(0, 4), (3, 4), (6, 4)]`.
    """
    windows, start = [], 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens_for_doc)
        windows.append((start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return windows


def is_max_context(windows: Sequence[Tuple[int, int]], window_index: int, position: int) -> bool:
    """Whether `windows[window_index]` gives document piece `position` its most context.

    A window's score for a piece is `min(left, right context) + 0.01 * window length`; the
    first window with the highest score wins.
    """
    best_score, best_index = None, None
    for index, (start, length) in enumerate(windows):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return window_index == best_index


def improve_answer_span(doc_tokens: Sequence[str], start: int, end: int, tokenizer,
                        answer_text: str) -> Tuple[int, int]:
    """The widest sub-span of pieces `start..end` whose pieces equal the tokenized answer.

    The annotation covers whole context words; an answer "1895" inside the word
    "(1895-1943)." is the pieces `( 1895 - 1943 ) .` cut down to `1895`. When no sub-span
    matches (an answer inside a single piece, "Japan" in "Japanese"), the span is unchanged.
    """
    target = " ".join(tokenizer.tokenize(answer_text))
    for new_start in range(start, end + 1):
        for new_end in range(end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start:new_end + 1]) == target:
                return new_start, new_end
    return start, end


def _tokenize_words(words, tokenizer):
    pieces, piece_word, word_first_piece = [], [], []
    for index, word in enumerate(words):
        word_first_piece.append(len(pieces))
        for piece in tokenizer.tokenize(word):
            piece_word.append(index)
            pieces.append(piece)
    return pieces, piece_word, word_first_piece


def _answer_pieces(example, pieces, word_first_piece, tokenizer):
    """The training answer's (start, end) pieces, or (-1, -1) when impossible."""
    if example.is_impossible:
        return -1, -1
    start = word_first_piece[example.start_position]
    if example.end_position < len(example.doc_tokens) - 1:
        end = word_first_piece[example.end_position + 1] - 1
    else:
        end = len(pieces) - 1
    return improve_answer_span(pieces, start, end, tokenizer, example.orig_answer_text)


def convert_examples_to_features(examples, tokenizer, max_seq_length: int = 384,
                                 doc_stride: int = 128, max_query_length: int = 64,
                                 is_training: bool = False,
                                 output_fn: Optional[Callable[[SquadFeatures], None]] = None,
                                 first_unique_id: int = FIRST_UNIQUE_ID) -> List[SquadFeatures]:
    """Windows of every example (see the module docstring).

    Args:
        examples: `SquadExample`s (from `read_squad_examples`).
        tokenizer: a `FullTokenizer`.
        max_seq_length, doc_stride, max_query_length: as the original's flags.
        is_training: compute start/end targets (the examples must have been read for training).
        output_fn: if given, called with each window as it is made, and nothing is kept
            (returns an empty list): for files too large to hold.
        first_unique_id: the first window's `unique_id`.

    Returns:
        The windows in order (examples in order, each example's windows in order).

    Raises:
        SquadFlagError: see `validate_window_flags`.
    """
    validate_window_flags(max_seq_length, doc_stride, max_query_length)
    features: List[SquadFeatures] = []
    unique_id = first_unique_id
    cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    cached_words, cached = None, None
    for example_index, example in enumerate(examples):
        query = tokenizer.tokenize(example.question_text)[:max_query_length]
        # A paragraph's questions share its word list: tokenize the context once for them.
        if example.doc_tokens is not cached_words:
            cached_words = example.doc_tokens
            cached = _tokenize_words(cached_words, tokenizer)
        pieces, piece_word, word_first_piece = cached
        if is_training:
            answer_start, answer_end = _answer_pieces(example, pieces, word_first_piece, tokenizer)
        windows = doc_windows(len(pieces), max_seq_length - len(query) - 3, doc_stride)
        head = ["[CLS]"] + query + ["[SEP]"]
        head_ids = [cls_id] + tokenizer.convert_tokens_to_ids(query) + [sep_id]
        offset = len(head)
        for window_index, (start, length) in enumerate(windows):
            window = pieces[start:start + length]
            tokens = head + window + ["[SEP]"]
            to_orig = {offset + i: piece_word[start + i] for i in range(length)}
            max_context = {offset + i: is_max_context(windows, window_index, start + i)
                           for i in range(length)}
            padding = [0] * (max_seq_length - len(tokens))
            input_ids = head_ids + tokenizer.convert_tokens_to_ids(window) + [sep_id] + padding
            input_mask = [1] * len(tokens) + padding
            segment_ids = [0] * offset + [1] * (length + 1) + padding
            start_position = end_position = None
            if is_training:
                inside = start <= answer_start and answer_end <= start + length - 1
                if example.is_impossible or not inside:
                    start_position = end_position = 0
                else:
                    start_position = answer_start - start + offset
                    end_position = answer_end - start + offset
            feature = SquadFeatures(unique_id, example_index, window_index, tokens, to_orig,
                                    max_context, input_ids, input_mask, segment_ids,
                                    start_position, end_position, example.is_impossible)
            if output_fn is None:
                features.append(feature)
            else:
                output_fn(feature)
            unique_id += 1
    return features
