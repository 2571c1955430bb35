"""GPU worker: HF `transformers` BERT on PyTorch CUDA (the peer), at HF's documented GPU settings.

Settings (HF `Trainer` with `bf16=True` / `tf32=True` and its defaults): SDPA attention,
`torch.autocast("cuda", bfloat16)` for "mixed" (float16 for "fp16"), TF32 matmuls for "tf32"
(`torch.backends.cuda.matmul.allow_tf32`), `torch.optim.AdamW(fused=True)` lr 2e-5, weight
decay 0.01, `clip_grad_norm_(1.0)`, eager (no `torch.compile`, HF's default). Models:
`BertForQuestionAnswering` (squad), `BertForSequenceClassification` (classify, trained and
inferred), `BertModel` without pooler (encoder), random init, dropout 0.1 in training.

    python -m bench.gpu_torch [--cases squad_large:mixed] [--tiny] [--device cpu]
"""

import time

from bench.common import emit_json
from bench.gpu_cases import (config_of, row, run_cases, shape_of, synthetic_inputs,
                              time_steps, worker_parser)


def hf_model(case, config, device):
    import torch
    import transformers

    hf_config = transformers.BertConfig(
        vocab_size=config["vocab_size"], hidden_size=config["hidden_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=config["num_attention_heads"],
        intermediate_size=config["intermediate_size"], hidden_act="gelu_new",  # Google's tanh GELU
        hidden_dropout_prob=config["hidden_dropout_prob"],
        attention_probs_dropout_prob=config["attention_probs_dropout_prob"],
        max_position_embeddings=config["max_position_embeddings"],
        type_vocab_size=config["type_vocab_size"], num_labels=2)
    hf_config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    if case.task == "squad":
        model = transformers.BertForQuestionAnswering(hf_config)
    elif case.task == "classify":
        model = transformers.BertForSequenceClassification(hf_config)
    else:
        model = transformers.BertModel(hf_config, add_pooling_layer=False)
    return model.to(device)


def run_case(case, tiny, device):
    import torch
    import transformers

    torch.backends.cuda.matmul.allow_tf32 = case.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = case.precision == "tf32"
    config = config_of(case, tiny)
    batch_size, seq = shape_of(case, tiny)
    data = {k: torch.from_numpy(v).long().to(device)
            for k, v in synthetic_inputs(config, batch_size, seq).items()}
    features = {"input_ids": data["input_word_ids"], "attention_mask": data["input_mask"],
                "token_type_ids": data["input_type_ids"]}
    if case.task == "squad":
        targets = {"start_positions": data["start_positions"],
                   "end_positions": data["end_positions"]}
    elif case.task == "classify":
        targets = {"labels": data["labels"]}
    model = hf_model(case, config, device)
    autocast_dtype = {"mixed": torch.bfloat16, "fp16": torch.float16}.get(case.precision)
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"

    def autocast():
        return torch.autocast(device_type, dtype=autocast_dtype or torch.bfloat16,
                              enabled=autocast_dtype is not None)

    def sync():
        if device_type == "cuda":
            torch.cuda.synchronize()

    if case.mode == "infer":
        model.eval()

        def step(n):
            with torch.inference_mode(), autocast():
                for _ in range(n):
                    model(**features)  # sequence output (encoder) or logits (classify)
            sync()
    else:
        if case.precision == "fp16":
            raise ValueError("fp16 training needs loss scaling; the bench trains in mixed/tf32")
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01,
                                      eps=1e-6, fused=device_type == "cuda")

        def step(n):
            for _ in range(n):
                with autocast():
                    loss = model(**features, **targets).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{case.key}: loss {loss.item()}")
            sync()

    timing = time_steps(step, batch_size, case)
    name = torch.cuda.get_device_name() if device_type == "cuda" else "cpu"
    settings = (f"torch {torch.__version__} / transformers {transformers.__version__}, {name}, "
                f"{model.config._attn_implementation} attention, eager, "
                + {"mixed": "autocast bfloat16", "fp16": "autocast float16",
                   "tf32": "float32 with TF32 matmuls"}[case.precision]
                + (", AdamW(fused) + clip_grad_norm 1.0, dropout 0.1" if case.mode == "train"
                   else ", inference_mode"))
    return row("hf_torch", case, timing, settings, tiny)


def matmul_peak(device, n=8192):
    """TFLOP/s of one n x n x n matmul in bfloat16 and in float32 with TF32, best of 10."""
    import torch

    out = {}
    for name, dtype in (("bfloat16", torch.bfloat16), ("tf32", torch.float32)):
        torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.matmul(a, b)
        best = float("inf")
        for _ in range(10):
            if device != "cpu":
                torch.cuda.synchronize()
            start = time.perf_counter()
            torch.matmul(a, b)
            if device != "cpu":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * n ** 3 / best / 1e12
    return out


def main(argv=None):
    parser = worker_parser(__doc__.split("\n")[0], deadline_s=150.0)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.deadline_s
    if not args.no_peak:
        emit_json({"peak_tflops": {"torch": matmul_peak(args.device, 256 if args.tiny else 8192)}})
    run_cases("hf_torch", args.cases,
              lambda case: run_case(case, args.tiny, args.device), deadline, args.group)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
