"""Fine-tune and score a set of GLUE tasks in one command, then print one table.

    python -m bert_tf.glue --glue_dir=glue_data --bert_dir=uncased_L-12_H-768_A-12 \\
      --tasks=MRPC,RTE --output_dir=output/glue [--do_predict]

Each task runs run_classifier's workflow (`bert_tf.training.fine_tune.run_classifier`) with
its recipe (`RECIPES`, the same as `configs/glue/<task>.flags`) on `<glue_dir>/<folder>`
(GLUE's download layout: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI), writing into
`<output_dir>/<folder>/` what run_classifier writes: eval_results.txt, and with --do_predict
test_results.tsv and the leaderboard file (MRPC.tsv, ...; MNLI-m.tsv, MNLI-mm.tsv, and AX.tsv
when `<glue_dir>/diagnostic/diagnostic.tsv` exists). The table of GLUE metrics goes to stdout
and to `<output_dir>/glue_results.txt`, all eval results to `<output_dir>/glue_results.json`.
Every task's folder is checked before the first task trains.
"""

import json
import os
import sys
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

# task -> (GLUE folder = run_classifier --task_name, epochs, why the epochs differ from 3)
RECIPES = {
    "cola": ("CoLA", 3.0, None),
    "sst2": ("SST-2", 3.0, None),
    "mrpc": ("MRPC", 3.0, None),
    "stsb": ("STS-B", 10.0, "5.7k training pairs: ELECTRA's GLUE recipe trains RTE and STS-B "
                            "for 10 epochs, 3 for the other tasks"),
    "qqp": ("QQP", 3.0, None),
    "mnli": ("MNLI", 3.0, None),
    "qnli": ("QNLI", 3.0, None),
    "rte": ("RTE", 10.0, "2.5k training pairs: ELECTRA's GLUE recipe trains RTE and STS-B "
                         "for 10 epochs, 3 for the other tasks"),
    "wnli": ("WNLI", 3.0, None),
}
# The original recipe (REFERENCE: run_classifier.py on GLUE), shared by every task.
COMMON = dict(max_seq_length=128, train_batch_size=32, learning_rate=2e-5, warmup_proportion=0.1,
              eval_batch_size=32, predict_batch_size=32)
# GLUE's official metrics per task: (column title, eval_results.txt key).
GLUE_METRICS = {
    "cola": [("MCC", "eval_mcc")],
    "sst2": [("acc", "eval_accuracy")],
    "mrpc": [("F1", "eval_f1"), ("acc", "eval_accuracy")],
    "stsb": [("Pearson", "eval_pearson"), ("Spearman", "eval_spearman")],
    "qqp": [("F1", "eval_f1"), ("acc", "eval_accuracy")],
    "mnli": [("m acc", "eval_accuracy"), ("mm acc", "eval_mm_accuracy")],
    "qnli": [("acc", "eval_accuracy")],
    "rte": [("acc", "eval_accuracy")],
    "wnli": [("acc", "eval_accuracy")],
}
TABLE_NAME, JSON_NAME = "glue_results.txt", "glue_results.json"

FLAGS = flags.FLAGS


def define_flags():
    """The runner's flags (defined by `python -m bert_tf.glue` only, so that importing this
    module leaves absl's global flags alone)."""
    flags.DEFINE_string("glue_dir", None, "GLUE's download folder (CoLA/, SST-2/, MRPC/, ...).")
    flags.DEFINE_string("bert_dir", None, "A Google model folder: bert_config.json, vocab.txt, "
                        "bert_model.ckpt.* (e.g. uncased_L-12_H-768_A-12).")
    flags.DEFINE_list("tasks", [r[0] for r in RECIPES.values()], "GLUE tasks to run, in order.")
    flags.DEFINE_string("output_dir", None, "One folder per task is made here, plus the table.")
    flags.DEFINE_bool("do_train", True, "Fine-tune each task (else evaluate --bert_dir as is).")
    flags.DEFINE_bool("do_eval", True, "Evaluate on the dev set(s).")
    flags.DEFINE_bool("do_predict", False, "Predict the test set(s) and write the submission "
                      "files.")
    flags.DEFINE_bool("do_lower_case", None, "Default: from --bert_dir's name (uncased_/cased_), "
                      "else true.")
    flags.DEFINE_integer("max_seq_length", None, "Override the recipe's 128.")
    flags.DEFINE_integer("train_batch_size", None, "Override the recipe's 32.")
    flags.DEFINE_float("learning_rate", None, "Override the recipe's 2e-5.")
    flags.DEFINE_float("num_train_epochs", None, "Override every task's epochs.")
    flags.DEFINE_integer("seed", 12345, "Random seed of every task.")


def task_key(name):
    """'SST-2' / 'sst2' / 'STS-B' -> the RECIPES key; UsageError for a non-GLUE name."""
    from bert_tf.training.model_files import UsageError

    key = str(name).strip().lower().replace("-", "")
    if key not in RECIPES:
        raise UsageError(f"--tasks: {name!r} is not a GLUE task; choose from "
                         f"{[r[0] for r in RECIPES.values()]}")
    return key


