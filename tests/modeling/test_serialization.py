"""Keras serialization of every bert_tf layer and model: registered names, get_config/from_config,
serialize/deserialize and `.keras` files give the same object back, weights and outputs included.

Outputs are compared with training=False, where dropout is the identity, so a reloaded model
must give the saved model's outputs bit for bit."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf.checkpoints import load_pretrained, save_google_checkpoint
from bert_tf.modeling import (BertClassificationHead, BertClassifier, BertConfig, BertDropout,
                              BertEmbeddings, BertEncoder, BertLayerNorm, BertMaskedLMHead,
                              BertNextSentenceHead, BertPooler, BertPretrainer,
                              BertQuestionAnswerer, BertSelfAttention, BertSpanHead,
                              BertTokenClassificationHead, BertTokenClassifier,
                              BertTransformerBlock, INPUT_NAMES, attention_mask_bias, gelu_exact)
from bert_tf.modeling.fused_dense import BertDense
from bert_tf.tokenization import BertPreprocessor
from support.builders import random_classifier_features
from support.graphs import dtype_policy

H, SEQ = 32, 9  # TINY_CONFIG's hidden size; a sequence length with padding in the batch

REGISTERED = [
    BertEncoder, BertClassifier, BertPretrainer, BertQuestionAnswerer, BertTokenClassifier,
    BertMaskedLMHead,
    BertNextSentenceHead, BertClassificationHead, BertSpanHead, BertTokenClassificationHead,
    BertEmbeddings, BertSelfAttention, BertTransformerBlock, BertPooler, BertLayerNorm,
    BertDropout, BertDense, BertPreprocessor,
]


def encoder_inputs(batch=4, seq=SEQ, seed=0):
    rows = random_classifier_features(batch, seq, seed=seed)
    return {"input_word_ids": np.array([r.input_ids for r in rows], np.int32),
            "input_mask": np.array([r.input_mask for r in rows], np.int32),
            "input_type_ids": np.array([r.segment_ids for r in rows], np.int32)}


def as_numpy(outputs):
    """A model's outputs (tensor, dict or list of them) as a flat {path: float32 array}."""
    flat = {}

    def walk(path, value):
        if isinstance(value, dict):
            for key in sorted(value):
                walk(f"{path}/{key}", value[key])
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{path}/{i}", item)
        else:
            flat[path] = np.asarray(tf.cast(value, tf.float32))

    walk("", outputs)
    return flat


