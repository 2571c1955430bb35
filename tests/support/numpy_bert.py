"""An independent NumPy BERT forward pass, written from the original formulas.

Works on Google-named arrays (the table in REFERENCE.md section 1), in float64, so it checks
both bert_tf's numerics and its checkpoint mapping.
"""

import math

import numpy as np


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_exact(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


ACTS = {"gelu": gelu_tanh, "gelu_exact": gelu_exact, "relu": lambda x: np.maximum(x, 0)}


def layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def bert_forward(w, config, ids, mask, types):
    """Returns (sequence_output, pooled_output, [layer outputs]) as float64 arrays."""
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    act = ACTS[config["hidden_act"]]
    heads = config["num_attention_heads"]
    B, S = ids.shape
    x = (w["bert/embeddings/word_embeddings"][ids] + w["bert/embeddings/token_type_embeddings"][types]
         + w["bert/embeddings/position_embeddings"][:S][None])
    x = layer_norm(x, w["bert/embeddings/LayerNorm/gamma"], w["bert/embeddings/LayerNorm/beta"])
    adder = (1.0 - mask[:, None, None, :].astype(np.float64)) * -10000.0
    layers = []
    for i in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{i}/"
        dense = lambda h, n: h @ w[p + n + "/kernel"] + w[p + n + "/bias"]  # noqa: E731
        D = x.shape[-1] // heads
        split = lambda t: t.reshape(B, S, heads, D).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (split(dense(x, f"attention/self/{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D) + adder
        ctx = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(B, S, heads * D)
        x = layer_norm(x + dense(ctx, "attention/output/dense"),
                       w[p + "attention/output/LayerNorm/gamma"], w[p + "attention/output/LayerNorm/beta"])
        ffn = dense(act(dense(x, "intermediate/dense")), "output/dense")
        x = layer_norm(x + ffn, w[p + "output/LayerNorm/gamma"], w[p + "output/LayerNorm/beta"])
        layers.append(x)
    pooled = np.tanh(x[:, 0] @ w["bert/pooler/dense/kernel"] + w["bert/pooler/dense/bias"])
    return x, pooled, layers


def pretraining_heads(w, config, sequence_output, pooled, positions):
    """(mlm_logits [B, P, V], nsp_logits [B, 2]) from the `cls/*` arrays."""
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    act = ACTS[config["hidden_act"]]
    g = np.take_along_axis(sequence_output, positions[..., None], axis=1)
    h = act(g @ w["cls/predictions/transform/dense/kernel"] + w["cls/predictions/transform/dense/bias"])
    h = layer_norm(h, w["cls/predictions/transform/LayerNorm/gamma"], w["cls/predictions/transform/LayerNorm/beta"])
    mlm = h @ w["bert/embeddings/word_embeddings"].T + w["cls/predictions/output_bias"]
    nsp = pooled @ w["cls/seq_relationship/output_weights"].T + w["cls/seq_relationship/output_bias"]
    return mlm, nsp
