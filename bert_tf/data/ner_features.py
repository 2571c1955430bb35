"""NER sentences -> WordPiece windows for a token-classification head, their TFRecords, and the
model's per-token outputs back to words.

Alignment: each word is tokenized on its own with the `FullTokenizer` (basic tokenization then
WordPiece, so "U.S." becomes the pieces `u . s .`). The first piece of a word carries the word's
label id; later pieces carry `IGNORE_LABEL_ID` (-1), which the loss and the metrics skip. A word
that tokenizes to nothing (a lone control or zero-width character) becomes one `[UNK]` piece,
so that it still gets a prediction.

Windows: a sentence whose pieces do not fit in `max_seq_length - 2` (room for `[CLS]` and
`[SEP]`) is split into overlapping windows, never cut. Windows hold whole words: each starts at
a word's first piece, takes as many whole words as fit, and the next one starts at the last word
boundary at most `stride` pieces further on (default: half a window, so a word seen by two
windows has about a quarter of a window of context on each side in one of them). Each word is
labelled and predicted in exactly one window, the one where its first piece has the most
context: `min(pieces left, pieces right) + 0.01 * window length`, the SQuAD rule
(`squad_features.is_max_context`); in the other windows it is context only (label -1). Training
loss, eval metrics and predictions thus count every word once. A single word with more pieces
than a window keeps its first `max_seq_length - 2` (only the first one is scored).

Mapping back: each feature records its sentence (`sentence_index`) and, at the first piece of
each word it scores, that word's index (`word_ids`, -1 elsewhere); `words_from_tokens` turns
per-token outputs (predicted ids, logits) into per-word ones with those.

TFRecords: `input_ids`, `input_mask`, `segment_ids`, `label_ids` and `word_ids`
(`max_seq_length` int64 each), `sentence_ids` and `is_real_example` (one int64 each). Padding rows
that fill the last batch have sentence -1, labels and words -1 and `is_real_example` 0.

Example:

```python
features = convert_sentences_to_features(dev, labels, 128, tokenizer)
write_ner_tfrecord("out/eval.tf_record", features, pad_to_multiple_of=8)
dataset = ner_dataset("out/eval.tf_record", 128, 8, is_training=False)
rows = read_ner_tfrecord("out/eval.tf_record", 128)
word_ids = words_from_tokens(rows["sentence_ids"], rows["word_ids"], predicted_ids,
                             [len(s.words) for s in dev])
```
"""

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from bert_tf.data.conll import NerFlagError, NerSentence
from bert_tf.data.features import encoder_inputs, pipeline_records
from bert_tf.data.pretraining import AtomicRecordWriters
from bert_tf.data.squad_features import is_max_context

IGNORE_LABEL_ID = -1
PADDING_SENTENCE = -1


@dataclasses.dataclass
class NerFeatures:
    """One window of one sentence, packed as `[CLS] pieces [SEP]` and zero-padded.

    Attributes:
        sentence_index: the sentence's index in the list converted (-1: a padding row).
        window_index: the window's index within its sentence.
        input_ids, input_mask, segment_ids: `max_seq_length` ints each (segments all 0).
        label_ids: the label id at the first piece of each word this window scores,
            `IGNORE_LABEL_ID` everywhere else.
        word_ids: that word's index in the sentence at the same positions, -1 elsewhere.
        is_real_example: False for padding rows.
    """

    sentence_index: int
    window_index: int
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    label_ids: List[int]
    word_ids: List[int]
    is_real_example: bool = True


