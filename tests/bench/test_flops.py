"""The FLOP formula of bench.flops against a hand count, and MFU arithmetic."""

import pytest

from bench.flops import forward_flops, matmul_params, mfu, step_flops

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
