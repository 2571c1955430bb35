"""The end-to-end tagger SavedModel: raw sentences in, word tags and entities out.

What TF Serving, `bert_tf.serve` or any TF runtime calls for a run_ner model. Signature
`serving_default`, input `sentences` (string [batch], UTF-8). Every output is padded to the
batch's longest row; `num_words` and `num_entities` say how much of each row is real:
  `tags` (string [batch, words], "" after the last word): each word's IOB2 tag;
  `tag_scores` (float32 [batch, words], 0 after): the softmax probability of that tag;
  `word_start`, `word_end` (int32 [batch, words], -1 after): the word's characters;
  `num_words` (int32 [batch]);
  `entity_text`, `entity_type` (string [batch, entities], "" after): `sentence[start:end]`
      and the type (`PER` of `B-PER`);
  `entity_start`, `entity_end` (int32 [batch, entities], -1 after): the entity's first
      word's start and last word's end;
  `entity_score` (float32 [batch, entities], 0 after): the mean of its words' `tag_scores`;
  `num_entities` (int32 [batch]).
Offsets count Unicode code points (Python `str` indices), `end` exclusive.

The steps follow run_ner's prediction path (`bert_tf.data.ner_features`), as TF ops:
  1. words are the runs of characters between the six ASCII whitespace characters (space, tab,
     line feed, carriage return, vertical tab, form feed), the blanks CoNLL columns and lines
     are split at; other spaces (no-break space, U+3000, ...) stay inside a word;
  2. each word is WordPiece-tokenized on its own, a word without pieces becoming one [UNK]
     (`tokenize_words`);
  3. windows of `max_seq_length - 2` pieces holding whole words, the next one starting at the
     last word boundary at most `stride` pieces on and at least one word on (`word_windows`);
  4. each word is scored in the window where its first piece has the most context,
     `min(left, right) + 0.01 * window length` in float64, the first window on a tie
     (`window_owners`);
  5. a word's tag is the argmax of the logits at its first piece in that window;
  6. entities follow conlleval's rules (`bert_tf.ner.metrics.entity_spans`): `B-X` starts
     one, and so does `I-X` after `O` or after a tag of another type.
The model's ner_info.json is kept as the `ner_info.json` asset (`obj.info`). Loading needs
`import tensorflow_text` first.

Example:
    >>> save_tagger(model, info, "out/tagger", "final_model/vocab.txt")  # doctest: +SKIP
    >>> tagger = tf.saved_model.load("out/tagger").signatures["serving_default"]  # doctest: +SKIP
    >>> tagger(sentences=tf.constant(["John lives in Paris ."]))["entity_text"]  # doctest: +SKIP
"""

import os
import tempfile

import tensorflow as tf

from bert_tf.checkpoints.google import VOCAB_NAME
from bert_tf.checkpoints.ner_info import NER_INFO_NAME, NerInfo
from bert_tf.data.conll import OUTSIDE, split_tag
from bert_tf.export.text_graph import exclusive_cumsum, row_positions, word_pieces
from bert_tf.modeling.portable import portable_ops
from bert_tf.tokenization.preprocessor import BertPreprocessor
from bert_tf.tokenization.vocab import load_vocab

AutoTrackable = tf.__internal__.tracking.AutoTrackable

NER_WHITESPACE = (0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C)
_FAR = tf.int32.max // 4  # past every piece offset, and still room to add a window to it
_OUTSIDE, _BEGIN, _INSIDE = 0, 1, 2


def label_codes(labels):
    """(prefix code per label (0 O, 1 B, 2 I), entity type index per label (-1 for O), type
    names). Raises ValueError for a label that is not IOB2."""
    prefixes, types, names = [], [], []
    for label in labels:
        try:
            prefix, entity_type = split_tag(label)
        except ValueError:
            prefix = None
        if prefix not in (OUTSIDE, "B", "I"):
            raise ValueError(f"label {label!r} is not an IOB2 tag (O, B-<type> or I-<type>)")
        if entity_type and entity_type not in names:
            names.append(entity_type)
        prefixes.append({OUTSIDE: _OUTSIDE, "B": _BEGIN, "I": _INSIDE}[prefix])
        types.append(names.index(entity_type) if entity_type else -1)
    return prefixes, types, names