def validate_window_settings(max_seq_length: int, stride: Optional[int] = None) -> int:
    """The stride in effect (`stride`, or half a window when None).

    Raises:
        NerFlagError: `max_seq_length` below 3 (no room for a word), or a stride outside
            1..max_seq_length - 2 (windows that skip words or do not move).
    """
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) \
            or max_seq_length < 3:
        raise NerFlagError(f"--max_seq_length must be an integer of at least 3 ([CLS], one "
                           f"piece, [SEP]), got {max_seq_length!r}")
    window = max_seq_length - 2
    if stride is None:
        return max(1, window // 2)
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= window:
        raise NerFlagError(f"the window stride must be an integer from 1 to max_seq_length - 2 "
                           f"= {window}, got {stride!r}")
    return stride


def tokenize_words(words: Sequence[str], tokenizer) -> Tuple[List[str], List[int]]:
    """(pieces of the sentence, index of each word's first piece); no word has zero pieces."""
    pieces, first_piece = [], []
    for word in words:
        first_piece.append(len(pieces))
        pieces.extend(tokenizer.tokenize(word) or ["[UNK]"])
    return pieces, first_piece


def word_windows(first_piece: Sequence[int], num_pieces: int, max_tokens: int,
                 stride: int) -> List[Tuple[int, int, int, int]]:
    """(first word, end word (exclusive), start piece, length in pieces) of each window.

    Example: words of 3, 1, 2, 2 and 1 pieces (`first_piece=[0, 3, 4, 6, 8]`, 9 pieces) in
    windows of 5 pieces with stride 3: `[(0, 2, 0, 4), (1, 4, 3, 5), (3, 5, 6, 3)]`.
    """
    bounds = list(first_piece) + [num_pieces]
    num_words, windows, first = len(first_piece), [], 0
    while first < num_words:
        start = bounds[first]
        end = first + 1
        while end < num_words and bounds[end + 1] - start <= max_tokens:
            end += 1
        windows.append((first, end, start, min(bounds[end] - start, max_tokens)))
        if end == num_words:
            break
        # The last word boundary within `stride` pieces, and at least one word on.
        following = first + 1
        while following + 1 <= end and bounds[following + 1] - start <= stride:
            following += 1
        first = following
    return windows


def window_owners(windows: Sequence[Tuple[int, int, int, int]],
                  first_piece: Sequence[int]) -> List[int]:
    """For each word, the index of the window that scores it (its first piece's most context)."""
    spans = [(start, length) for _, _, start, length in windows]
    owners = [-1] * len(first_piece)
    for index, (first, end, _, _) in enumerate(windows):
        for word in range(first, end):
            if owners[word] < 0 and is_max_context(spans, index, first_piece[word]):
                owners[word] = index
    return owners


def convert_sentences_to_features(sentences: Sequence[NerSentence], label_list: Sequence[str],
                                  max_seq_length: int, tokenizer,
                                  stride: Optional[int] = None) -> List[NerFeatures]:
    """The windows of every sentence, in order (see the module docstring).

    Args:
        sentences: `NerSentence`s (IOB2 tags, from `read_conll`).
        label_list: the model's labels (index = id); every tag must be one of them.
        max_seq_length: pieces per window including `[CLS]` and `[SEP]`.
        tokenizer: a `FullTokenizer`.
        stride: at most how many pieces a window starts after the previous one; None: half
            a window.

    Raises:
        NerFlagError: see `validate_window_settings`.
        ValueError: a tag that is not in `label_list`.
    """
    stride = validate_window_settings(max_seq_length, stride)
    max_tokens = max_seq_length - 2
    label_map = {label: index for index, label in enumerate(label_list)}
    cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    features = []
    for sentence_index, sentence in enumerate(sentences):
        try:
            label_ids = [label_map[tag] for tag in sentence.tags]
        except KeyError as e:
            raise ValueError(f"sentence {sentence_index} (line {sentence.line}): tag "
                             f"{e.args[0]!r} is not in the label list") from None
        pieces, first_piece = tokenize_words(sentence.words, tokenizer)
        windows = word_windows(first_piece, len(pieces), max_tokens, stride)
        owners = window_owners(windows, first_piece)
        for window_index, (first, end, start, length) in enumerate(windows):
            ids = [cls_id] + tokenizer.convert_tokens_to_ids(pieces[start:start + length])
            ids.append(sep_id)
            padding = [0] * (max_seq_length - len(ids))
            labels = [IGNORE_LABEL_ID] * max_seq_length
            words = [-1] * max_seq_length
            for word in range(first, end):
                if owners[word] == window_index:
                    position = 1 + first_piece[word] - start
                    labels[position], words[position] = label_ids[word], word
            features.append(NerFeatures(sentence_index, window_index, ids + padding,
                                        [1] * len(ids) + padding, [0] * max_seq_length,
                                        labels, words))
    return features


def words_from_tokens(sentence_ids, word_ids, token_values,
                      sentence_lengths: Sequence[int]) -> List[np.ndarray]:
    """Per-token model outputs -> one value per word of each sentence.

    Args:
        sentence_ids: [rows] each feature's sentence (-1: padding row).
        word_ids: [rows, seq] the word each position scores (-1: none).
        token_values: [rows, seq, ...] per-token outputs (predicted ids, logits); rows of
            padding at the end may be missing.
        sentence_lengths: the number of words of each sentence.

    Returns:
        For each sentence an array [num_words, ...] of its words' values.

    Raises:
        ValueError: a word with no value or with two (features of other sentences or
            settings), or a row of a real feature missing from `token_values`.
    """
    sentence_ids = np.asarray(sentence_ids).reshape([-1])
    word_ids = np.asarray(word_ids)
    values = np.asarray(token_values)
    real = np.flatnonzero(sentence_ids >= 0)
    if len(real) and real[-1] >= len(values):
        raise ValueError(f"token_values has {len(values)} rows; the features have "
                         f"{real[-1] + 1} up to their last real one")
    out = [np.zeros((n,) + values.shape[2:], values.dtype) for n in sentence_lengths]
    seen = [np.zeros(n, np.int64) for n in sentence_lengths]
    for row in real:
        sentence = int(sentence_ids[row])
        if sentence >= len(out):
            raise ValueError(f"row {row} is of sentence {sentence}; there are {len(out)}")
        positions = np.flatnonzero(word_ids[row] >= 0)
        words = word_ids[row, positions]
        if len(words) and words.max() >= len(out[sentence]):
            raise ValueError(f"row {row} scores word {words.max()} of sentence {sentence}, "
                             f"which has {len(out[sentence])} words")
        out[sentence][words] = values[row, positions]
        np.add.at(seen[sentence], words, 1)
    for sentence, counts in enumerate(seen):
        bad = np.flatnonzero(counts != 1)
        if len(bad):
            raise ValueError(f"sentence {sentence}, word {bad[0]} has {counts[bad[0]]} "
                             f"predictions (expected exactly one)")
    return out


# --- TFRecords --------------------------------------------------------------------------------

_SEQUENCES = ("input_ids", "input_mask", "segment_ids", "label_ids", "word_ids")


def ner_feature_spec(max_seq_length: int) -> Dict[str, tf.io.FixedLenFeature]:
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in _SEQUENCES}
    spec["sentence_ids"] = tf.io.FixedLenFeature([], tf.int64)
    spec["is_real_example"] = tf.io.FixedLenFeature([], tf.int64)
    return spec


