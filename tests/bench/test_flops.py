"""The FLOP formula of bench.flops against a hand count, and MFU arithmetic."""

import pytest

from bench.flops import executed_forward_flops, forward_flops, matmul_params, mfu, step_flops

# One layer, H=4, I=8, 2 labels, 3 tokens: small enough to count by hand.
HAND = dict(hidden_size=4, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2,
            vocab_size=10)


def test_matmul_params_by_hand():
    # Q, K, V, attention output: 4 x (4x4) = 64; FFN in and out: 2 x (4x8) = 64.
    assert matmul_params(HAND) == {"per_token": 128, "per_example": 4 * 4 + 4 * 2}


def test_forward_flops_by_hand():
    # tokens:   2 FLOPs x 3 tokens x 128 weights             = 768
    # pooler + classifier on one vector: 2 x (16 + 8)        = 48
    # attention: Q.K^T and P.V, each 2 x S x S x H = 72       = 144
    assert forward_flops(HAND, seq=3) == 768 + 48 + 144
    assert forward_flops(HAND, seq=3, batch=5) == 5 * 960


def test_train_is_three_forwards_and_infer_one():
    assert step_flops(HAND, 3, 2, "train") == 3 * 2 * 960
    assert step_flops(HAND, 3, 2, "infer") == 2 * 960
    with pytest.raises(ValueError):
        step_flops(HAND, 3, 2, "eval")


def test_bert_base_is_about_6_n_tokens():
    from bench.common import BERT_BASE

    per_token = matmul_params(BERT_BASE)["per_token"]
    assert per_token == 12 * (4 * 768 * 768 + 2 * 768 * 3072)  # 84.9M
    train = step_flops(BERT_BASE, 128, 1, "train")
    assert 6 * per_token * 128 < train < 1.05 * 6 * per_token * 128  # attention adds ~3%


def test_mfu():
    per_example = step_flops(HAND, 3, 1, "train")
    assert mfu(HAND, 3, "train", examples_per_s=1e9 / per_example, peak_gflops=2.0) == pytest.approx(0.5)
    assert mfu(HAND, 3, "train", 10.0, None) is None


def test_executed_flops_of_a_cls_only_last_block_by_hand():
    # full last block: 2 x 3 tokens x 128 + attention 144                     = 912
    # [CLS] only: K, V for 3 tokens 2 x 3 x 32 = 192; Q, output, FFN for one
    # vector 2 x (32 + 64) = 192; attention of one query 2 x (2 x 3 x 4) = 48 = 432
    assert executed_forward_flops(HAND, seq=3) == 960 - (912 - 432)
    assert step_flops(HAND, 3, 2, "train", pooled_only=True) == 3 * 2 * 480
    assert mfu(HAND, 3, "infer", 1e9 / 480, 1.0, pooled_only=True) == pytest.approx(1.0)


def _graph_matmul_flops(fn, inputs):
    """2 x multiply-adds of every MatMul / BatchMatMulV2 in the traced graph of `fn`."""
    import numpy as np
    import tensorflow as tf

    total = 0
    for op in tf.function(fn).get_concrete_function(inputs).graph.get_operations():
        if op.type not in ("MatMul", "BatchMatMulV2"):
            continue
        a, b = (list(t.shape) for t in op.inputs[:2])
        if op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x"):
            a[-1], a[-2] = a[-2], a[-1]
        if op.get_attr("transpose_b" if op.type == "MatMul" else "adj_y"):
            b[-1], b[-2] = b[-2], b[-1]
        assert a[-1] == b[-2]
        total += 2 * int(np.prod(a)) * b[-1]
    return total


def test_flop_formulas_equal_the_matmuls_bert_tf_runs(tiny_config_dict):
    """The formulas against the matmuls in bert_tf's traced graphs: the full model, and the
    [CLS]-pooled classifier, whose last block runs for [CLS] only."""
    import tensorflow as tf

    from bert_tf.modeling import BertClassifier, BertConfig

    batch, seq = 3, 11
    model = BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=2).ensure_built()
    inputs = {k: tf.ones((batch, seq), tf.int32)
              for k in ("input_word_ids", "input_mask", "input_type_ids")}
    full = _graph_matmul_flops(lambda x: model.head(model.encoder(x)["pooled_output"]), inputs)
    assert full == forward_flops(tiny_config_dict, seq, batch)
    assert _graph_matmul_flops(lambda x: model(x), inputs) == \
        executed_forward_flops(tiny_config_dict, seq, batch)
