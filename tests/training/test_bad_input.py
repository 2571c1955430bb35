"""The bad-input table of docs/reliability.md, row by row, on run_classifier.py.

Each row: one `error:` line naming the flag or file (and line), exit status 2 for a usage error
or 1 for a data error, no traceback, and output_dir exactly as it was before the run.
"""

import shutil

import pytest
from training.conftest import readme_args, run_ok, run_script

USAGE, DATA = 2, 1


def _short_test_row(data):
    rows = (data / "test.tsv").read_text().splitlines()
    rows[4] = "\t".join(rows[4].split("\t")[:3])
    (data / "test.tsv").write_text("\n".join(rows) + "\n")
    return {"do_predict": "true"}, ["test.tsv, line 5"], DATA


def _one_label(data):
    rows = (data / "train.tsv").read_text().splitlines()
    (data / "train.tsv").write_text("\n".join([rows[0]] + ["1" + r[1:] for r in rows[1:]]) + "\n")
    return {}, ["every training example has label '1'"], DATA


def _tsv(label_list):
    def mutate(data):
        rows = ["w1 w2\tpos", "w3 w4\tneg", "w5 w6\tpos", "w8 w9\tneg"]
        for name in ("train.tsv", "dev.tsv", "test.tsv"):
            (data / name).write_text("\n".join(rows) + "\n")
        return (dict(task_name="tsv", text_a_column=0, label_column=1, label_list=label_list),
                ["--label_list="], USAGE)
    return mutate


def _flags(says=None, code=USAGE, **overrides):
    flag, value = next(iter(overrides.items()))
    return lambda data: (overrides, [says or f"--{flag}={value}"], code)


ROWS = {
    "train_batch_size_0": _flags(train_batch_size=0),
    "num_train_epochs_nan": _flags(num_train_epochs="nan"),
    "max_seq_length_0": _flags(max_seq_length=0),
    "max_seq_length_negative": _flags(max_seq_length=-5),
    "eval_batch_size_0": _flags(eval_batch_size=0),
    "warmup_proportion_negative": _flags(warmup_proportion=-3),
    "learning_rate_negative": _flags(learning_rate=-1),
    "unknown_task": _flags("--task_name='foo' is not supported", task_name="foo"),
    "negative_column": _flags("--text_a_column=-1", task_name="tsv", text_a_column=-1,
                              label_column=1),
    "class_weights_nan": _flags("--class_weights='1,nan'", class_weights="1,nan"),
    "class_weights_inf": _flags("--class_weights='1,inf'", class_weights="1,inf"),
    "unknown_flag": _flags("Unknown command line flag 'learning_rat'", learning_rat="1"),
    "short_test_row": _short_test_row,
    "one_training_label": _one_label,
    "label_list_repeated": _tsv("pos,neg,pos"),
    "label_list_trailing_comma": _tsv("pos,neg,"),
}


@pytest.mark.parametrize("row", sorted(ROWS))
def test_bad_input_row(row, tiny_model, mrpc_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(mrpc_dir, data)
    overrides, expected, status = ROWS[row](data)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("kept\n")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    run = run_script(readme_args(tiny_model, data, out, **overrides), timeout=180)
    assert run.returncode == status, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], run.describe()
    for part in expected:
        assert part in errors[0], (part, errors[0])
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing written


def test_a_checkpoint_of_another_model_is_one_line(tiny_model, mrpc_dir, tmp_path,
                                                   make_google_folder, tiny_config_dict):
    out = tmp_path / "out"
    run_ok(readme_args(tiny_model, mrpc_dir, out, num_train_epochs="0.5", do_eval="false"),
           timeout=300)
    bigger = dict(tiny_config_dict, hidden_size=2 * tiny_config_dict["hidden_size"],
                  intermediate_size=2 * tiny_config_dict["intermediate_size"])
    folder, _ = make_google_folder(bigger, name="bigger")
    run = run_script(readme_args(tiny_model, mrpc_dir, out,
                                 bert_config_file=folder / "bert_config.json",
                                 init_checkpoint=folder / "bert_model.ckpt"), timeout=300)
    assert run.returncode == DATA and "Traceback" not in run.stderr, run.describe()
    last = [line for line in run.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("error: ") and "does not fit the model" in last
