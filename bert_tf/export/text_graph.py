"""TF ops the raw-string exports share: words split at given whitespace characters, each word's
WordPieces, and small ragged helpers.

`bert_tf.export.squad_graph` (SQuAD's five whitespace characters) and `bert_tf.export.tagger`
(ASCII whitespace, as CoNLL columns) build their windows on `split_words` and `word_pieces`:
every word is tokenized on its own with the in-graph Google-exact tokenizer, and every piece
remembers its word, every word its text and its character offsets (Unicode code points).

Example:
    >>> words, rows, starts, lengths = split_words(tf.constant(["a  bc", "d"]), (0x20,))
    >>> words.numpy().tolist(), rows.numpy().tolist(), starts.numpy().tolist()
    ([b'a', b'bc', b'd'], [0, 0, 1], [0, 3, 0])
"""

import tensorflow as tf


def row_positions(ragged):
    """For a ragged [B, (n)]: each value's position within its row, int32 [total]."""
    starts = tf.cast(ragged.row_starts(), tf.int32)
    rows = tf.cast(ragged.value_rowids(), tf.int32)
    return tf.range(tf.size(rows, tf.int32), dtype=tf.int32) - tf.gather(starts, rows)


def split_words(texts, whitespace):
    """Texts [B] -> (words string [n_words], word_rows int32 [n_words], word_starts int32
    [n_words] (character offsets in their text), word_lengths int32 [n_words] (characters)),
    words in row order. A word is a maximal run of characters outside `whitespace` (code
    points). Text that is not UTF-8 is an `InvalidArgumentError`."""
    cps = tf.strings.unicode_decode(texts, "UTF-8", errors="strict")  # [B, (chars)]
    flat = cps.flat_values
    rows = tf.cast(cps.value_rowids(), tf.int32)
    position = row_positions(cps)
    is_space = tf.reduce_any(tf.equal(flat[:, None], tf.constant(whitespace)[None]), 1)
    previous_space = tf.concat([[True], is_space[:-1]], 0) | tf.equal(position, 0)
    is_start = ~is_space & previous_space
    word_id = tf.cumsum(tf.cast(is_start, tf.int32)) - 1
    n_words = tf.reduce_sum(tf.cast(is_start, tf.int32))
    chars = tf.RaggedTensor.from_value_rowids(
        tf.boolean_mask(flat, ~is_space), tf.boolean_mask(word_id, ~is_space), nrows=n_words)
    words = tf.strings.unicode_encode(chars, "UTF-8")
    return (words, tf.boolean_mask(rows, is_start), tf.boolean_mask(position, is_start),
            tf.cast(chars.row_lengths(), tf.int32))


def word_pieces(preprocessor, texts, whitespace, empty_word_id=None):
    """The words of `texts` [B] and their WordPieces, each word tokenized on its own.

    Args:
        preprocessor: a `BertPreprocessor` (its `tokenize` is the Google-exact tokenizer).
        texts: string [B].
        whitespace: the code points that separate words (see `split_words`).
        empty_word_id: when given, a word without pieces (a lone control or zero-width
            character) gets this one piece, as `ner_features.tokenize_words` gives it [UNK].

    Returns:
        A dict: `words`, `word_rows`, `word_starts`, `word_lengths` (as `split_words`);
        `pieces` (int32 ragged [n_words, (pieces)]); `piece_word` (int32 [n_pieces], each
        piece's global word index); `doc` (int32 ragged [B, (pieces)], each text's pieces).
    """
    words, word_rows, word_starts, word_lengths = split_words(texts, whitespace)
    pieces = preprocessor.tokenize(words).merge_dims(-2, -1)  # [n_words, (pieces)]
    if empty_word_id is not None:
        n_words = tf.size(words, tf.int32)
        filler = tf.RaggedTensor.from_row_lengths(tf.fill([n_words], empty_word_id),
                                                  tf.ones([n_words], tf.int64))
        padded = tf.concat([pieces, filler], axis=1)
        lengths = tf.maximum(tf.cast(pieces.row_lengths(), tf.int32), 1)
        starts = tf.cast(padded.row_starts(), tf.int32)
        keep = tf.ragged.range(starts, starts + lengths)
        pieces = keep.with_flat_values(tf.gather(padded.flat_values, keep.flat_values))
    piece_word = tf.cast(pieces.value_rowids(), tf.int32)
    doc = tf.RaggedTensor.from_value_rowids(pieces.flat_values, tf.gather(word_rows, piece_word),
                                            nrows=tf.size(texts, tf.int32))
    return dict(words=words, word_rows=word_rows, word_starts=word_starts,
                word_lengths=word_lengths, pieces=pieces, piece_word=piece_word, doc=doc)


def take(values, index):
    """`tf.gather(values, index)` where `index` may be `len(values)` (or `values` empty): that
    index reads a zero row."""
    pad = tf.zeros(tf.concat([[1], tf.shape(values)[1:]], 0), values.dtype)
    return tf.gather(tf.concat([values, pad], 0), tf.clip_by_value(index, 0, tf.shape(values)[0]))


def exclusive_cumsum(ragged):
    """Per-row exclusive cumulative sum of an int32 ragged [B, (n)]."""
    flat = tf.cumsum(ragged.flat_values, exclusive=True)
    offsets = take(flat, tf.cast(ragged.row_starts(), tf.int32))
    return ragged.with_flat_values(flat - tf.gather(offsets, ragged.value_rowids()))