def _last_at_most(bounds, values):
    """Per row, the last index of the sorted `bounds` [B, n] at most each of `values` [B, m]
    (-1 for none). `tf.searchsorted` fails on an empty batch: one padding row keeps it whole."""
    rows = tf.shape(bounds)[0]
    pad = lambda x: tf.concat([x, tf.zeros([1, tf.shape(x)[1]], x.dtype)], 0)  # noqa: E731
    return tf.searchsorted(pad(bounds), pad(values), side="right")[:rows] - 1


class TaggerGraph:
    """Steps 1-6 of the module docstring for one `NerInfo`.

    Args:
        preprocessor: a `BertPreprocessor` with the model's vocabulary and casing.
        unk_id: the vocabulary's [UNK] id.
        info: the `NerInfo` (labels, max_seq_length, stride).
    """

    def __init__(self, preprocessor, unk_id, info: NerInfo):
        self.pre = preprocessor
        self.unk_id = unk_id
        self.info = info
        prefixes, types, names = label_codes(info.labels)
        self.labels = tf.constant(info.labels)
        self.prefixes = tf.constant(prefixes, tf.int32)
        self.types = tf.constant(types, tf.int32)
        self.type_names = tf.constant(names + [""], tf.string)

    def windows(self, sentences):
        """Encoder inputs for every window of the batch, and what `tag` needs (steps 1-4)."""
        seq = self.info.max_seq_length
        max_tokens, stride = seq - 2, self.info.stride
        batch = tf.size(sentences, tf.int32)
        t = word_pieces(self.pre, sentences, NER_WHITESPACE, self.unk_id)
        counts = tf.cast(t["pieces"].row_lengths(), tf.int32)  # at least 1 per word
        per_sentence = tf.RaggedTensor.from_value_rowids(counts, t["word_rows"], nrows=batch)
        first_piece = exclusive_cumsum(per_sentence)  # [B, (words)] within the sentence
        n_words = tf.cast(per_sentence.row_lengths(), tf.int32)
        n_pieces = tf.reduce_sum(per_sentence, axis=1)
        widest = tf.reduce_max(tf.concat([n_words, [0]], 0))
        # bounds[b]: each word's first piece, then the sentence's piece count (`word_windows`).
        bounds = tf.concat([first_piece, tf.RaggedTensor.from_tensor(
            n_pieces[:, None], row_splits_dtype=first_piece.row_splits.dtype)], 1)
        bounds = bounds.to_tensor(default_value=_FAR, shape=tf.stack([batch, widest + 1]))
        word = tf.range(widest)[None, :]
        start = tf.where(word < n_words[:, None], bounds[:, :-1], 0)
        # For a window starting at each word: its end word (the most whole words that fit, at
        # least one) and the word the next window starts at.
        end = _last_at_most(bounds, start + max_tokens)
        end = tf.minimum(tf.maximum(end, word + 1), n_words[:, None])
        following = _last_at_most(bounds, start + stride)
        following = tf.minimum(tf.maximum(following, word + 1), end)

        def step(k, first, active, firsts, actives):
            more = active & (tf.gather(end, first, batch_dims=1) < n_words)
            first = tf.where(more, tf.gather(following, first, batch_dims=1), first)
            return k + 1, first, more, firsts.write(k + 1, first), actives.write(k + 1, more)

        first = tf.zeros([batch], tf.int32)
        active = n_words > 0
        firsts = tf.TensorArray(tf.int32, size=1, dynamic_size=True).write(0, first)
        actives = tf.TensorArray(tf.bool, size=1, dynamic_size=True).write(0, active)
        _, _, _, firsts, actives = tf.while_loop(
            lambda k, first, active, *_: tf.reduce_any(active), step,
            (tf.constant(0), first, active, firsts, actives))
        at = tf.cast(tf.where(tf.transpose(actives.stack())), tf.int32)  # [W, (row, k)]
        row = at[:, 0]
        win_first = tf.gather_nd(tf.transpose(firsts.stack()), at)
        win_end = tf.gather_nd(end, tf.stack([row, win_first], 1))
        win_start = tf.gather_nd(bounds, tf.stack([row, win_first], 1))
        win_len = tf.minimum(tf.gather_nd(bounds, tf.stack([row, win_end], 1)) - win_start,
                             max_tokens)

        j = tf.range(seq)[None, :]
        length = win_len[:, None]
        doc = t["doc"]
        last_piece = tf.gather(n_pieces, row)[:, None] - 1
        piece_at = (tf.gather(tf.cast(doc.row_starts(), tf.int32), row)[:, None]
                    + tf.minimum(tf.maximum(win_start[:, None] + j - 1, 0), last_piece))
        ids = tf.where((j >= 1) & (j <= length), tf.gather(doc.flat_values, piece_at), 0)
        ids = tf.where(tf.equal(j, 0), self.pre.cls_id, ids)
        ids = tf.where(tf.equal(j, length + 1), self.pre.sep_id, ids)
        mask = j <= length + 1
        inputs = {"input_word_ids": tf.cast(ids, tf.int32),
                  "input_mask": tf.cast(mask, tf.int32),
                  "input_type_ids": tf.zeros_like(ids, tf.int32)}

        # Step 4: each word's first piece against every window of its sentence.
        starts = tf.RaggedTensor.from_value_rowids(win_start, row, nrows=batch).to_tensor()
        lengths = tf.RaggedTensor.from_value_rowids(win_len, row, nrows=batch).to_tensor()
        word_rows = t["word_rows"]
        p = first_piece.flat_values[:, None]
        w_start, w_len = tf.gather(starts, word_rows), tf.gather(lengths, word_rows)
        holds = (p >= w_start) & (p < w_start + w_len)
        score = (tf.cast(tf.minimum(p - w_start, w_start + w_len - 1 - p), tf.float64)
                 + tf.constant(0.01, tf.float64) * tf.cast(w_len, tf.float64))
        best = tf.reduce_max(tf.where(holds, score, -float("inf")), axis=1, keepdims=True)
        k = tf.range(tf.shape(starts)[1])[None, :]
        owner_k = tf.reduce_min(tf.where(holds & tf.equal(score, best), k, tf.int32.max), axis=1)
        first_window = tf.cumsum(tf.math.unsorted_segment_sum(tf.ones_like(row), row, batch),
                                 exclusive=True)
        owner = tf.gather(first_window, word_rows) + owner_k
        position = 1 + first_piece.flat_values - tf.gather(win_start, owner)
        return inputs, dict(batch=batch, owner=owner, position=position, word_rows=word_rows,
                            word_index=row_positions(per_sentence),
                            word_starts=t["word_starts"], word_lengths=t["word_lengths"])

    def tag(self, sentences, logits, w):
        """The output dict of the module docstring from the windows' logits [W, seq, labels]
        (steps 5-6)."""
        batch, rows = w["batch"], w["word_rows"]
        word_logits = tf.gather_nd(logits, tf.stack([w["owner"], w["position"]], 1))
        tag_id = tf.argmax(word_logits, axis=-1, output_type=tf.int32)
        tag_score = tf.gather(tf.nn.softmax(word_logits, axis=-1), tag_id, batch_dims=1)
        word_start = w["word_starts"]
        word_end = word_start + w["word_lengths"]

        prefix, entity_type = tf.gather(self.prefixes, tag_id), tf.gather(self.types, tag_id)
        first_word = tf.equal(w["word_index"], 0)
        previous_type = tf.where(first_word, -1, tf.concat([[-1], entity_type[:-1]], 0))
        begins = tf.equal(prefix, _BEGIN) | (tf.equal(prefix, _INSIDE)
                                             & tf.not_equal(previous_type, entity_type))
        inside = tf.not_equal(prefix, _OUTSIDE)
        entity = tf.boolean_mask(tf.cumsum(tf.cast(begins, tf.int32)) - 1, inside)
        n_entities = tf.reduce_sum(tf.cast(begins, tf.int32))
        member = tf.boolean_mask(tf.range(tf.size(tag_id)), inside)  # global word index

        def per_entity(op, values):
            return op(values, entity, n_entities)

        first = per_entity(tf.math.unsorted_segment_min, member)
        last = per_entity(tf.math.unsorted_segment_max, member)
        score = (per_entity(tf.math.unsorted_segment_sum, tf.boolean_mask(tag_score, inside))
                 / tf.cast(last - first + 1, tf.float32))
        entity_row = tf.gather(rows, first)
        start, end = tf.gather(word_start, first), tf.gather(word_end, last)
        text = tf.strings.substr(tf.gather(sentences, entity_row), start, end - start,
                                 unit="UTF8_CHAR")
        names = tf.gather(self.type_names, tf.gather(entity_type, first))

        def by_word(values, pad):
            return tf.RaggedTensor.from_value_rowids(values, rows, nrows=batch).to_tensor(pad)

        def by_entity(values, pad):
            return tf.RaggedTensor.from_value_rowids(values, entity_row,
                                                     nrows=batch).to_tensor(pad)

        def count(of_rows):
            return tf.math.unsorted_segment_sum(tf.ones_like(of_rows), of_rows, batch)

        return {"tags": by_word(tf.gather(self.labels, tag_id), ""),
                "tag_scores": by_word(tag_score, 0.0),
                "word_start": by_word(word_start, -1), "word_end": by_word(word_end, -1),
                "num_words": count(rows),
                "entity_text": by_entity(text, ""), "entity_type": by_entity(names, ""),
                "entity_start": by_entity(start, -1), "entity_end": by_entity(end, -1),
                "entity_score": by_entity(score, 0.0), "num_entities": count(entity_row)}


