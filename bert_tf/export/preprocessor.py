"""The preprocessor SavedModel with the TF Hub BERT preprocessor API (REFERENCE.md section 6).

  * `obj(strings)`: a batch of strings -> the encoder's input dict, packed to `seq_length`;
  * `obj.tokenize(strings)`: int32 RaggedTensor [batch, words, pieces];
  * `obj.bert_pack_inputs(segments, seq_length=N)`: packs a list of one or two tokenized
    segments to any length N (default: the export's `seq_length`);
  * `obj.vocab_file` (asset) and `obj.do_lower_case`; signature `serving_default` (strings).
The tokenizer is `BertPreprocessor` (tensorflow-text), whose ids equal the original Python
tokenizer's. Loading needs `import tensorflow_text` first (its ops live there).

Example:
    >>> save_preprocessor("uncased_L-12_H-768_A-12/vocab.txt", "out/preprocessor")  # doctest: +SKIP
"""

import os
import tempfile

import tensorflow as tf

from bert_tf.checkpoints.google import VOCAB_NAME
from bert_tf.tokenization.preprocessor import BertPreprocessor

AutoTrackable = tf.__internal__.tracking.AutoTrackable
STRINGS = tf.TensorSpec([None], tf.string, name="strings")


def _tokenized_spec():
    return tf.RaggedTensorSpec([None, None, None], tf.int32, ragged_rank=2)


def build_preprocessor_module(vocab_file, do_lower_case=True, seq_length=128,
                              max_seq_length=512, asset_dir=None):
    """The trackable preprocessor object (see the module docstring)."""
    layer = BertPreprocessor(vocab_file, do_lower_case=do_lower_case, seq_length=seq_length)
    obj = AutoTrackable()

    @tf.function(input_signature=[STRINGS])
    def call(strings):
        return layer(strings)

    obj.__call__ = call
    tokenize = AutoTrackable()
    tokenize.__call__ = tf.function(layer.tokenize, input_signature=[STRINGS])
    obj.tokenize = tokenize

    default_length = seq_length

    def pack(segments, seq_length=None):
        if seq_length is None:
            seq_length = default_length
        # A tensor length (the traced signature) gives outputs of dynamic length; the
        # position table bounds it.
        seq_length = tf.convert_to_tensor(seq_length, tf.int32)
        tf.debugging.assert_less_equal(seq_length, max_seq_length,
                                       message="seq_length exceeds max_position_embeddings")
        return layer.bert_pack_inputs(list(segments), seq_length=seq_length)

    pack_fn = tf.function(pack)
    for count in (1, 2):
        pack_fn.get_concrete_function([_tokenized_spec()] * count)
        pack_fn.get_concrete_function([_tokenized_spec()] * count,
                                      seq_length=tf.TensorSpec([], tf.int32))
    bert_pack_inputs = AutoTrackable()
    bert_pack_inputs.__call__ = pack_fn
    obj.bert_pack_inputs = bert_pack_inputs

    asset_dir = asset_dir or tempfile.mkdtemp(prefix="bert_tf_export_")
    staged_vocab = os.path.join(asset_dir, VOCAB_NAME)
    if os.path.abspath(vocab_file) != os.path.abspath(staged_vocab):
        tf.io.gfile.copy(vocab_file, staged_vocab, overwrite=True)
    obj.vocab_file = tf.saved_model.Asset(staged_vocab)
    obj.do_lower_case = tf.Variable(bool(layer.do_lower_case), trainable=False,
                                    name="do_lower_case")
    return obj


def save_preprocessor(vocab_file, path, do_lower_case=True, seq_length=128, max_seq_length=512):
    """Writes the preprocessor SavedModel to `path`."""
    with tempfile.TemporaryDirectory(prefix="bert_tf_assets_") as assets:
        obj = build_preprocessor_module(vocab_file, do_lower_case, seq_length, max_seq_length,
                                        assets)
        tf.saved_model.save(obj, path, signatures={"serving_default": obj.__call__})
    return path
