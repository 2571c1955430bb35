"""run_squad's prediction path as TF ops: question + context strings -> windows -> answer.

Every step mirrors the Python pipeline (`bert_tf.data.squad`, `squad_features`,
`bert_tf.squad.postprocess`) on a batch of (question, context) pairs, so a SavedModel can
answer raw strings:

  1. the context is split into words at the five SQuAD whitespace characters, each word keeping
     its first character's offset; every word is WordPiece-tokenized on its own, each piece
     remembering its word;
  2. the question's pieces are cut to `max_query_length`; windows of
     `max_seq_length - len(question) - 3` pieces start every `doc_stride` pieces, the last one
     ending at the context's end, each packed as `[CLS] question [SEP] window [SEP]`;
  3. each piece's max-context window is the one with the largest
     `min(left, right context) + 0.01 * window length` (float64, as Python computes it; the
     first window on a tie);
  4. the model gives start/end logits for every window of the batch at once;
  5. per window, the `n_best_size` best starts (lowest position first on a tie, as
     `best_indexes`) are paired with the `n_best_size` best ends, dropping pairs outside the
     window's context part, starts outside their max-context window, ends before starts and
     spans over `max_answer_length`; the best score (start + end logit, float64) over the
     example's windows wins, ties going to the pair Python's stable sort puts first;
  6. the span's text is projected onto the context as `final_text_span` does: the pieces
     joined and un-`##`-ed are searched in the basic-tokenized words, and aligned character by
     character outside spaces, else the whole words are the answer.
  7. v2.0: the null score is the smallest `start[0] + end[0]` over the windows; the example
     has an answer when null score - best score <= `null_score_diff_threshold`.

Where Python's decoding has no span at all it answers the placeholder "empty"; here the
answer is "" at -1/-1 with score 0 (and `has_answer` false). With `n_best_size=1` in v2.0,
Python's n-best list can hold only the null answer and then compares the threshold against
that placeholder; here the best span is always compared.
"""

import tensorflow as tf

from bert_tf.export.text_graph import exclusive_cumsum as _exclusive_cumsum
from bert_tf.export.text_graph import take as _take
from bert_tf.export.text_graph import word_pieces
from bert_tf.tokenization.graph_basic_tokenizer import GraphBasicTokenizer

SQUAD_WHITESPACE = (0x20, 0x09, 0x0D, 0x0A, 0x202F)  # bert_tf.data.squad.SQUAD_WHITESPACE
_SPACE = 0x20