def tag_fn(model, info: NerInfo, vocab_file):
    """sentences [B] -> the output dict of the module docstring, as TF ops."""
    model.ensure_built()
    preprocessor = BertPreprocessor(vocab_file, do_lower_case=info.do_lower_case,
                                    seq_length=info.max_seq_length)
    graph = TaggerGraph(preprocessor, load_vocab(vocab_file)["[UNK]"], info)

    def tag(sentences):
        inputs, windows = graph.windows(sentences)
        logits = model(inputs, training=False)  # [windows, seq, labels] float32
        return graph.tag(sentences, logits, windows)

    return tag


def build_tagger_module(model, info: NerInfo, vocab_file, asset_dir=None):
    """The trackable tagger object (see the module docstring)."""
    tag = tag_fn(model, info, vocab_file)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
    def serve(sentences):
        return tag(sentences)

    obj = AutoTrackable()
    obj.__call__ = serve
    obj.variables = list(model.variables)
    obj.trainable_variables = list(model.trainable_variables)
    obj.regularization_losses = []
    asset_dir = asset_dir or tempfile.mkdtemp(prefix="bert_tf_export_")
    info_path = os.path.join(asset_dir, NER_INFO_NAME)
    with open(info_path, "w", encoding="utf-8") as f:
        f.write(info.to_json())
    obj.info = tf.saved_model.Asset(info_path)
    staged_vocab = os.path.join(asset_dir, VOCAB_NAME)
    if os.path.abspath(vocab_file) != os.path.abspath(staged_vocab):
        tf.io.gfile.copy(vocab_file, staged_vocab, overwrite=True)
    obj.vocab_file = tf.saved_model.Asset(staged_vocab)
    return obj


def save_tagger(model, info: NerInfo, path, vocab_file):
    """Writes the tagger SavedModel to `path`."""
    # Plain ops (no XLA kernels): the SavedModel may be served where XLA's JIT is not built in.
    with tempfile.TemporaryDirectory(prefix="bert_tf_assets_") as assets, portable_ops():
        obj = build_tagger_module(model, info, vocab_file, assets)
        tf.saved_model.save(obj, path, signatures={"serving_default": obj.__call__})
    return path