def assert_same_outputs(got, want):
    got, want = as_numpy(got), as_numpy(want)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def save_and_load(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    return keras.models.load_model(path)


@pytest.mark.parametrize("cls", REGISTERED, ids=lambda c: c.__name__)
def test_registered_under_bert_tf(cls):
    name = f"bert_tf>{cls.__name__}"
    assert keras.saving.get_registered_name(cls) == name
    assert keras.saving.get_registered_object(name) is cls


MODELS = {
    "encoder": lambda config: BertEncoder(config),
    "classifier_cls": lambda config: BertClassifier(config, num_labels=3, pooling="cls"),
    "classifier_mean": lambda config: BertClassifier(config, num_labels=3, pooling="mean"),
    "pretrainer": lambda config: BertPretrainer(config),
    "question_answerer": lambda config: BertQuestionAnswerer(config),
    "token_classifier": lambda config: BertTokenClassifier(config, num_labels=5),
}


def model_inputs(model):
    inputs = encoder_inputs()
    if isinstance(model, BertPretrainer):
        inputs["masked_lm_positions"] = np.array([[1, 2], [0, 3], [2, 2], [1, 1]], np.int32)
    return inputs


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_model_keras_file_round_trip(kind, tiny_config_dict, tmp_path):
    model = MODELS[kind](BertConfig.from_dict(tiny_config_dict))
    inputs = model_inputs(model)
    want = model(inputs, training=False)
    loaded = save_and_load(model, tmp_path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert loaded.config == model.config
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, expected)
    assert_same_outputs(loaded(inputs, training=False), want)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_model_config_round_trip(kind, tiny_config_dict):
    model = MODELS[kind](BertConfig.from_dict(tiny_config_dict))
    inputs = model_inputs(model)
    want = model(inputs, training=False)
    for clone in (type(model).from_config(model.get_config()),
                  keras.saving.deserialize_keras_object(
                      keras.saving.serialize_keras_object(model))):
        clone.ensure_built()
        assert clone.get_config() == model.get_config()
        assert [w.path for w in clone.weights] == [w.path for w in model.weights]
        clone.set_weights(model.get_weights())
        assert_same_outputs(clone(inputs, training=False), want)


def test_wrapped_encoder_keeps_its_name_and_extra_config_keys(tiny_config_dict, tmp_path):
    tiny_config_dict["directionality"] = "bidi"  # an unknown key, kept in BertConfig.extra
    encoder = BertEncoder(BertConfig.from_dict(tiny_config_dict), name="minilm")
    model = BertClassifier(encoder=encoder, num_labels=2)
    inputs = encoder_inputs()
    want = model(inputs)
    loaded = save_and_load(model, tmp_path)
    assert loaded.encoder.name == "minilm"
    assert loaded.config.extra == {"directionality": "bidi"}
    assert_same_outputs(loaded(inputs), want)


def test_encoder_in_a_functional_model_round_trip(tiny_config_dict, tmp_path):
    """The TF Hub way of using an encoder: keras.Input dict -> encoder -> a new head."""
    encoder = BertEncoder(BertConfig.from_dict(tiny_config_dict))
    symbolic = {name: keras.Input((None,), dtype="int32", name=name) for name in INPUT_NAMES}
    outputs = encoder(symbolic)
    assert outputs["sequence_output"].shape == (None, None, H)
    assert len(outputs["encoder_outputs"]) == tiny_config_dict["num_hidden_layers"]
    model = keras.Model(symbolic, keras.layers.Dense(5)(outputs["pooled_output"]))
    inputs = encoder_inputs()
    want = model(inputs)
    assert_same_outputs(save_and_load(model, tmp_path)(inputs), want)


def test_mixed_precision_model_reloads_under_another_global_policy(tiny_config_dict, tmp_path):
    """The policy a model was built with comes back with it, in every sublayer: a model saved
    by a `--dtype=bfloat16` run and loaded in a float32 process computes as it did."""
    with dtype_policy("mixed_bfloat16"):
        model = BertPretrainer(BertConfig.from_dict(tiny_config_dict))
        inputs = model_inputs(model)
        want = model(inputs)
        model.save(tmp_path / "model.keras")
    assert keras.config.dtype_policy().name == "float32"
    loaded = keras.models.load_model(tmp_path / "model.keras")
    dtypes = {layer.path: layer.dtype_policy.name
              for layer in model._flatten_layers(include_self=True)}
    assert {layer.path: layer.dtype_policy.name
            for layer in loaded._flatten_layers(include_self=True)} == dtypes
    assert dtypes["bert_pretrainer/bert_encoder/transformer_layer_0/attention"] == "mixed_bfloat16"
    assert_same_outputs(loaded(inputs), want)


def test_reloaded_model_writes_the_same_google_checkpoint(tiny_config_dict, tmp_path):
    model = BertPretrainer(BertConfig.from_dict(tiny_config_dict)).ensure_built()
    loaded = save_and_load(model, tmp_path)
    save_google_checkpoint(loaded, str(tmp_path / "google"))
    restored = load_pretrained(str(tmp_path / "google"), model_class=BertPretrainer)
    inputs = model_inputs(model)
    assert_same_outputs(restored(inputs), model(inputs))


# Building blocks and heads: (layer factory, input arrays, call keyword arguments).
def _hidden(batch=4, seq=SEQ, width=H, seed=2):
    return np.random.default_rng(seed).normal(size=(batch, seq, width)).astype(np.float32)


def _mask_bias():
    return np.asarray(attention_mask_bias(encoder_inputs()["input_mask"]))


def _ids():
    inputs = encoder_inputs()
    return [inputs["input_word_ids"], inputs["input_type_ids"]]


LAYERS = {
    "embeddings": (lambda: BertEmbeddings(99, H, max_position_embeddings=64, type_vocab_size=2),
                   _ids, {}),
    "self_attention": (lambda: BertSelfAttention(num_heads=4, head_size=8),
                       lambda: [_hidden(), _mask_bias()], {}),
    "transformer_block": (lambda: BertTransformerBlock(H, 4, 37, hidden_act="gelu_exact"),
                          lambda: [_hidden(), _mask_bias()], {}),
    "transformer_block_first_token": (lambda: BertTransformerBlock(H, 4, 37),
                                      lambda: [_hidden(), _mask_bias()],
                                      {"first_token_only": True}),
    "pooler": (lambda: BertPooler(H), lambda: [_hidden()], {}),
    "layer_norm": (lambda: BertLayerNorm(epsilon=1e-12, half_output=True),
                   lambda: [_hidden()], {}),
    "dropout": (lambda: BertDropout(0.3, seed=7), lambda: [_hidden()], {}),
    "dense": (lambda: BertDense(16, activation=gelu_exact), lambda: [_hidden()], {}),
    "masked_lm_head": (lambda: BertMaskedLMHead(99, H, hidden_act="gelu_exact"),
                       lambda: [_hidden(), np.array([[1, 2]] * 4, np.int32),
                                _hidden(1, 99, H, seed=3)[0]], {}),
    "next_sentence_head": (lambda: BertNextSentenceHead(), lambda: [_hidden()[:, 0]], {}),
    "classification_head": (lambda: BertClassificationHead(5, dropout_rate=0.2),
                            lambda: [_hidden()[:, 0]], {}),
    "span_head": (lambda: BertSpanHead(), lambda: [_hidden()], {}),
    "token_classification_head": (lambda: BertTokenClassificationHead(7),
                                  lambda: [_hidden()], {}),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layer_config_and_serialize_round_trip(kind):
    make, make_inputs, kwargs = LAYERS[kind]
    layer = make()
    inputs = make_inputs()
    want = layer(*inputs, **kwargs)
    config = layer.get_config()
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"bert_tf>{type(layer).__name__}"
    for clone in (type(layer).from_config(config),
                  keras.saving.deserialize_keras_object(serialized)):
        assert type(clone) is type(layer)
        assert clone.get_config() == config
        clone(*inputs, **kwargs)  # builds it, if the build config did not
        assert len(clone.weights) == len(layer.weights)
        clone.set_weights(layer.get_weights())
        assert_same_outputs(clone(*inputs, **kwargs), want)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layer_keras_file_round_trip_in_a_functional_model(kind, tmp_path):
    """Each layer inside `keras.Model(inputs, layer(*inputs))`, saved and loaded as a .keras
    file: the layer rebuilds from its own config and build config, as Keras does it."""
    make, make_inputs, kwargs = LAYERS[kind]
    arrays = make_inputs()
    symbolic = [keras.Input(batch_shape=a.shape, dtype=str(a.dtype)) for a in arrays]
    model = keras.Model(symbolic, make()(*symbolic, **kwargs))
    want = model(arrays)
    assert_same_outputs(save_and_load(model, tmp_path)(arrays), want)


def test_dropout_masks_survive_the_round_trip():
    """A seeded BertDropout and its clone draw the same masks in training."""
    layer = BertDropout(0.3, seed=7)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    x = _hidden()
    got, want = clone(x, training=True), layer(x, training=True)
    assert 0 < np.mean(np.asarray(want) == 0) < 0.6
    assert_same_outputs(got, want)


def test_preprocessor_round_trip(original_test_vocab_file, tmp_path):
    pre = BertPreprocessor(original_test_vocab_file, do_lower_case=True, seq_length=12)
    texts = tf.constant(["UNwant\u00E9d,running", "lowest low"])
    want = pre(texts)
    for clone in (BertPreprocessor.from_config(pre.get_config()),
                  keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pre))):
        assert clone.get_config() == pre.get_config()
        assert_same_outputs(clone(texts), want)
