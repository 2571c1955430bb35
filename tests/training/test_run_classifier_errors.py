"""run_classifier.py on bad input: one `error: ...` line on stderr naming the file/line or flag,
no traceback, a non-zero exit code, and no result files."""

import shutil

import pytest
from training.conftest import readme_args, run_script


def _too_few_columns(data):
    rows = (data / "train.tsv").read_text().splitlines()
    rows[3] = "\t".join(rows[3].split("\t")[:4])  # drop #2 String on file line 4
    (data / "train.tsv").write_text("\n".join(rows) + "\n")
    return {}, ["train.tsv, line 4", "columns"]


def _label_not_in_list(data):
    rows = ["w1 w2\tpos", "w3 w4\tneg", "w5 w6\tpos", "w7\tmaybe", "w8 w9\tneg"]
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (data / name).write_text("\n".join(rows) + "\n")
    return (dict(task_name="tsv", text_a_column=0, label_column=1, label_list="pos,neg"),
            ["train.tsv, line 4", "'maybe'"])


def _empty_train_file(data):
    (data / "train.tsv").write_text("")
    return {}, ["train.tsv", "no examples"]


def _seq_too_long(data):
    return dict(max_seq_length=65), ["--max_seq_length=65", "max_position_embeddings=64"]


def _missing_checkpoint(data):
    missing = str(data / "no_such_model" / "bert_model.ckpt")
    return dict(init_checkpoint=missing), ["--init_checkpoint", missing]


def _nan_loss(data):
    # A learning rate of 1e6 without clipping blows the weights up within a few steps.
    return (dict(learning_rate="1e6", clip_norm=0, log_every_steps=1),
            ["loss became nan", "--learning_rate"])


CASES = {
    "too_few_columns": _too_few_columns,
    "label_not_in_list": _label_not_in_list,
    "empty_train_file": _empty_train_file,
    "max_seq_length_above_positions": _seq_too_long,
    "missing_init_checkpoint": _missing_checkpoint,
    "nan_loss": _nan_loss,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_error_line(case, tiny_model, mrpc_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(mrpc_dir, data)
    overrides, expected = CASES[case](data)
    out = tmp_path / "out"
    run = run_script(readme_args(tiny_model, data, out, do_predict="true", **overrides),
                     timeout=120)
    assert run.returncode != 0, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    # TF's C++ start-up lines may precede it; the error is the last line and the only one.
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), run.describe()
    assert sum(line.startswith("error:") for line in lines) == 1
    for part in expected:
        assert part in lines[-1], (part, lines[-1])
    assert not (out / "eval_results.txt").exists()
    assert not (out / "test_results.tsv").exists()
    # The NaN error says no checkpoint was written for the bad step: none at all here, since
    # every step is checked (log_every_steps=1) and the first checkpoint would be at the end.
    assert not list(out.glob("model.ckpt-*"))
