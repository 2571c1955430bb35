"""BertPreprocessor: Google-exact WordPiece tokenization and packing as a Keras layer of TF ops.

Same ids as `FullTokenizer` + `packing.pack_tokens` (see `GraphBasicTokenizer` for how), with the
TF Hub preprocessor interface: `tokenize`, `bert_pack_inputs` and calling on strings. Everything
is TF / tf-text ops over constants, so it runs inside `tf.data.Dataset.map` and inside a
SavedModel (loading one needs `import tensorflow_text` to register the ops).

WordPiece runs through `tf_text.FastWordpieceTokenizer` on pre-split words, which gives the
original's greedy longest-match pieces; the original's 200-code-point word limit is applied
before it (tf-text only knows a byte limit). FastWordpiece rejects vocab tokens over 256 UTF-8
bytes; a vocab with one (no released BERT vocab has) falls back to `tf_text.WordpieceTokenizer`,
equally exact and about ten times slower.

Example:
    >>> vocab_file = "uncased_L-12_H-768_A-12/vocab.txt"
    >>> pre = BertPreprocessor(vocab_file, do_lower_case=True)  # doctest: +SKIP
    >>> pre(tf.constant(["Hello world!"]))["input_word_ids"][0, :5]  # doctest: +SKIP
    <tf.Tensor: shape=(5,), dtype=int32, numpy=array([ 101, 7592, 2088,  999,  102], dtype=int32)>
    >>> pre([tf.constant(["a question"]), tf.constant(["an answer"])])  # doctest: +SKIP
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.tokenization import casing
from bert_tf.tokenization.graph_basic_tokenizer import GraphBasicTokenizer
from bert_tf.tokenization.graph_packing import pack_segments
from bert_tf.tokenization.vocab import load_vocab
from bert_tf.tokenization.wordpiece_tokenizer import SUFFIX_INDICATOR

MAX_INPUT_CHARS_PER_WORD = 200
UNK_TOKEN = "[UNK]"
_FAST_WORDPIECE_MAX_TOKEN_BYTES = 256  # tf-text's limit, suffix indicator excluded


def _fast_wordpiece_vocab(vocab):
    """Id-ordered token list for tf-text's WordPiece, which wants unique non-empty tokens.

    Ids no token maps to (earlier copies of a duplicated line) and the "" token of a blank line
    can never be produced by the original either; they get unique stand-ins containing a space,
    which no word has.
    """
    tokens = [f"<unreachable id {i}> " for i in range(max(vocab.values()) + 1)]
    for token, index in vocab.items():
        if token:
            tokens[index] = token
    return tokens


def _wordpiece_tokenizer(tokens):
    """A tf-text WordPiece tokenizer over the id-ordered `tokens` (output int32 or int64 ids)."""
    # Words reaching WordPiece are at most 200 code points: no byte limit may cut in before that.
    max_bytes = 4 * MAX_INPUT_CHARS_PER_WORD
    longest = max(
        len(t.encode("utf-8")) - (len(SUFFIX_INDICATOR) if t.startswith(SUFFIX_INDICATOR) else 0)
        for t in tokens
    )
    if longest <= _FAST_WORDPIECE_MAX_TOKEN_BYTES:
        return tf_text.FastWordpieceTokenizer(
            vocab=tokens,
            suffix_indicator=SUFFIX_INDICATOR,
            max_bytes_per_word=max_bytes,
            token_out_type=tf.int32,
            unknown_token=UNK_TOKEN,
            no_pretokenization=True,
        )
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(tokens), tf.range(len(tokens), dtype=tf.int64)
        ),
        default_value=-1,
    )
    return tf_text.WordpieceTokenizer(
        table,
        suffix_indicator=SUFFIX_INDICATOR,
        max_bytes_per_word=max_bytes,
        token_out_type=tf.int64,
        unknown_token=UNK_TOKEN,
    )


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPreprocessor(keras.layers.Layer):
    """Strings -> BERT encoder inputs, in-graph, identical to the original Python tokenizer.

    Args:
        vocab_file: path to the WordPiece `vocab.txt`. The config keeps the path, not the
            vocabulary: a saved preprocessor reloads where that file exists.
        do_lower_case: True for uncased models, False for cased; None infers it from the vocab
            folder name as `FullTokenizer` does.
        seq_length: length of the packed outputs of `__call__` (default 128).

    Call on a string tensor [batch] (one segment) or a list of one or two of them; returns
    int32 [batch, seq_length] tensors `input_word_ids`, `input_mask`, `input_type_ids`.

    Example (a `tf.data` pipeline of encoder inputs and labels for `keras.Model.fit`):
    >>> pre = BertPreprocessor(vocab_file, seq_length=64)  # doctest: +SKIP
    >>> ds = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(32)  # doctest: +SKIP
    >>> ds = ds.map(lambda s, y: (pre(s), y))  # doctest: +SKIP
    """

    def __init__(self, vocab_file, do_lower_case=None, seq_length=128, **kwargs):
        super().__init__(**kwargs)
        # Inputs are strings and ragged tensors: keep Keras from converting or casting them.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if do_lower_case is None:
            inferred = casing.infer_do_lower_case(vocab_file)
            do_lower_case = True if inferred is None else inferred
        self.vocab_file = str(vocab_file)
        self.do_lower_case = bool(do_lower_case)
        self.seq_length = int(seq_length)
        vocab = load_vocab(vocab_file)
        self.cls_id = vocab["[CLS]"]
        self.sep_id = vocab["[SEP]"]
        self._basic = GraphBasicTokenizer(self.do_lower_case)
        self._wordpiece = _wordpiece_tokenizer(_fast_wordpiece_vocab(vocab))

    def tokenize(self, strings):
        """Strings [batch] -> int32 RaggedTensor [batch, (words), (pieces)] of WordPiece ids."""
        words = self._basic(strings)  # [batch, (words)]
        flat = words.flat_values  # [n_words]: WordPiece on a flat tensor keeps the graph small
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > MAX_INPUT_CHARS_PER_WORD
        # "[UNK]" is a vocab entry, so the greedy matcher maps it to exactly the unknown id.
        flat = tf.where(too_long, tf.constant(UNK_TOKEN), flat)
        pieces = tf.cast(self._wordpiece.tokenize(flat), tf.int32)  # [n_words, (pieces)]
        return words.with_flat_values(pieces)

    def bert_pack_inputs(self, segments, seq_length=None):
        """Packs 1 or 2 tokenized segments ([batch, (words), (pieces)] or [batch, (tokens)]).

        Truncation follows the original (longer segment first, the second on a tie).
        """
        if seq_length is None:
            seq_length = self.seq_length
        elif not tf.is_tensor(seq_length):
            seq_length = int(seq_length)
        flat = [s.merge_dims(-2, -1) if s.ragged_rank == 2 else s for s in segments]
        return pack_segments(flat, seq_length, self.cls_id, self.sep_id)

    def call(self, inputs):
        segments = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        segments = [tf.convert_to_tensor(s, tf.string) for s in segments]
        if segments[0].shape.rank == 0:  # one example (e.g. tf.data before batching)
            packed = self.call([tf.expand_dims(s, 0) for s in segments])
            return {k: tf.squeeze(v, 0) for k, v in packed.items()}
        return self.bert_pack_inputs([self.tokenize(s) for s in segments])

    def compute_output_spec(self, inputs):
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        shape = tuple(first.shape) + (self.seq_length,)
        spec = keras.KerasTensor(shape, dtype="int32")
        return {"input_word_ids": spec, "input_mask": spec, "input_type_ids": spec}

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_file=self.vocab_file,
            do_lower_case=self.do_lower_case,
            seq_length=self.seq_length,
        )
        return config
