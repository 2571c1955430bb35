"""bench.tools.matmul_floor: its product list is the step's (FLOP count and the traced graph's
matmul ops), and the worker prints its table."""

import collections

import pytest

from bench.tools import matmul_floor
from bench.common import BERT_BASE
from bench.flops import step_flops


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_products_add_up_to_the_executed_flops(mode, tiny_config_dict):
    for config in (BERT_BASE, tiny_config_dict):
        products = matmul_floor.step_products(config, batch=16, seq=128, mode=mode)
        executed = step_flops(config, 128, 16, mode, pooled_only=True)
        assert sum(matmul_floor.flops(p) for p in products) == pytest.approx(executed, rel=1e-12)
    counts = {p.label: p.count for p in matmul_floor.step_products(BERT_BASE, 16, 128, "train")}
    assert counts["H->H fwd"] == 44 and counts["H->I dW"] == 11 and counts["last K,V dX"] == 2


def graph_products(graph):
    """Counter of (batch, m, k, n, transpose_a, transpose_b) over a graph's matmul ops."""
    found = collections.Counter()
    for op in graph.get_operations():
        if op.type not in ("MatMul", "BatchMatMulV2"):
            continue
        a, b = (tuple(t.shape.as_list()) for t in op.inputs[:2])
        if op.type == "MatMul":
            ta, tb, batch = op.get_attr("transpose_a"), op.get_attr("transpose_b"), 1
        else:
            ta, tb = op.get_attr("adj_x"), op.get_attr("adj_y")
            batch = 1
            for d in a[:-2]:
                batch *= d
            a, b = a[-2:], b[-2:]
        m, k = (a[1], a[0]) if ta else a
        n = b[0] if tb else b[1]
        found[(batch, m, k, n, ta, tb)] += 1
    return found


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_products_are_the_matmul_ops_of_the_traced_step(mode, tiny_config_dict):
    import tensorflow as tf

    from bert_tf.modeling import BertClassifier, BertConfig

    batch, seq = 3, 8
    model = BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=2,
                           pooling="cls", dropout_rate=0.1).ensure_built()
    spec = tf.TensorSpec([batch, seq], tf.int32)

    @tf.function
    def step(ids, mask, types):
        features = {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(features, training=mode == "train"))
        if mode == "infer":
            return loss
        return tape.gradient(loss, model.trainable_variables)

    graph = step.get_concrete_function(spec, spec, spec).graph
    expected = collections.Counter()
    for p in matmul_floor.step_products(tiny_config_dict, batch, seq, mode):
        expected[(p.batch, p.m, p.k, p.n, p.transpose_a, p.transpose_b)] += p.count
    assert graph_products(graph) == expected


def test_worker_prints_the_floor_beside_the_step(tiny_config_dict, tmp_path, capsys):
    import json

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_config_dict))
    matmul_floor.main(["--model", str(path), "--mode", "train", "--batch", "2", "--seq", "16",
                       "--warmup", "1", "--rounds", "1", "--peak_gflops", "float32=100"])
    out = capsys.readouterr().out
    assert "H->I dW" in out and "last attention dV" in out
    assert "matmuls alone" in out and "whole step" in out and "MFU against 100.0" in out
