"""The data helpers' command lines: real flags, `--help` that writes nothing, one-line errors."""

import subprocess
import sys

import pytest

MODULES = ["bert_tf.data.drugreview", "bert_tf.data.pretraining_text"]


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m"] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.parametrize("module", MODULES)
def test_help_and_unknown_flags_write_nothing(tmp_path, module):
    done = _run([module, "--help"], tmp_path)
    assert done.returncode == 0 and "--" in done.stdout
    done = _run([module, "--outptu=x"], tmp_path)
    assert done.returncode == 2 and "unrecognized arguments: --outptu=x" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_drugreview_writes_where_it_is_told(tmp_path, drugreview_zip):
    done = _run(["bert_tf.data.drugreview", "--output_dir", str(tmp_path / "reviews")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "reviews").iterdir()) == \
        ["dev.tsv", "test.tsv", "train.tsv"]
    assert len((tmp_path / "reviews" / "train.tsv").read_text().splitlines()) == 601


def test_pretraining_text_bad_split_is_one_line(tmp_path, drugreview_zip):
    done = _run(["bert_tf.data.pretraining_text", "--output", str(tmp_path / "corpus.txt"),
                 "--splits", "train,dev"], tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "'dev'" in errors[0]
    assert "Traceback" not in done.stderr and not (tmp_path / "corpus.txt").exists()