def task_params(key, glue_dir, bert_dir, output_dir, **overrides):
    """The run_classifier parameters of one task: its recipe, then the non-None overrides."""
    from bert_tf.tokenization import infer_do_lower_case

    folder, epochs, _ = RECIPES[key]
    params = dict(COMMON, task_name=folder, num_train_epochs=epochs,
                  data_dir=os.path.join(glue_dir, folder),
                  output_dir=os.path.join(output_dir, folder),
                  init_checkpoint=os.path.join(bert_dir, "bert_model.ckpt"),
                  bert_config_file=os.path.join(bert_dir, "bert_config.json"),
                  vocab_file=os.path.join(bert_dir, "vocab.txt"),
                  do_train=True, do_eval=True, do_predict=False, seed=12345,
                  iterations_per_loop=1000, save_checkpoints_steps=1000, log_every_steps=100)
    params.update({k: v for k, v in overrides.items() if v is not None})
    if params.get("do_lower_case") is None:
        guess = infer_do_lower_case(bert_dir)
        params["do_lower_case"] = True if guess is None else guess
    diagnostic = os.path.join(glue_dir, "diagnostic", "diagnostic.tsv")
    if key == "mnli" and os.path.isfile(diagnostic):
        params["diagnostic_file"] = diagnostic
    return types.SimpleNamespace(**params)


def check_all(params_list):
    """Every task's files, before anything trains (run_classifier checks them again)."""
    from bert_tf.data.processors import get_processor
    from bert_tf.training.glue_outputs import GluePlan

    for p in params_list:
        if not os.path.isdir(p.data_dir):
            from bert_tf.data.processors import MissingDataError

            raise MissingDataError(f"{p.data_dir}: no such folder (expected GLUE's "
                                   f"{p.task_name} folder inside --glue_dir)")
        GluePlan.for_run(p, get_processor(p.task_name)).check()


def format_table(rows):
    """rows: [(task_key, eval results dict)] -> a fixed-width text table (percent values)."""
    lines = [("task", "metric", "value", "eval_loss", "steps")]
    for key, results in rows:
        names = "/".join(title for title, _ in GLUE_METRICS[key])
        values = "/".join("-" if k not in results else f"{100 * results[k]:.1f}"
                          for _, k in GLUE_METRICS[key])
        loss = results.get("eval_loss")
        lines.append((RECIPES[key][0], names, values, "-" if loss is None else f"{loss:.4f}",
                      str(results.get("global_step", "-"))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in lines) + "\n"


def run(glue_dir, bert_dir, tasks, output_dir, **overrides):
    """Runs every task (recipe + overrides); returns [(task_key, eval results)]."""
    from bert_tf.training.fine_tune import run_classifier
    from bert_tf.training.results import write_text

    keys = [task_key(t) for t in tasks]
    params_list = [task_params(k, glue_dir, bert_dir, output_dir, **overrides) for k in keys]
    check_all(params_list)
    rows = []
    for key, p in zip(keys, params_list):
        print(f"===== GLUE {RECIPES[key][0]}: {p.num_train_epochs:g} epochs, lr "
              f"{p.learning_rate:g}, batch {p.train_batch_size}, seq {p.max_seq_length}",
              flush=True)
        rows.append((key, run_classifier(p) or {}))
    table = format_table(rows)
    os.makedirs(output_dir, exist_ok=True)
    write_text(os.path.join(output_dir, TABLE_NAME), table)
    write_text(os.path.join(output_dir, JSON_NAME),
               json.dumps({RECIPES[k][0]: r for k, r in rows}, indent=1, sort_keys=True) + "\n")
    return rows, table


def main(argv):
    del argv
    from bert_tf.errors import USER_ERRORS

    missing = [f"--{n}" for n in ("glue_dir", "bert_dir", "output_dir") if not FLAGS[n].value]
    if missing:
        sys.exit(f"error: {', '.join(missing)} required")
    try:
        _, table = run(FLAGS.glue_dir, FLAGS.bert_dir, FLAGS.tasks, FLAGS.output_dir,
                       do_train=FLAGS.do_train, do_eval=FLAGS.do_eval,
                       do_predict=FLAGS.do_predict, do_lower_case=FLAGS.do_lower_case,
                       max_seq_length=FLAGS.max_seq_length,
                       train_batch_size=FLAGS.train_batch_size,
                       learning_rate=FLAGS.learning_rate,
                       num_train_epochs=FLAGS.num_train_epochs, seed=FLAGS.seed)
    except USER_ERRORS as e:
        sys.exit(f"error: {e}")
    print(table, end="")
    print(f"(written to {os.path.join(FLAGS.output_dir, TABLE_NAME)})")


if __name__ == "__main__":
    define_flags()
    app.run(main)