def serialize_ner_features(feature: NerFeatures) -> bytes:
    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    row = {name: ints(getattr(feature, name)) for name in _SEQUENCES}
    row["sentence_ids"] = ints([feature.sentence_index])
    row["is_real_example"] = ints([int(feature.is_real_example)])
    return tf.train.Example(features=tf.train.Features(feature=row)).SerializeToString()


def padding_ner_features(max_seq_length: int) -> NerFeatures:
    """A row that fills the last batch: no sentence, nothing scored, weight 0."""
    zeros, none = [0] * max_seq_length, [IGNORE_LABEL_ID] * max_seq_length
    return NerFeatures(PADDING_SENTENCE, 0, list(zeros), list(zeros), list(zeros), list(none),
                       list(none), False)


def write_ner_tfrecord(path: str, features: Sequence[NerFeatures],
                       pad_to_multiple_of: int = 1) -> int:
    """Writes the windows (plus padding rows up to a multiple of a batch); the file appears only
    once complete (a failure leaves no file, an older one stays). Returns the records written."""
    rows = list(features)
    if pad_to_multiple_of > 1 and rows:
        padding = padding_ner_features(len(rows[0].input_ids))
        rows += [padding] * (-len(rows) % pad_to_multiple_of)
    writers = AtomicRecordWriters([path])
    try:
        for row in rows:
            writers.write(serialize_ner_features(row))
        writers.commit()
    except BaseException:
        writers.abort()
        raise
    return len(rows)


def read_ner_tfrecord(path: str, max_seq_length: int) -> Dict[str, np.ndarray]:
    """Every record of a file as NumPy arrays ({name: [records, ...]}), in file order."""
    spec = ner_feature_spec(max_seq_length)
    columns = {name: [] for name in spec}
    for batch in tf.data.TFRecordDataset(path).batch(1024):
        parsed = tf.io.parse_example(batch, spec)
        for name in spec:
            columns[name].append(parsed[name].numpy())
    return {name: (np.concatenate(parts) if parts
                   else np.zeros([0] + list(spec[name].shape), np.int64))
            for name, parts in columns.items()}


def ner_dataset(path: str, max_seq_length: int, batch_size: int, is_training: bool,
                seed: int = 12345, input_context: Optional[tf.distribute.InputContext] = None,
                shuffle_buffer: int = 10000) -> tf.data.Dataset:
    """Batches of (features with TF Hub input names, labels, weights).

    Labels are [batch, seq] int32 label ids, 0 where nothing is scored; weights are [batch, seq]
    float32, 1 at the positions scored (first pieces of the words a window owns, in real rows)
    and 0 elsewhere: a per-token loss weighted by them ignores later pieces, context words,
    `[CLS]`/`[SEP]`, padding and padding rows. Training data repeats and is shuffled with a
    fixed seed; otherwise file order is kept. Batches are whole (`drop_remainder`): pad eval
    files to a multiple of the batch when writing them. `batch_size` is the global batch; with
    an `input_context` each pipeline gets its per-replica share and its own shard of the rows.
    """
    spec = ner_feature_spec(max_seq_length)
    ds, per_pipeline = pipeline_records(path, batch_size, is_training, seed, input_context,
                                        shuffle_buffer)

    def decode(records):
        parsed = tf.io.parse_example(records, spec)
        features = encoder_inputs(parsed)
        scored = parsed["label_ids"] >= 0
        real = tf.cast(parsed["is_real_example"], tf.bool)[:, None]
        weights = tf.cast(tf.logical_and(scored, real), tf.float32)
        labels = tf.cast(tf.where(scored, parsed["label_ids"], 0), tf.int32)
        return features, labels, weights

    ds = ds.batch(per_pipeline, drop_remainder=True)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
