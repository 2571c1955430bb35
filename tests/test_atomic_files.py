"""bert_tf.atomic_files: complete-or-absent outputs with umask permissions, locally and through
tf.io.gfile (ram://, TF's in-memory file system, stands in for gs:// here)."""

import os
import stat
import subprocess
import sys

import pytest

from bert_tf.atomic_files import (atomic_output, atomic_path, current_umask, file_mode,
                                  write_bytes_atomic, write_text_atomic)


@pytest.fixture
def umask():
    """umask(mask): sets the process umask for the test, restored after."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_what_the_umask_allows(tmp_path, umask, mask, mode):
    umask(mask)
    assert current_umask() == mask and file_mode() == mode
    write_text_atomic(tmp_path / "a.txt", "x")
    write_bytes_atomic(tmp_path / "b.bin", b"x")
    with atomic_path(tmp_path / "c.tf_record") as temp:
        with open(temp, "w") as f:
            f.write("x")
    for name in ("a.txt", "b.bin", "c.tf_record"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == mode, name


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "eval_results.txt"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as f:
            f.write("new, half written")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval_results.txt"]


def test_the_target_appears_only_at_the_end(tmp_path):
    target = tmp_path / "out" / "results.tsv"  # the folder is made too
    with atomic_output(target) as f:
        f.write("a\n")
        assert not target.exists()
    assert target.read_text() == "a\n"


def test_text_is_utf8_with_unix_newlines(tmp_path):
    write_text_atomic(tmp_path / "t.txt", "é\nx\n")
    assert (tmp_path / "t.txt").read_bytes() == "é\nx\n".encode("utf-8")


def test_paths_with_a_scheme_go_through_gfile():
    # ram:// lives in one process: write and read back in a fresh one, so nothing leaks here.
    code = (
        "import tensorflow as tf\n"
        "from bert_tf.atomic_files import write_text_atomic, atomic_output\n"
        "write_text_atomic('ram://bucket/run/eval_results.txt', 'eval_accuracy = 1\\n')\n"
        "try:\n"
        "    with atomic_output('ram://bucket/run/eval_results.txt') as f:\n"
        "        f.write('half')\n"
        "        raise RuntimeError\n"
        "except RuntimeError:\n"
        "    pass\n"
        "print(tf.io.gfile.GFile('ram://bucket/run/eval_results.txt').read(), end='')\n"
        "print(sorted(tf.io.gfile.listdir('ram://bucket/run/')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "eval_accuracy = 1\n['eval_results.txt']\n"
