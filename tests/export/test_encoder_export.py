"""The encoder and preprocessor SavedModels: TF Hub API, numerics, reuse from tf_keras/Keras 3,
tokenizer parity, and import back into bert_tf (ours and Model Garden's layout)."""

import json

import numpy as np
import pytest
import tensorflow as tf
from export.conftest import encoder_inputs, xla_compiled_functions

TOL = 1e-5


def _keras_graph_outputs(model, inputs):
    # The SavedModel runs as a graph; compare with the Keras model run the same way.
    return tf.function(lambda x: model(x, training=False))(inputs)


def test_encoder_savedmodel_matches_the_keras_model(tiny_export):
    from bert_tf.modeling import BertPretrainer

    folder, _, out = tiny_export
    model = BertPretrainer.from_pretrained(str(folder))
    loaded = tf.saved_model.load(str(out / "encoder"))
    inputs = encoder_inputs()
    want = _keras_graph_outputs(model.encoder, inputs)
    got = loaded({k: tf.constant(v) for k, v in inputs.items()}, training=False)
    assert set(got) == {"pooled_output", "sequence_output", "encoder_outputs", "default"}
    for key in ("pooled_output", "sequence_output"):
        assert np.max(np.abs(got[key].numpy() - want[key].numpy())) <= TOL
    assert len(got["encoder_outputs"]) == 2
    for a, b in zip(got["encoder_outputs"], want["encoder_outputs"]):
        assert np.max(np.abs(a.numpy() - b.numpy())) <= TOL
    np.testing.assert_array_equal(got["default"].numpy(), got["pooled_output"].numpy())
    # The MLM sub-object (this model has trained cls/* heads).
    positions = np.array([[1, 2], [0, 3], [4, 5]], np.int32)
    mlm = loaded.mlm({**{k: tf.constant(v) for k, v in inputs.items()},
                      "masked_lm_positions": tf.constant(positions)}, training=False)
    want_mlm = _keras_graph_outputs(model, {**inputs, "masked_lm_positions": positions})
    assert mlm["mlm_logits"].shape == (3, 2, 99)
    assert np.max(np.abs(mlm["mlm_logits"].numpy() - want_mlm["mlm_logits"].numpy())) <= 1e-4
    # TF Serving's signature, the vocab asset and the casing flag.
    serving = loaded.signatures["serving_default"]
    sig = serving(**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(sig["pooled_output"].numpy(), got["pooled_output"].numpy(), atol=TOL)
    assert open(loaded.vocab_file.asset_path.numpy().decode()).read() == \
        (folder / "vocab.txt").read_text()
    assert bool(loaded.do_lower_case.numpy()) is True
    assert len(loaded.trainable_variables) == len(model.encoder.trainable_variables)


def test_exports_are_traced_without_xla_kernels(tiny_export):
    # Training graphs use XLA-compiled GELU kernels; a SavedModel may be served where XLA's
    # JIT is not built in, so exports trace plain ops (bert_tf.modeling.activations).
    _, _, out = tiny_export
    for name in ("encoder", "preprocessor"):
        assert (out / name / "saved_model.pb").exists()
        assert xla_compiled_functions(out / name) == []


def test_encoder_trains_as_a_hub_keras_layer_in_tf_keras(tiny_export):
    import tensorflow_hub as hub
    import tf_keras

    _, _, out = tiny_export
    layer = hub.KerasLayer(str(out / "encoder"), trainable=True)
    inputs = {k: tf_keras.Input(shape=(None,), dtype=tf.int32, name=k)
              for k in ("input_word_ids", "input_mask", "input_type_ids")}
    logits = tf_keras.layers.Dense(2)(layer(inputs)["pooled_output"])
    model = tf_keras.Model(inputs, logits)
    assert len(layer.trainable_weights) > 30  # the encoder's weights, not just the Dense
    before = [w.numpy().copy() for w in layer.trainable_weights]
    model.compile(tf_keras.optimizers.Adam(1e-2),
                  tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = encoder_inputs(batch=8, seed=1)
    model.fit(data, np.arange(8) % 2, epochs=2, batch_size=4, verbose=0)
    changed = [np.max(np.abs(w.numpy() - b)) for w, b in zip(layer.trainable_weights, before)]
    assert sum(c > 0 for c in changed) > 0.9 * len(changed)


def test_encoder_serves_wrapped_in_keras3(tiny_export):
    import keras

    folder, _, out = tiny_export
    from bert_tf.modeling import BertEncoder

    layer = keras.layers.TFSMLayer(str(out / "encoder"), call_endpoint="__call__")
    inputs = encoder_inputs()
    got = layer({k: tf.constant(v) for k, v in inputs.items()})
    want = _keras_graph_outputs(BertEncoder.from_pretrained(str(folder)), inputs)
    assert np.max(np.abs(np.asarray(got["pooled_output"]) - want["pooled_output"].numpy())) <= TOL


HOSTILE = ["Hello, World!", "the cats sat on a mat.", "DOGS running!!", "", "  ",
           "héllo wörld", "the\tcat\nsat", "unknownword x", "a" * 250, "the cat " * 40]


def test_preprocessor_gives_the_python_tokenizers_ids(tiny_export):
    import tensorflow_text  # noqa: F401 - registers the ops the SavedModel uses

    from bert_tf.tokenization import FullTokenizer, pack_tokens

    folder, _, out = tiny_export
    pre = tf.saved_model.load(str(out / "preprocessor"))
    tok = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    got = pre(tf.constant(HOSTILE))
    assert got["input_word_ids"].shape == (len(HOSTILE), 16)  # the export's seq_length
    for i, text in enumerate(HOSTILE):
        want = pack_tokens(tok.tokenize(text), None, 16, tok)
        assert got["input_word_ids"][i].numpy().tolist() == want.input_ids, text
        assert got["input_mask"][i].numpy().tolist() == want.input_mask, text
    # Pairs through tokenize + bert_pack_inputs, at a length the export was not built for.
    a, b = HOSTILE[:5], HOSTILE[5:]
    packed = pre.bert_pack_inputs([pre.tokenize(tf.constant(a)), pre.tokenize(tf.constant(b))],
                                  seq_length=24)
    for i in range(5):
        want = pack_tokens(tok.tokenize(a[i]), tok.tokenize(b[i]), 24, tok)
        assert packed["input_word_ids"][i].numpy().tolist() == want.input_ids
        assert packed["input_type_ids"][i].numpy().tolist() == want.segment_ids
    tokens = pre.tokenize(tf.constant(["hello cats"]))
    assert tokens.ragged_rank == 2 and tokens.to_list() == [[[tok.vocab["hello"]],
                                                             [tok.vocab["cat"], tok.vocab["##s"]]]]


def test_export_import_export_gives_identical_weights(tiny_export, tmp_path):
    from bert_tf.checkpoints import load_pretrained
    from bert_tf.export import export_model
    from bert_tf.modeling import BertPretrainer

    folder, arrays, out = tiny_export
    again = tmp_path / "again"
    export_model(str(out / "encoder"), str(again), log=lambda _: None)
    first = tf.saved_model.load(str(out / "encoder"))
    second = tf.saved_model.load(str(again / "encoder"))
    names = json.loads((out / "encoder" / "assets" / "bert_tf_weights.json").read_text())
    assert [n for n, _ in names] == [n for n, _ in json.loads(
        (again / "encoder" / "assets" / "bert_tf_weights.json").read_text())]
    assert any(n.startswith("cls/predictions/") for n, _ in names)  # heads travel too
    for (name, transpose), a, b in zip(names, first.bert_tf_weights, second.bert_tf_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
        original = arrays[name].T if transpose else arrays[name]
        np.testing.assert_array_equal(a.numpy(), original, err_msg=name)
    model = load_pretrained(str(out / "encoder"), BertPretrainer)
    assert model.load_report.format == "tfhub" and not model.load_report.missing
    assert model.vocab_file.endswith("assets/vocab.txt")


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_exact"])
def test_model_garden_layout_imports_with_the_right_gelu(hidden_act, tmp_path):
    from support.builders import TINY_CONFIG, google_names_and_shapes
    from support.model_garden import save_model_garden_encoder

    from bert_tf.checkpoints import load_pretrained
    from bert_tf.modeling import BertConfig, BertEncoder

    config = BertConfig.from_dict(dict(TINY_CONFIG, hidden_act=hidden_act))
    rng = np.random.default_rng(7)
    arrays = {n: (rng.standard_normal(s) * 0.3).astype(np.float32)
              for n, s in google_names_and_shapes(TINY_CONFIG, False, None).items()}
    path = save_model_garden_encoder(tmp_path / "hub_encoder", arrays, config)
    encoder = load_pretrained(str(path), BertEncoder)
    assert encoder.config.hidden_act == hidden_act
    assert encoder.config.num_attention_heads == 4 and encoder.config.intermediate_size == 37
    assert len(encoder.load_report.loaded) == len(arrays)
    reference = BertEncoder(config).ensure_built()
    from bert_tf.checkpoints.google import assign_weights
    from bert_tf.checkpoints.hf import DictReader
    assign_weights(reference, DictReader(arrays, "arrays", "google"))
    inputs = encoder_inputs()
    got = _keras_graph_outputs(encoder, inputs)["sequence_output"].numpy()
    want = _keras_graph_outputs(reference, inputs)["sequence_output"].numpy()
    np.testing.assert_array_equal(got, want)


def test_a_savedmodel_that_is_no_bert_encoder_is_refused(tmp_path):
    from bert_tf.checkpoints import CheckpointError, load_pretrained

    module = tf.Module()
    module.v = tf.Variable(1.0, name="dense/kernel")
    module.f = tf.function(lambda x: x * module.v, input_signature=[tf.TensorSpec([], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "other"))
    with pytest.raises(CheckpointError, match="not a BERT encoder in the TF Hub layout"):
        load_pretrained(str(tmp_path / "other"))
