"""bert_tf's forward pass against an independent NumPy implementation of the original formulas."""

import numpy as np
import pytest

import keras
from bert_tf.modeling import activations
from bert_tf.modeling.portable import portable_ops
from bert_tf.modeling import BertClassifier, BertConfig, BertEncoder, BertPretrainer
from bert_tf.checkpoints import load_google_checkpoint

from support.numpy_bert import bert_forward, gelu_exact, gelu_tanh, pretraining_heads


def random_inputs(config, batch=3, seq=11, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, config["vocab_size"], (batch, seq)).astype(np.int32)
    types = rng.integers(0, config["type_vocab_size"], (batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    if batch >= 3:
        mask[1, 7:] = 0  # padding in two rows
        mask[2, 3:] = 0
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


@pytest.mark.parametrize("act", ["gelu", "gelu_exact"])
def test_encoder_matches_numpy_formulas(make_google_folder, tiny_config_dict, act):
    tiny_config_dict["hidden_act"] = act
    folder, arrays = make_google_folder(tiny_config_dict)
    model = BertPretrainer(BertConfig.from_dict(tiny_config_dict))
    report = load_google_checkpoint(model, str(folder))
    assert not report.missing and not report.unused
    inputs = random_inputs(tiny_config_dict)
    positions = np.array([[1, 2, 0], [5, 6, 3], [1, 1, 2]], np.int32)
    out = model({**inputs, "masked_lm_positions": positions}, training=False)
    seq, pooled, layers = bert_forward(arrays, tiny_config_dict, inputs["input_word_ids"],
                                       inputs["input_mask"], inputs["input_type_ids"])
    mlm, nsp = pretraining_heads(arrays, tiny_config_dict, seq, pooled, positions)
    diffs = {
        "sequence_output": np.abs(out["sequence_output"].numpy() - seq).max(),
        "pooled_output": np.abs(out["pooled_output"].numpy() - pooled).max(),
        "layers": max(np.abs(a.numpy() - b).max() for a, b in zip(out["encoder_outputs"], layers)),
        "mlm_logits": np.abs(out["mlm_logits"].numpy() - mlm).max(),
        "nsp_logits": np.abs(out["nsp_logits"].numpy() - nsp).max(),
    }
    print(f"max abs diff vs NumPy ({act}):", diffs)
    assert len(out["encoder_outputs"]) == tiny_config_dict["num_hidden_layers"]
    for name, diff in diffs.items():
        assert diff <= 1e-5, (name, diff)


def test_gelu_forms_differ_and_match_formulas():
    x = np.linspace(-5, 5, 101).astype(np.float32)
    tanh_form = keras.ops.convert_to_numpy(activations.gelu_tanh(x))
    exact_form = keras.ops.convert_to_numpy(activations.gelu_exact(x))
    assert np.abs(tanh_form - gelu_tanh(x.astype(np.float64))).max() < 1e-6
    assert np.abs(exact_form - gelu_exact(x.astype(np.float64))).max() < 1e-6
    assert np.abs(tanh_form - exact_form).max() > 1e-4  # the two forms are not interchangeable



@pytest.mark.parametrize("name, formula", [("gelu_tanh", gelu_tanh), ("gelu_exact", gelu_exact)])
def test_gelu_in_bfloat16_is_the_formula_rounded_once(name, formula):
    # Computed in bfloat16 throughout, 43% of the exact form's values were not the formula
    # correctly rounded; in float32 and rounded once, all are.
    import ml_dtypes

    x = np.linspace(-6, 6, 2001).astype(ml_dtypes.bfloat16)
    y = getattr(activations, name)(keras.ops.convert_to_tensor(x))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    y = keras.ops.convert_to_numpy(y).astype(np.float64)
    x = x.astype(np.float64)
    exact = formula(x)
    correct = exact.astype(ml_dtypes.bfloat16).astype(np.float64)
    if name == "gelu_exact":
        np.testing.assert_array_equal(y, correct)
    else:
        # float32's 1 + tanh(u) loses digits for very negative x (tanh near -1), where the
        # values are tiny: correctly rounded above x = -2.5, within a bfloat16 ulp below.
        np.testing.assert_array_equal(y[x >= -2.5], correct[x >= -2.5])
        assert (np.abs(y - correct) <= np.abs(correct) * 2.0**-7 + 1e-6).all()


@pytest.mark.parametrize("approximate", [True, False])
def test_fused_gelu_gradient_matches_the_derivative(approximate):
    import tensorflow as tf

    x = tf.constant(np.linspace(-8, 8, 4001), tf.float32)
    fn = activations.gelu_tanh if approximate else activations.gelu_exact
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    fused = tape.gradient(y, x, output_gradients=tf.fill(x.shape, 0.5)).numpy()
    with portable_ops(), tf.GradientTape() as tape:
        tape.watch(x)
        y_plain = fn(x)
    plain = tape.gradient(y_plain, x, output_gradients=tf.fill(x.shape, 0.5)).numpy()
    # Central differences of the float64 formula.
    x64, h = x.numpy().astype(np.float64), 1e-6
    formula = gelu_tanh if approximate else gelu_exact
    numeric = 0.5 * (formula(x64 + h) - formula(x64 - h)) / (2 * h)
    assert np.abs(fused - numeric).max() < 5e-6
    assert np.abs(plain - numeric).max() < 5e-6
    np.testing.assert_allclose(y.numpy(), y_plain.numpy(), atol=1e-6)


def test_portable_ops_trace_no_xla_kernels():
    import tensorflow as tf

    def xla_calls(fn):
        graph = tf.function(fn).get_concrete_function(tf.TensorSpec([4, 8])).graph
        return sum(1 for op in graph.get_operations()
                   if "_XlaMustCompile" in op.node_def.attr and op.get_attr("_XlaMustCompile"))

    assert xla_calls(activations.gelu_exact) == 1
    with portable_ops():
        assert xla_calls(activations.gelu_exact) == 0
    assert xla_calls(activations.gelu_exact) == 1


def test_padding_does_not_change_real_positions(tiny_config_dict):
    model = BertEncoder(BertConfig.from_dict(tiny_config_dict))
    inputs = random_inputs(tiny_config_dict, batch=1, seq=6)
    inputs["input_mask"][:] = 1
    short = model(inputs)["sequence_output"].numpy()
    padded = {k: np.pad(v, ((0, 0), (0, 5))) for k, v in inputs.items()}
    long = model(padded)["sequence_output"].numpy()[:, :6]
    assert np.abs(short - long).max() < 1e-5


def test_any_length_up_to_max_positions(tiny_config_dict):
    model = BertEncoder(BertConfig.from_dict(tiny_config_dict))
    for seq in (1, 17, tiny_config_dict["max_position_embeddings"]):
        out = model(random_inputs(tiny_config_dict, batch=2, seq=seq))
        assert out["sequence_output"].shape == (2, seq, tiny_config_dict["hidden_size"])


def test_mixed_bfloat16_keeps_softmax_and_layernorm_in_float32(tiny_config_dict):
    config = BertConfig.from_dict(tiny_config_dict)
    inputs = random_inputs(tiny_config_dict)
    reference = BertClassifier(config, num_labels=3)
    want = reference(inputs).numpy()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = BertClassifier(config, num_labels=3)
        model.ensure_built()
        model.set_weights(reference.get_weights())
        block = model.encoder.transformer_layers[0]
        assert block.compute_dtype == "bfloat16"
        assert block.attention_layer_norm.compute_dtype == "float32"
        assert model.encoder.embeddings.layer_norm.compute_dtype == "float32"
        assert all(v.dtype == "float32" for v in model.weights)
        got = model(inputs)
        assert got.dtype == "float32"
        assert np.abs(got.numpy() - want).max() < 0.05  # bf16 has ~3 significant digits
    finally:
        keras.config.set_dtype_policy(previous)


def test_layers_serialize_with_get_config(tiny_config_dict):
    config = BertConfig.from_dict(tiny_config_dict)
    for model in (BertEncoder(config), BertClassifier(config, num_labels=4, pooling="mean"),
                  BertPretrainer(config)):
        model.ensure_built()
        clone = type(model).from_config(model.get_config())
        clone.ensure_built()
        assert len(clone.weights) == len(model.weights)
        assert clone.config == model.config
    for layer in BertEncoder(config).ensure_built()._flatten_layers(include_self=False):
        restored = type(layer).from_config(layer.get_config())
        assert restored.get_config() == layer.get_config()
