"""BertPreprocessor as a graph component: tf.data, SavedModel, Keras model, config, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tokenization import BertPreprocessor, FullTokenizer, VocabError, pack_tokens

TEXTS = ["Hello, World! ΟΔΟΣ", "UNwant\u00e9d running 中文", "", "a" * 250 + " ok"]
OTHER = ["second segment", "", "x y z", "\u00e9t\u00e9"]


@pytest.fixture(scope="module")
def pre(minilm_dir):
    return BertPreprocessor(str(minilm_dir / "vocab.txt"), do_lower_case=True, seq_length=24)


@pytest.fixture(scope="module")
def expected(minilm_dir):
    tokenizer = FullTokenizer(str(minilm_dir / "vocab.txt"), do_lower_case=True)
    return [pack_tokens(tokenizer.tokenize(a), tokenizer.tokenize(b), 24, tokenizer).input_ids
            for a, b in zip(TEXTS, OTHER)]


def test_inside_dataset_map(pre, expected):
    ds = tf.data.Dataset.from_tensor_slices((TEXTS, OTHER)).batch(3)
    ds = ds.map(lambda a, b: pre([a, b]), num_parallel_calls=tf.data.AUTOTUNE)
    ids = np.concatenate([batch["input_word_ids"].numpy() for batch in ds])
    assert ids.tolist() == expected
    assert ds.element_spec["input_word_ids"] == tf.TensorSpec([None, 24], tf.int32)


def test_unbatched_dataset_elements(pre, expected):
    ds = tf.data.Dataset.from_tensor_slices((TEXTS, OTHER)).map(lambda a, b: pre([a, b]))
    assert [e["input_word_ids"].numpy().tolist() for e in ds] == expected


class Serving(tf.Module):
    def __init__(self, preprocessor):
        super().__init__()
        self.preprocessor = preprocessor

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    def pack_pair(self, a, b):
        return self.preprocessor([a, b])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, strings):
        return self.preprocessor.tokenize(strings)


def test_saved_model_round_trip(pre, expected, tmp_path):
    path = str(tmp_path / "preprocessor")
    tf.saved_model.save(Serving(pre), path)
    loaded = tf.saved_model.load(path)
    out = loaded.pack_pair(tf.constant(TEXTS), tf.constant(OTHER))
    assert out["input_word_ids"].numpy().tolist() == expected
    tokenized = loaded.tokenize(tf.constant(TEXTS)).to_list()
    assert tokenized == pre.tokenize(tf.constant(TEXTS)).to_list()


def test_saved_model_with_the_fallback_wordpiece(long_token_vocab_file, corpus, tmp_path):
    # The fallback holds a lookup table (a resource): it must be tracked and restored too.
    pre = BertPreprocessor(long_token_vocab_file, do_lower_case=False, seq_length=32)
    path = str(tmp_path / "fallback")
    tf.saved_model.save(Serving(pre), path)
    loaded = tf.saved_model.load(path)
    texts = tf.constant(corpus[:60])
    got = loaded.pack_pair(texts, texts[::-1])["input_word_ids"].numpy()
    assert got.tolist() == pre([texts, texts[::-1]])["input_word_ids"].numpy().tolist()


def test_in_a_keras_functional_model(pre, expected):
    a = keras.Input(shape=(), dtype="string")
    b = keras.Input(shape=(), dtype="string")
    model = keras.Model([a, b], pre([a, b]))
    out = model([tf.constant(TEXTS), tf.constant(OTHER)])
    assert out["input_word_ids"].numpy().tolist() == expected


def test_hub_style_tokenize_then_pack(pre, expected):
    segments = [pre.tokenize(tf.constant(TEXTS)), pre.tokenize(tf.constant(OTHER))]
    packed = pre.bert_pack_inputs(segments, seq_length=24)
    assert packed["input_word_ids"].numpy().tolist() == expected
    short = pre.bert_pack_inputs(segments[:1], seq_length=5)
    assert short["input_word_ids"].shape == (4, 5) and short["input_mask"].dtype == tf.int32


def test_config_round_trip(pre):
    config = pre.get_config()
    assert config["seq_length"] == 24 and config["do_lower_case"] is True
    clone = BertPreprocessor.from_config(config)
    assert clone(tf.constant(TEXTS))["input_word_ids"].numpy().tolist() == \
        pre(tf.constant(TEXTS))["input_word_ids"].numpy().tolist()


def test_casing_inferred_like_full_tokenizer(tmp_path, original_test_vocab_file):
    folder = tmp_path / "cased_L-12_H-768_A-12"
    folder.mkdir()
    (folder / "vocab.txt").write_bytes(open(original_test_vocab_file, "rb").read())
    assert BertPreprocessor(str(folder / "vocab.txt")).do_lower_case is False


def test_invalid_utf8_input_is_an_error_naming_it(pre):
    with pytest.raises(tf.errors.InvalidArgumentError, match="input text is not valid UTF-8"):
        pre(tf.constant([b"fine", b"caf\xe9"]))


def test_bad_vocab_is_a_vocab_error(tmp_path):
    with pytest.raises(VocabError, match="cannot read vocabulary file"):
        BertPreprocessor(str(tmp_path / "missing.txt"), do_lower_case=True)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    with pytest.raises(VocabError, match=r"lacks the special token\(s\) \[CLS\], \[SEP\]"):
        BertPreprocessor(str(tmp_path / "vocab.txt"), do_lower_case=True)