class SquadGraph:
    """The steps above for one model and one set of `SquadInfo` settings.

    Args:
        preprocessor: a `BertPreprocessor` (its `tokenize` is the Google-exact tokenizer).
        id_to_token: the vocabulary as a list, token string per id.
        info: the `SquadInfo`.
    """

    def __init__(self, preprocessor, id_to_token, info):
        self.pre = preprocessor
        self.info = info
        self.tokens = tf.constant(id_to_token)
        self.basic = GraphBasicTokenizer(info.do_lower_case)

    # Steps 1-3: windows.
    def windows(self, questions, contexts):
        """Encoder inputs for every window of the batch, and what decoding needs."""
        info = self.info
        seq = info.max_seq_length
        batch = tf.size(contexts, tf.int32)
        query = self.pre.tokenize(questions).merge_dims(-2, -1)[:, :info.max_query_length]
        query_len = tf.cast(query.row_lengths(), tf.int32)
        context = word_pieces(self.pre, contexts, SQUAD_WHITESPACE)
        words, word_starts, word_lengths = (context["words"], context["word_starts"],
                                            context["word_lengths"])
        piece_word, doc = context["piece_word"], context["doc"]  # global word index per piece
        doc_len = tf.cast(doc.row_lengths(), tf.int32)
        doc_start = tf.cast(doc.row_starts(), tf.int32)

        room = seq - query_len - 3  # pieces per window
        extra = tf.maximum(doc_len - room, 0)
        count = tf.where(doc_len > 0, 1 + (extra + info.doc_stride - 1) // info.doc_stride, 0)
        row = tf.repeat(tf.range(batch), count)  # [W]
        k = tf.ragged.range(count).flat_values
        win_start = k * info.doc_stride
        n, room_w, q_w = tf.gather(doc_len, row), tf.gather(room, row), tf.gather(query_len, row)
        win_len = tf.minimum(n - win_start, room_w)

        j = tf.range(seq)[None, :]
        q_w, win_len_c, win_start_c = q_w[:, None], win_len[:, None], win_start[:, None]
        doc_pos = win_start_c + j - q_w - 2
        in_doc = (j >= q_w + 2) & (j < q_w + 2 + win_len_c)
        in_query = (j >= 1) & (j <= q_w)
        query_ids = tf.gather(query.to_tensor(shape=[None, info.max_query_length]), row)
        query_ids = tf.gather(query_ids, tf.clip_by_value(j - 1, 0, info.max_query_length - 1)
                              + tf.zeros_like(doc_pos), batch_dims=1)
        flat_index = tf.gather(doc_start, row)[:, None] + tf.clip_by_value(
            doc_pos, 0, tf.maximum(n[:, None] - 1, 0))
        doc_ids = tf.gather(doc.flat_values, flat_index)
        sep, cls = self.pre.sep_id, self.pre.cls_id
        ids = tf.where(in_doc, doc_ids, tf.where(in_query, query_ids, 0))
        ids = tf.where(tf.equal(j, 0), cls, ids)
        ids = tf.where(tf.equal(j, q_w + 1) | tf.equal(j, q_w + 2 + win_len_c), sep, ids)
        mask = j <= q_w + 2 + win_len_c
        types = (j >= q_w + 2) & mask
        inputs = {"input_word_ids": tf.cast(ids, tf.int32),
                  "input_mask": tf.cast(mask, tf.int32),
                  "input_type_ids": tf.cast(types, tf.int32)}

        # Step 3: against every window k of the same example.
        kk = tf.range(tf.reduce_max(tf.concat([count, [0]], 0)))[None, None, :]
        other_start = kk * info.doc_stride
        other_len = tf.minimum(n[:, None, None] - other_start, room_w[:, None, None])
        other_end = other_start + other_len - 1
        p = doc_pos[:, :, None]
        holds = ((kk < tf.gather(count, row)[:, None, None]) & (p >= other_start)
                 & (p <= other_end))
        score = (tf.cast(tf.minimum(p - other_start, other_end - p), tf.float64)
                 + tf.constant(0.01, tf.float64) * tf.cast(other_len, tf.float64))
        best = tf.reduce_max(tf.where(holds, score, -float("inf")), axis=2, keepdims=True)
        first = tf.reduce_min(tf.where(holds & tf.equal(score, best), kk, tf.int32.max), axis=2)
        max_context = in_doc & tf.equal(first, k[:, None])
        return inputs, dict(
            row=row, in_doc=in_doc, max_context=max_context, doc_pos=doc_pos, batch=batch,
            doc_start=doc_start, piece_ids=doc.flat_values, piece_word=piece_word, words=words,
            word_starts=word_starts, word_lengths=word_lengths)

    # Steps 4-5: the best span of each example.
    def best_spans(self, logits, w):
        """Per example: whether it has a valid span (`has`), the span's first and last
        document piece, its start and end logits and score (float64), and for v2.0 the null
        odds. `logits`: the model's [windows, seq, 2]; `w`: what `windows` returned."""
        info = self.info
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        n_best = min(info.n_best_size, info.max_seq_length)
        starts = tf.math.top_k(start_logits, n_best).indices  # ties: lower position first
        ends = tf.math.top_k(end_logits, n_best).indices
        valid = (tf.gather(w["max_context"], starts, batch_dims=1)[:, :, None]
                 & tf.gather(w["in_doc"], ends, batch_dims=1)[:, None, :])
        length = ends[:, None, :] - starts[:, :, None] + 1
        valid &= (length >= 1) & (length <= info.max_answer_length)
        start_score = tf.cast(tf.gather(start_logits, starts, batch_dims=1), tf.float64)
        end_score = tf.cast(tf.gather(end_logits, ends, batch_dims=1), tf.float64)
        score = start_score[:, :, None] + end_score[:, None, :]
        flat_valid = tf.reshape(valid, [-1, n_best * n_best])
        flat_score = tf.where(flat_valid, tf.reshape(score, [-1, n_best * n_best]),
                              -float("inf"))
        window_best = tf.reduce_max(flat_score, axis=1)
        window_has = tf.reduce_any(flat_valid, axis=1)
        # Python visits starts, then ends, by rank: the first pair visited wins a tie.
        order = tf.range(n_best * n_best)[None, :]
        pair = tf.reduce_min(tf.where(flat_valid & tf.equal(flat_score, window_best[:, None]),
                                      order, n_best * n_best), axis=1)
        pair = tf.minimum(pair, n_best * n_best - 1)
        w_start = tf.gather(starts, pair // n_best, batch_dims=1)
        w_end = tf.gather(ends, pair % n_best, batch_dims=1)

        row, batch = w["row"], w["batch"]
        has = tf.math.unsorted_segment_max(tf.cast(window_has, tf.int32), row, batch) > 0
        best = tf.math.unsorted_segment_max(window_best, row, batch)
        windows = tf.size(row)
        # The first window reaching the example's best score; `windows` (a padding row that
        # `_take` supplies) for an example without any valid span.
        chosen = tf.math.unsorted_segment_min(
            tf.where(window_has & tf.equal(window_best, _take(best, row)), tf.range(windows),
                     windows), row, batch)
        chosen = tf.where(has, chosen, windows)
        start_at, end_at = _take(w_start, chosen), _take(w_end, chosen)
        doc_pos = _take(w["doc_pos"], chosen)
        start_logit = tf.gather(_take(start_logits, chosen), start_at, batch_dims=1)
        end_logit = tf.gather(_take(end_logits, chosen), end_at, batch_dims=1)
        span = {"has": has,
                "doc_first": tf.gather(doc_pos, start_at, batch_dims=1),
                "doc_last": tf.gather(doc_pos, end_at, batch_dims=1),
                "start_logit": tf.where(has, tf.cast(start_logit, tf.float64), 0.0),
                "end_logit": tf.where(has, tf.cast(end_logit, tf.float64), 0.0)}
        span["score"] = span["start_logit"] + span["end_logit"]
        if info.version_2_with_negative:
            null = (tf.cast(start_logits[:, 0], tf.float64)
                    + tf.cast(end_logits[:, 0], tf.float64))
            windows_of = tf.math.unsorted_segment_sum(tf.ones_like(row), row, batch)
            null = tf.math.unsorted_segment_min(null, row, batch)
            # As postprocess: null score - start logit - end logit, where a question without
            # a span has the "empty" placeholder's logits 0; 0 without any window.
            odds = null - span["start_logit"] - span["end_logit"]
            span["null_odds"] = tf.where(windows_of > 0, odds, 0.0)
        return span

    # Step 6: the span's text and its offsets in the context.
    def answer_text(self, span, w):
        """(text, first character, end character) per example, from the span's pieces."""
        has = span["has"]
        first_piece = w["doc_start"] + span["doc_first"]
        last_piece = w["doc_start"] + span["doc_last"]
        count = tf.where(has, last_piece - first_piece + 1, 0)
        piece_index = tf.ragged.range(first_piece, first_piece + count)
        pieces = tf.gather(self.tokens, tf.gather(w["piece_ids"], piece_index))
        pred = tf.strings.reduce_join(pieces, axis=1, separator=" ")
        pred = tf.strings.regex_replace(pred, " ##", "")
        pred = tf.strings.regex_replace(pred, "##", "")
        pred = tf.strings.regex_replace(tf.strings.strip(pred), " +", " ")

        first_word = _take(w["piece_word"], first_piece)
        last_word = _take(w["piece_word"], last_piece)
        word_index = tf.ragged.range(first_word,
                                     first_word + tf.where(has, last_word - first_word + 1, 0))
        orig = tf.strings.reduce_join(tf.gather(w["words"], word_index), axis=1, separator=" ")
        tok = tf.strings.reduce_join(self.basic(orig), axis=1, separator=" ")

        found = tf.map_fn(_find, (tok, pred), fn_output_signature=tf.int32)
        found = tf.where(tf.equal(pred, ""), -1, found)
        tok_chars = _NonSpace(tok)
        orig_chars = _NonSpace(orig)
        aligned = (found >= 0) & tf.equal(tok_chars.count, orig_chars.count)
        pred_len = tf.strings.length(pred, unit="UTF8_CHAR")
        first_ns = tok_chars.non_spaces_before(tf.maximum(found, 0))
        last_ns = tok_chars.non_spaces_before(tf.maximum(found + pred_len - 1, 0))
        orig_len = tf.strings.length(orig, unit="UTF8_CHAR")
        start = tf.where(aligned, orig_chars.position_of(first_ns), 0)
        end = tf.where(aligned, orig_chars.position_of(last_ns) + 1, orig_len)
        text = tf.strings.substr(orig, start, end - start, unit="UTF8_CHAR")

        # Offsets in the words joined by single spaces -> offsets in the context.
        lengths = tf.gather(w["word_lengths"], word_index) + 1
        joined = _exclusive_cumsum(lengths)  # [B, (words)]: each word's start in `orig`

        def in_context(offset):
            word = tf.reduce_sum(tf.cast(joined <= offset[:, None], tf.int32), axis=1) - 1
            word = tf.maximum(word, 0)
            at = tf.cast(joined.row_starts(), tf.int32) + word
            return (_take(w["word_starts"], first_word + word) + offset
                    - _take(joined.flat_values, at))

        return text, in_context(start), in_context(end - 1) + 1


def _find(args):
    """The character offset of `needle` in `haystack` (scalars), -1 when absent: `str.find`.
    UTF-8 is self-synchronising, so the first byte match is the first character match."""
    haystack, needle = args
    parts = tf.strings.split(haystack, sep=needle, maxsplit=1)  # [] for an empty haystack
    before = tf.concat([parts, [""]], 0)[0]
    return tf.where(tf.size(parts) > 1, tf.strings.length(before, unit="UTF8_CHAR"), -1)


class _NonSpace:
    """The characters other than " " of strings [B] (`final_text_span`'s alignment)."""

    def __init__(self, strings):
        chars = tf.strings.unicode_decode(strings, "UTF-8")
        kept = tf.cast(tf.not_equal(chars.flat_values, _SPACE), tf.int32)
        self.row_starts = tf.cast(chars.row_starts(), tf.int32)
        # before[i]: kept characters before flat position i (one entry past the end too).
        self.before = tf.concat([[0], tf.cumsum(kept)], 0)
        self.positions = tf.cast(tf.where(kept > 0)[:, 0], tf.int32)  # flat index of each
        self.count = tf.reduce_sum(chars.with_flat_values(kept), axis=1)

    def non_spaces_before(self, offset):
        """Kept characters before character `offset` of each row."""
        return (_take(self.before, self.row_starts + offset)
                - _take(self.before, self.row_starts))

    def position_of(self, index):
        """The character offset, within its row, of each row's `index`-th kept character."""
        first_kept = _take(self.before, self.row_starts)
        return _take(self.positions, first_kept + index) - self.row_starts
