"""BertEmbeddings under mixed precision: float32 rows summed and rounded once, and no whole-table
cast anywhere in a model (with one, a mixed training step ran 2.45x slower on an H200)."""

import ml_dtypes
import numpy as np
import tensorflow as tf

import keras
from bert_tf.modeling import BertConfig, BertPretrainer
from bert_tf.modeling.embeddings import BertEmbeddings
from support.graphs import dtype_policy


def mixed_bfloat16(build):
    """`build()` under the global mixed_bfloat16 policy (as --dtype=bfloat16 sets it)."""
    with dtype_policy("mixed_bfloat16"):
        return build()


def test_mixed_bfloat16_rounds_the_float32_sum_once():
    layer = mixed_bfloat16(lambda: BertEmbeddings(
        vocab_size=40, hidden_size=16, max_position_embeddings=12, type_vocab_size=2,
        dropout_rate=0.0))
    layer.build()
    rng = np.random.default_rng(0)
    word, types, position = (rng.normal(0.0, 2.0, v.shape).astype(np.float32) for v in (
        layer.word_embeddings, layer.token_type_embeddings, layer.position_embeddings))
    gamma = rng.uniform(0.5, 1.5, 16).astype(np.float32)
    beta = rng.normal(0.0, 0.1, 16).astype(np.float32)
    for variable, value in ((layer.word_embeddings, word), (layer.token_type_embeddings, types),
                            (layer.position_embeddings, position),
                            (layer.layer_norm.gamma, gamma), (layer.layer_norm.beta, beta)):
        variable.assign(value)
    ids = rng.integers(0, 40, (3, 9)).astype(np.int32)
    type_ids = rng.integers(0, 2, (3, 9)).astype(np.int32)

    got = layer(ids, type_ids)
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    got = np.asarray(tf.cast(got, tf.float32))
    total = word[ids] + types[type_ids] + position[None, :9]  # float32, in the layer's order
    x = total.astype(ml_dtypes.bfloat16).astype(np.float64)  # rounded once
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    want = ((x - mean) / np.sqrt(var + 1e-12) * gamma + beta).astype(np.float32)
    want = want.astype(ml_dtypes.bfloat16).astype(np.float32)
    # One bfloat16 step of the output at most (LayerNorm's float32 order of operations).
    step = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(want), 1e-30))) - 7)
    assert np.all(np.abs(got - want) <= step)


def test_no_whole_table_is_cast_under_mixed_precision(tiny_config_dict):
    """Neither the embeddings nor the tied MLM decoder cast the [vocab, H] word table: only the
    looked-up rows change dtype, and the decoder reads the float32 table as it is."""
    config = BertConfig.from_dict(tiny_config_dict)

    def trace():
        model = BertPretrainer(config).ensure_built()
        inputs = model.encoder.dummy_inputs()
        inputs["masked_lm_positions"] = inputs["input_type_ids"][:, :2]
        return tf.function(lambda x: model(x, training=True)).get_concrete_function(
            {k: tf.TensorSpec(v.shape, v.dtype) for k, v in inputs.items()}).graph

    graph = mixed_bfloat16(trace)
    table_shape = [config.vocab_size, config.hidden_size]
    casts = [op for op in graph.get_operations() if op.type == "Cast"]
    assert casts, "the mixed-precision model casts something (the test would see it)"
    assert not [op.name for op in casts if op.inputs[0].shape.as_list() == table_shape]
