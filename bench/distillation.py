"""Distillation measured: a MiniLM-L6-H384 teacher against 3- and 2-layer students.

Two tasks, each with a fine-tuned teacher and four students trained by `run_distillation.py`:
  * drugreview: the `make demo` teacher (output/drugreview/final_model; made with
    configs/drugreview.flags when absent) and the demo's data and recipe (adamw, lr 1e-4,
    sqrt_balanced class weights, batch 16, 5 epochs, mean pooling, seq 128);
  * sst2: a teacher fine-tuned with bench.glue's recipe (batch 32, lr 1e-4, seq 128 with
    --bucket_by_length, [CLS] pooling) for 2 epochs on 2,000 rows of SST-2's train.tsv
    (random.Random(0).sample over its 67,349 rows, as bench.glue draws its subsets); the
    students train 2 epochs on the same rows.
Students: the teacher cut to 3 and to 2 layers (the default layers: 0,3,5 and 0,5), each
distilled (T 2, alpha 0.9) and trained on labels only (alpha 0: the same student, init and
recipe, cross-entropy alone). On SST-2 a fifth student adds 2,000 other train.tsv sentences,
without their labels, as --unlabeled_file.

Every model is scored by the same code on the whole dev file (accuracy, macro-F1), exported
with `bert_tf.export` (SavedModel, float32 and int8 TFLite sizes), and timed: float32 Keras
inference on batches of 32 full-length (128-token) rows, one timing per depth, the models taking
turns of 3 s, best of 7 turns (the machine is shared; the load average is recorded).

    python -m bench.distillation [--tasks drugreview,sst2] [--output results.json]

Targets: the 3-layer distilled student keeps >= 97% of the teacher's accuracy, beats the 3-layer
label-only student, and runs >= 1.8x the teacher's inference throughput. Finished runs are kept
in --work_dir and reused by a rerun.
"""

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import time
import types

import numpy as np

from bench.common import cores, cpu_model, load_average
from bench.glue import GLUE_DIR, REPO, bert_tf_command, prepare, timed

DRUG_FLAGS = ["--task_name=tsv", "--data_dir=data/drugreview", "--has_header",
              "--text_a_column=review", "--label_column=label",
              "--label_list=negative,neutral,positive", "--optimizer=adamw",
              "--learning_rate=1e-4", "--class_weights=sqrt_balanced", "--train_batch_size=16",
              "--num_train_epochs=5", "--warmup_proportion=0.1", "--eval_batch_size=32",
              "--log_every_steps=25", "--seed=12345"]
SST2_FLAGS = ["--task_name=SST-2", "--optimizer=adamw", "--learning_rate=1e-4",
              "--train_batch_size=32", "--num_train_epochs=2", "--warmup_proportion=0.1",
              "--eval_batch_size=32", "--bucket_by_length", "--log_every_steps=50", "--seed=1"]
SST2_SUBSET, SST2_UNLABELED, SST2_TEACHER_EPOCHS = 2000, 2000, 2.0
STUDENTS = [("3 layers, distilled", 3, 0.9), ("3 layers, labels only", 3, 0.0),
            ("2 layers, distilled", 2, 0.9), ("2 layers, labels only", 2, 0.0)]
# The SST-2 3-layer pair is also trained with these seeds (the comparison is within a point).
EXTRA_SEEDS = {"sst2": (2, 3)}
SEEDED = ("3 layers, distilled", "3 layers, labels only")
SEQ, BATCH, ROUNDS, WINDOW_S = 128, 32, 7, 3.0
TARGET_RETAINED, TARGET_SPEEDUP = 0.97, 1.8


def log(text):
    print(text, flush=True)


