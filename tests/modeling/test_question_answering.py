"""BertQuestionAnswerer: run_squad's model, start/end logits per token from the final hidden
states, float32 whatever the policy, and a wrapped encoder."""

import numpy as np

from bert_tf.modeling import BertConfig, BertEncoder, BertQuestionAnswerer
from support.builders import random_classifier_features
from support.graphs import dtype_policy


def encoder_inputs(batch=3, seq=11, seed=0):
    rows = random_classifier_features(batch, seq, seed=seed)
    return {"input_word_ids": np.array([r.input_ids for r in rows], np.int32),
            "input_mask": np.array([r.input_mask for r in rows], np.int32),
            "input_type_ids": np.array([r.segment_ids for r in rows], np.int32)}


def test_logits_are_the_span_head_on_every_final_hidden_state(tiny_config_dict):
    model = BertQuestionAnswerer(BertConfig.from_dict(tiny_config_dict)).ensure_built()
    inputs = encoder_inputs()
    logits = model(inputs)
    assert logits.shape == (3, 11, 2) and logits.dtype == "float32"
    assert model.head.name == "squad_head"
    sequence = model.encoder(inputs)["sequence_output"].numpy()
    kernel, bias = model.head.dense.kernel.numpy(), model.head.dense.bias.numpy()
    assert kernel.shape == (32, 2) and bias.shape == (2,)
    np.testing.assert_allclose(logits.numpy(), sequence @ kernel + bias, rtol=1e-5, atol=1e-6)
    # No dropout on the head's input, as in the original: training changes only the encoder.
    assert model.head.dropout_rate == 0.0


def test_wrapped_encoder_is_used_as_is(tiny_config_dict):
    encoder = BertEncoder(BertConfig.from_dict(tiny_config_dict), name="minilm").ensure_built()
    model = BertQuestionAnswerer(encoder=encoder).ensure_built()
    assert model.encoder is encoder and model.config is encoder.config
    assert len(model.weights) == len(encoder.weights) + 2


def test_mixed_precision_gives_float32_logits(tiny_config_dict):
    with dtype_policy("mixed_bfloat16"):
        model = BertQuestionAnswerer(BertConfig.from_dict(tiny_config_dict))
        logits = model(encoder_inputs())
    assert model.encoder.compute_dtype == "bfloat16"
    assert logits.dtype == "float32" and logits.shape == (3, 11, 2)
