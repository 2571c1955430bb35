"""`pooled_only`: a [CLS]-pooled classifier runs its last block for [CLS] alone.

The shortcut must give the original model's values and gradients (checked against the NumPy
formulas and against the full encoder), and the classifier must really take it.
"""

import re

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints import load_google_checkpoint
from bert_tf.modeling import BertClassifier, BertConfig, BertEncoder

from support.numpy_bert import bert_forward

from .test_numerics import random_inputs


def test_pooled_only_matches_numpy_formulas_and_the_full_encoder(make_google_folder,
                                                                   tiny_config_dict):
    folder, arrays = make_google_folder(tiny_config_dict, with_pretraining_heads=False)
    encoder = BertEncoder(BertConfig.from_dict(tiny_config_dict))
    report = load_google_checkpoint(encoder, str(folder))
    assert not report.missing
    inputs = random_inputs(tiny_config_dict)  # padding in two of the three rows
    _, want, _ = bert_forward(arrays, tiny_config_dict, inputs["input_word_ids"],
                              inputs["input_mask"], inputs["input_type_ids"])
    out = encoder(inputs, pooled_only=True)
    assert set(out) == {"pooled_output"}
    got = out["pooled_output"].numpy()
    full = encoder(inputs)["pooled_output"].numpy()
    assert np.abs(got - want).max() <= 1e-5
    assert np.abs(got - full).max() <= 1e-6


def test_cls_classifier_gradients_equal_the_full_computation(tiny_config_dict):
    model = BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=3).ensure_built()
    inputs = {k: tf.constant(v) for k, v in random_inputs(tiny_config_dict).items()}
    labels = tf.constant([0, 2, 1])

    def full_path(x):  # the original: pool the full sequence output of the last block
        return model.head(model.encoder(x)["pooled_output"])

    @tf.function  # graph mode, as in training
    def loss_and_grads(forward):
        with tf.GradientTape() as tape:
            logits = forward(inputs)
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        return logits, tape.gradient(loss, model.trainable_variables)

    ours_logits, ours = loss_and_grads(lambda x: model(x))
    ref_logits, ref = loss_and_grads(full_path)
    assert np.abs(ours_logits.numpy() - ref_logits.numpy()).max() <= 1e-6
    assert len(ours) == len(ref) == len(model.trainable_variables)
    for var, a, b in zip(model.trainable_variables, ours, ref):
        a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()
        assert np.allclose(a, b, rtol=1e-4, atol=1e-7), (var.path, np.abs(a - b).max())


def _intermediate_matmul_rows(model, inputs, block):
    """Rows of the feed-forward matmul of transformer block `block` in the traced training
    step (the static leading dimensions of its output)."""
    concrete = tf.function(lambda x: model(x, training=True)).get_concrete_function(inputs)
    # Name scopes may carry a call-count suffix: ".../transformer_layer_1_1/intermediate_1/".
    name = re.compile(rf"/transformer_layer_{block}(_\d+)?/intermediate(_\d+)?/")
    return [int(np.prod(op.outputs[0].shape[:-1])) for op in concrete.graph.get_operations()
            if op.type in ("MatMul", "BatchMatMulV2") and name.search(op.name)]


def test_cls_classifier_runs_the_last_block_for_cls_only(tiny_config_dict):
    config = BertConfig.from_dict(tiny_config_dict)
    inputs = {k: tf.constant(v) for k, v in random_inputs(tiny_config_dict).items()}  # [3, 11]
    last = config.num_hidden_layers - 1
    cls_model = BertClassifier(config, num_labels=2, pooling="cls").ensure_built()
    mean_model = BertClassifier(config, num_labels=2, pooling="mean").ensure_built()
    assert _intermediate_matmul_rows(cls_model, inputs, 0) == [3 * 11]
    assert _intermediate_matmul_rows(cls_model, inputs, last) == [3]
    assert _intermediate_matmul_rows(mean_model, inputs, last) == [3 * 11]