def run_once(cmd, out_dir):
    """Runs a training command unless out_dir already holds its finished results."""
    done = os.path.join(out_dir, "bench_command.json")
    if os.path.exists(done) and json.load(open(done))["cmd"] == cmd[1:]:
        return json.load(open(done))["seconds"]
    log("  $ " + " ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c for c in cmd))
    proc, seconds = timed(cmd)
    with open(done, "w") as f:
        json.dump({"cmd": cmd[1:], "seconds": seconds, "load_average": load_average()}, f)
    return seconds


def drug_teacher(work):
    folder = os.path.join(REPO, "output", "drugreview", "final_model")
    if not os.path.exists(os.path.join(folder, "classifier_info.json")):
        log("drugreview: training the demo teacher (configs/drugreview.flags)")
        subprocess.run([sys.executable, "run_classifier.py", "--flagfile=configs/drugreview.flags"],
                       cwd=REPO, check=True)
    return folder, None


def sst2_teacher(work):
    data_dir = os.path.join(work, "sst2_data")
    counts = prepare("sst2", GLUE_DIR, data_dir, subset=SST2_SUBSET)
    out = os.path.join(work, "sst2_teacher")
    os.makedirs(out, exist_ok=True)
    seconds = run_once(bert_tf_command("sst2", data_dir, out, seed=1, epochs=SST2_TEACHER_EPOCHS),
                       out)
    return os.path.join(out, "final_model"), dict(counts, teacher_seconds=seconds)


def unlabeled_sst2(work, count):
    """`count` train.tsv sentences outside the labelled subset, one per line."""
    with open(os.path.join(GLUE_DIR, "SST-2", "train.tsv"), encoding="utf-8-sig") as f:
        rows = [line for line in f if line.strip()][1:]
    subset = set(random.Random(0).sample(range(len(rows)), SST2_SUBSET))
    rest = [i for i in range(len(rows)) if i not in subset]
    chosen = sorted(random.Random(1).sample(rest, count))
    path = os.path.join(work, "sst2_unlabeled.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(rows[i].split("\t")[0] + "\n" for i in chosen)
    return path


def dev_examples(task, work):
    from bert_tf.training.fine_tune import classifier_processor

    if task == "drugreview":
        p = types.SimpleNamespace(task_name="tsv", text_a_column="review", text_b_column=None,
                                  label_column="label", label_list="negative,neutral,positive",
                                  has_header=True)
        return classifier_processor(p).get_dev_examples(os.path.join(REPO, "data", "drugreview"))
    p = types.SimpleNamespace(task_name="SST-2")
    return classifier_processor(p).get_dev_examples(os.path.join(work, "sst2_data"))


def macro_f1(predicted, labels, k):
    scores = []
    for c in range(k):
        tp = np.sum((predicted == c) & (labels == c))
        denominator = np.sum(predicted == c) + np.sum(labels == c)
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def score(folder, examples):
    """(model, accuracy, macro-F1) of a classifier folder on the dev examples."""
    from bert_tf.data.features import examples_to_features
    from bert_tf.distillation.teacher import load_teacher, predict_logits
    from bert_tf.tokenization import FullTokenizer

    teacher = load_teacher(folder)
    info = teacher.info
    features = examples_to_features(examples, info.labels, info.max_seq_length,
                                    FullTokenizer(teacher.vocab_file, info.do_lower_case))
    model = teacher.build()
    predicted = predict_logits(model, features, 32).argmax(axis=1)
    labels = np.array([f.label_id for f in features])
    return model, float(np.mean(predicted == labels)), macro_f1(predicted, labels, len(info.labels))


def sizes(folder, export_dir):
    from bert_tf.export import export_model

    report_path = os.path.join(export_dir, "export_report.json")
    if not os.path.exists(report_path):
        export_model(folder, export_dir, tflite=True, log=lambda _: None)
    report = json.load(open(report_path))["bytes"]
    return {"saved_model_bytes": report["classifier"], "tflite_bytes": report["classifier.tflite"],
            "tflite_int8_bytes": report["classifier_int8.tflite"]}


def throughput(models):
    """Examples/s of each Keras model on [32, 128] batches: the models take turns, each running
    for WINDOW_S seconds a turn; the best of ROUNDS turns counts (the machine is shared)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, (BATCH, SEQ)).astype(np.int32)
    batch = {"input_word_ids": tf.constant(ids), "input_mask": tf.ones_like(ids),
             "input_type_ids": tf.zeros_like(ids)}
    steps = {name: tf.function(lambda x, m=m: m(x, training=False), autograph=False)
             for name, m in models.items()}
    for step in steps.values():
        step(batch).numpy()
        step(batch).numpy()
    best = {name: 0.0 for name in steps}
    for _ in range(ROUNDS):
        for name, step in steps.items():
            calls, started = 0, time.perf_counter()
            while time.perf_counter() - started < WINDOW_S:
                step(batch).numpy()
                calls += 1
            best[name] = max(best[name], calls * BATCH / (time.perf_counter() - started))
    return best


def slug(name):
    return name.replace(" ", "_").replace(",", "").replace("+", "plus").replace("(", "").replace(
        ")", "")


def train_student(task, work, teacher, flags, name, layers, alpha, seed, unlabeled):
    out = os.path.join(work, task, slug(name) + (f"_seed{seed}" if seed else ""))
    os.makedirs(out, exist_ok=True)
    extra = [f"--unlabeled_file={unlabeled_sst2(work, unlabeled)}"] if "unlabelled" in name \
        else []
    extra += [f"--seed={seed}"] if seed else []
    cmd = [sys.executable, os.path.join(REPO, "run_distillation.py"),
           f"--teacher_model={teacher}", f"--student_layers={layers}", f"--alpha={alpha}",
           "--temperature=2", "--do_train", "--do_eval", f"--output_dir={out}"] + flags + extra
    seconds = run_once(cmd, out)
    log(f"  {name}{f' (seed {seed})' if seed else ''}: trained in {seconds:.0f} s")
    return os.path.join(out, "final_model"), seconds


def cached_score(folder, examples, cache):
    """score() of a folder, kept in `cache` (a JSON file) while its checkpoint is unchanged."""
    stamp = os.path.getmtime(os.path.join(folder, "bert_model.ckpt.index"))
    if os.path.exists(cache):
        saved = json.load(open(cache))
        if saved["stamp"] == stamp:
            return None, saved["accuracy"], saved["macro_f1"], saved["params"]
    model, accuracy, f1 = score(folder, examples)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w") as f:
        json.dump({"stamp": stamp, "accuracy": accuracy, "macro_f1": f1,
                   "params": int(model.count_params())}, f)
    return model, accuracy, f1, int(model.count_params())


def run_task(task, work, unlabeled):
    """Trains (or reuses) the task's models and scores them; returns (result, folders by depth)."""
    log(f"== {task}")
    teacher, teacher_meta = (drug_teacher if task == "drugreview" else sst2_teacher)(work)
    flags = list(DRUG_FLAGS if task == "drugreview" else SST2_FLAGS)
    if task == "sst2":
        flags.append(f"--data_dir={os.path.join(work, 'sst2_data')}")
    students = list(STUDENTS)
    if task == "sst2" and unlabeled:
        students.append((f"3 layers, distilled, + {unlabeled} unlabelled", 3, 0.9))
    examples = dev_examples(task, work)
    entries = [("teacher (6 layers)", 6, None, [(teacher, (teacher_meta or {}).get(
        "teacher_seconds"))])]
    for name, layers, alpha in students:
        seeds = [None] + (list(EXTRA_SEEDS.get(task, ())) if name in SEEDED else [])
        entries.append((name, layers, alpha, [
            train_student(task, work, teacher, flags, name, layers, alpha, seed, unlabeled)
            for seed in seeds]))
    rows, folders = [], {}
    for name, layers, alpha, runs in entries:
        scores = []
        for n, (folder, _) in enumerate(runs):
            cache = os.path.join(work, "scores", task, f"{slug(name)}_{n}.json")
            scores.append(cached_score(folder, examples, cache))
        _, accuracy, f1, params = scores[0]
        row = {"model": name, "layers": layers, "alpha": alpha, "accuracy": accuracy,
               "macro_f1": f1, "params": params, "train_seconds": runs[0][1]}
        if len(scores) > 1:
            values = [a for _, a, _, _ in scores]
            row.update(seed_accuracies=values, accuracy_mean=float(np.mean(values)),
                       accuracy_sd=float(np.std(values, ddof=1)))
        export_dir = os.path.join(work, "exports", task, f"{layers}_layers")
        row.update(sizes(runs[0][0], export_dir))  # one export per depth: the sizes are alike
        folders.setdefault(layers, runs[0][0])
        rows.append(row)
        log(f"  {name}: accuracy {accuracy:.4f}, macro-F1 {f1:.4f}" + (
            f", over {len(scores)} seeds {row['accuracy_mean']:.4f} +- {row['accuracy_sd']:.4f}"
            if len(scores) > 1 else ""))
    records = os.path.join(os.path.dirname(entries[1][3][0][0]), "distill_train.tf_record")
    return {"eval_examples": len(examples), "data": teacher_meta, "rows": rows,
            "teacher_train_accuracy": teacher_train_accuracy(records, teacher)}, folders


def teacher_train_accuracy(records, teacher):
    """How often the teacher's cached logits pick the true label of its own training rows."""
    import tensorflow as tf

    from bert_tf.distillation.records import read_teacher_logits
    from bert_tf.distillation.teacher import load_teacher

    logits = read_teacher_logits(records, load_teacher(teacher).info.num_labels)
    spec = {"label_ids": tf.io.FixedLenFeature([], tf.int64)}
    labels = [int(tf.io.parse_single_example(r, spec)["label_ids"])
              for r in tf.data.TFRecordDataset(records)]
    return float(np.mean(np.argmax(logits, axis=1) == np.array(labels)))


def add_speed_and_targets(result, speed):
    for row in result["rows"]:
        row["examples_per_sec"] = speed[row["layers"]]
        row["speedup"] = row["examples_per_sec"] / speed[6]
    rows = {r["model"]: r for r in result["rows"]}
    teacher, student = rows["teacher (6 layers)"], rows["3 layers, distilled"]
    plain = rows["3 layers, labels only"]
    key = "accuracy_mean" if "accuracy_mean" in student else "accuracy"
    retained = student[key] / teacher["accuracy"]
    result["targets"] = {
        "accuracy_compared": key, "retained_accuracy": retained,
        "retained_ok": retained >= TARGET_RETAINED,
        "beats_label_only_points": 100 * (student[key] - plain[key]),
        "beats_label_only": student[key] > plain[key],
        "speedup": student["speedup"], "speed_ok": student["speedup"] >= TARGET_SPEEDUP}


def print_table(results):
    for task, result in results["tasks"].items():
        log(f"\n{task} ({result['eval_examples']} dev examples)")
        log(f"{'model':44} {'acc':>7} {'macroF1':>8} {'params':>7} {'SavedMB':>8} "
            f"{'tfliteMB':>9} {'ex/s':>7} {'x':>5}")
        for r in result["rows"]:
            log(f"{r['model']:44} {r['accuracy']:7.4f} {r['macro_f1']:8.4f} "
                f"{r['params'] / 1e6:6.1f}M {r['saved_model_bytes'] / 2**20:8.1f} "
                f"{r['tflite_bytes'] / 2**20:9.1f} {r['examples_per_sec']:7.1f} "
                f"{r['speedup']:5.2f}" + (f"  (seeds: {r['accuracy_mean']:.4f} +- "
                                          f"{r['accuracy_sd']:.4f})" if "accuracy_mean" in r else ""))
        log(f"targets: {json.dumps(result['targets'])}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="drugreview,sst2")
    parser.add_argument("--work_dir", default=os.path.join(REPO, "output", "bench_distillation"))
    parser.add_argument("--unlabeled", type=int, default=SST2_UNLABELED,
                        help="SST-2 sentences added without labels (0: no such student)")
    parser.add_argument("--output", default=os.path.join(REPO, "bench",
                                                         "results_distillation.json"))
    args = parser.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    results = {"machine": {"cpu": cpu_model(), "cores": cores(), "commit": commit,
                           "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                               "%Y-%m-%d %H:%M UTC"),
                           "load_average_start": load_average()},
               "inference": {"batch": BATCH, "seq": SEQ, "dtype": "float32", "rounds": ROUNDS,
                             "seconds_per_turn": WINDOW_S},
               "temperature": 2.0, "alpha": 0.9, "tasks": {}}
    started = time.time()
    folders = {}
    for task in args.tasks.split(","):
        results["tasks"][task], task_folders = run_task(task, args.work_dir, args.unlabeled)
        for layers, folder in task_folders.items():
            folders.setdefault(layers, folder)
    # One timing per depth (the heads' 2 or 3 outputs change nothing measurable), all depths
    # measured together so that they share the machine's load.
    from bert_tf.distillation.teacher import load_teacher

    log(f"timing {sorted(folders)} layers (load average {load_average()})")
    speed = throughput({k: load_teacher(folder).build() for k, folder in folders.items()})
    results["inference"]["load_average"] = load_average()
    for result in results["tasks"].values():
        add_speed_and_targets(result, speed)
    results["machine"]["load_average_end"] = load_average()
    results["seconds"] = time.time() - started
    print_table(results)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    log(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
