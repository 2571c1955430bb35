"""Model FLOPs of a BERT sequence classifier, and model FLOP utilisation (MFU).

Counted are the matmuls only (what the matmul peak measures); embedding lookups, LayerNorm,
softmax, GELU, dropout and the optimizer update are not counted, as usual for MFU.

With L layers, hidden H, feed-forward width I, C labels, S tokens per example (padded length)
and B examples:

    N_layer  = 4*H*H + 2*H*I            matmul weights of one layer (Q, K, V, output; FFN in/out)
    N_tok    = L * N_layer              weights applied to every token
    N_ex     = H*H + H*C                pooler and classifier: applied to one vector per example
    forward  = B * (2*S*N_tok + 2*N_ex + L * 4*S*S*H)
                                        (4*S*S*H per layer: Q.K^T and probs.V, 2 FLOPs per MAC)
    train    = 3 * forward             (backward = 2x forward: gradients of inputs and weights)
             = B * (6*S*N_tok + 6*N_ex + 12*L*S*S*H)
    infer    = forward = train / 3

MFU = (FLOPs per step / seconds per step) / measured matmul peak of the same dtype
(`bench.peak`, the best of TensorFlow and PyTorch on this machine). The count depends only on
the model's shapes, so every system gets the same FLOPs per example and MFU ratios equal
throughput ratios.

Executed FLOPs: bert_tf's [CLS]-pooled classifier does not run all of that. Its last block
(`BertEncoder(..., pooled_only=True)`) computes keys and values for all S tokens, but the
query, attention, output projection and feed-forward for [CLS] alone:

    last block, full    = 2*S*N_layer + 4*S*S*H
    last block, [CLS]   = 2*S*2*H*H + 2*(2*H*H + 2*H*I) + 4*S*H

(6.9% of BERT-base's forward FLOPs at S=128 are skipped, 13.9% of MiniLM's.) The executed
utilisation divides the executed FLOPs by the same peak: it says how busy the matmul units
were, while MFU says how fast the model's work got done.
"""

import argparse


def matmul_params(config: dict) -> dict:
    """{"per_token": N_tok, "per_example": N_ex} for a BERT config dict (Google field names)."""
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    labels = config.get("num_labels", 2)
    return {"per_token": layers * (4 * h * h + 2 * h * i), "per_example": h * h + h * labels}


def forward_flops(config: dict, seq: int, batch: int = 1) -> float:
    """Matmul FLOPs of one forward pass over `batch` examples of `seq` tokens."""
    p = matmul_params(config)
    attention = config["num_hidden_layers"] * 4 * seq * seq * config["hidden_size"]
    return float(batch) * (2 * seq * p["per_token"] + 2 * p["per_example"] + attention)


def executed_forward_flops(config: dict, seq: int, batch: int = 1) -> float:
    """Matmul FLOPs of one forward pass of a classifier whose last block runs for [CLS] only."""
    h, i = config["hidden_size"], config["intermediate_size"]
    full_last = 2 * seq * (4 * h * h + 2 * h * i) + 4 * seq * seq * h
    cls_last = 2 * seq * 2 * h * h + 2 * (2 * h * h + 2 * h * i) + 4 * seq * h
    return forward_flops(config, seq, batch) - float(batch) * (full_last - cls_last)


def step_flops(config: dict, seq: int, batch: int, mode: str, pooled_only: bool = False) -> float:
    """FLOPs of one training step (forward + backward) or one inference batch: the model's,
    or with `pooled_only` those a [CLS]-only last block executes."""
    if mode not in ("train", "infer"):
        raise ValueError(f"mode must be 'train' or 'infer', got {mode!r}")
    forward = executed_forward_flops if pooled_only else forward_flops
    return (3.0 if mode == "train" else 1.0) * forward(config, seq, batch)


def mfu(config: dict, seq: int, mode: str, examples_per_s: float, peak_gflops: float,
        pooled_only: bool = False):
    """Achieved model FLOP/s over the peak (None when the peak is unknown); with
    `pooled_only`, the executed FLOP/s of a [CLS]-only last block instead."""
    if not peak_gflops or examples_per_s is None:
        return None
    achieved = step_flops(config, seq, 1, mode, pooled_only) * examples_per_s
    return achieved / (peak_gflops * 1e9)


def main(argv=None):
    from bench.common import model_config

    parser = argparse.ArgumentParser(description="FLOPs per example of the bench models")
    parser.add_argument("--seq", type=int, default=128)
    args = parser.parse_args(argv)
    for name in ("bert_base", "minilm"):
        config = model_config(name)
        p = matmul_params(config)
        full, cls = forward_flops(config, args.seq), executed_forward_flops(config, args.seq)
        print(f"{name}: N_tok {p['per_token'] / 1e6:.1f}M, train "
              f"{step_flops(config, args.seq, 1, 'train') / 1e9:.1f} GFLOP/example, infer "
              f"{step_flops(config, args.seq, 1, 'infer') / 1e9:.1f} GFLOP/example (seq {args.seq}); "
              f"[CLS]-only last block: {1 - cls / full:.1%} fewer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
