"""The fault matrix of docs/reliability.md: run_classifier.py (tiny model, MRPC fixture) killed,
out of disk space, and cut off from Cloud Storage, one test per row.

Every run is deterministic (`--deterministic=true`) and writes a checkpoint every step, so a
rerun after any of these faults resumes where the last complete checkpoint left off and must end
with the uninterrupted run's eval_results.txt and test_results.tsv.
"""

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training.conftest import (MRPC_TEST_HEADER, N_TRAIN, REPO_ROOT, SCRIPT, SCRIPT_TIMEOUT_S,
                               TRAIN_BATCH, readme_args, run_ok, script_env, start_script)

EPOCHS = 6
TOTAL = int(N_TRAIN / TRAIN_BATCH * EPOCHS)  # 33 steps
KILLS = 10


def _args(tiny_model, data_dir, out, **extra):
    # A progress line and a checkpoint every step: any step can be a kill's step, and a rerun
    # loses at most the step in flight.
    flags = dict(num_train_epochs=f"{EPOCHS}.0", learning_rate="1e-3", log_every_steps=1,
                 save_checkpoints_steps=1, deterministic="true", do_predict="true")
    flags.update(extra)
    return readme_args(tiny_model, data_dir, out, **flags)


@pytest.fixture
def uninterrupted(cached_run, tiny_model, mrpc_dir):
    """The run every faulted run must end like (once per session)."""
    return cached_run("fault_matrix_full", lambda out: _args(tiny_model, mrpc_dir, out))


def _assert_same_results(results, test_results, reference):
    ours, theirs = results, reference.eval_results()
    assert ours["global_step"] == theirs["global_step"] == TOTAL
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert test_results == (reference.output_dir / "test_results.tsv").read_text()


def _eval_results(folder):
    from bert_tf.training.results import read_eval_results
    return read_eval_results(Path(folder) / "eval_results.txt")


def _resumed_from(stdout):
    """The global step a run resumed from (0: it started afresh)."""
    for line in stdout.splitlines():
        if line.startswith("Resuming from "):
            return int(line.rsplit("(global step ", 1)[1].rstrip(")"))
    return 0


# ---- SIGKILL at random steps ----------------------------------------------------------------

# `python run_classifier.py ARGS`, except that the process imports bert_tf, TF and Keras first
# and then waits for a line on stdin. The test starts the next run while the current one trains,
# so the next run's imports (most of a start-up) overlap it instead of adding to the test's time.
PRELOADED_SCRIPT = r'''
import runpy, sys
import bert_tf.training.fine_tune  # noqa: F401 - bert_tf first: it sets TF's defaults
sys.stdin.readline()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def _preloaded(args, stderr):
    return subprocess.Popen([sys.executable, "-c", PRELOADED_SCRIPT, str(SCRIPT), *args],
                            cwd=str(REPO_ROOT), env=script_env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)


def _go(proc):
    proc.stdin.write("go\n")
    proc.stdin.flush()


def _kill_at_step(proc, step, log_path):
    """Lets `proc` run until it prints `step <step>/`, SIGKILLs it; returns its stdout."""
    lines, deadline = [], time.time() + SCRIPT_TIMEOUT_S
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(f"step {step}/"):
            proc.kill()
            break
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"no `step {step}/` line within {SCRIPT_TIMEOUT_S} s:\n{''.join(lines)}")
    proc.wait()
    proc.stdin.close()
    stdout = "".join(lines)
    assert proc.returncode == -signal.SIGKILL, (
        f"the run ended (rc={proc.returncode}) before step {step}:\n{stdout}\n"
        f"{log_path.read_text()[-3000:]}")
    return stdout


def test_sigkill_at_ten_random_steps_then_the_rerun_matches(uninterrupted, tiny_model,
                                                            mrpc_dir, tmp_path):
    rng = random.Random(34)
    # One step from each window of three, so kills are at least two steps apart: the step a run
    # is killed at may already be checkpointed, and the next kill must still be ahead.
    steps = [3 * i + rng.randint(1, 2) for i in range(KILLS)]
    assert steps[-1] < TOTAL
    out = tmp_path / "out"
    args = _args(tiny_model, mrpc_dir, out)
    log_path = tmp_path / "stderr.log"
    started = []
    with open(log_path, "w") as log:
        try:
            started.append(_preloaded(args, log))
            previous = 0
            for step in steps:
                proc = started[-1]
                started.append(_preloaded(args, log))  # the next run, importing meanwhile
                _go(proc)
                stdout = _kill_at_step(proc, step, log_path)
                # Checkpoints every step: a run resumes at most one step behind the last kill.
                start = _resumed_from(stdout)
                assert previous - 1 <= start < step, (previous, step, stdout)
                previous = step
            last = started[-1]
            _go(last)
            stdout, _ = last.communicate(timeout=SCRIPT_TIMEOUT_S)
        finally:
            for proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert last.returncode == 0, f"{stdout}\n{log_path.read_text()[-3000:]}"
    assert previous - 1 <= _resumed_from(stdout) < TOTAL, stdout
    _assert_same_results(_eval_results(out), (out / "test_results.tsv").read_text(),
                         uninterrupted)


# ---- a full disk while a checkpoint or a result file is written -----------------------------

TEST_ROWS = 300  # test_results.tsv larger than the run's other new files (events, MRPC.tsv)


@pytest.fixture
def previous_run(cached_run, tiny_model, mrpc_dir):
    """A finished 2-epoch run (checkpoints, final_model/, results) on MRPC data with a long
    test.tsv: the output folder that a later run then fails to add to (once per session)."""
    def make_args(out):
        data = out.parent / "data"
        shutil.copytree(mrpc_dir, data)
        rng = random.Random(5)
        words = tiny_model.words
        rows = [f"{i}\t{5000 + i}\t{6000 + i}\t{' '.join(rng.choices(words, k=6))}\t"
                f"{' '.join(rng.choices(words, k=5))}" for i in range(TEST_ROWS)]
        (data / "test.tsv").write_text("\n".join([MRPC_TEST_HEADER, *rows]) + "\n")
        return _args(tiny_model, data, out, num_train_epochs="2.0")

    return cached_run("fault_matrix_previous", make_args)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _run_with_file_size_limit(args, limit):
    """run_classifier.py with no file allowed past `limit` bytes: a write past it fails with
    EFBIG, as a write to a full disk fails with ENOSPC (SIGXFSZ, which would kill the process
    instead, is ignored)."""
    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=str(REPO_ROOT),
                          env=script_env(), text=True, capture_output=True,
                          timeout=SCRIPT_TIMEOUT_S, preexec_fn=limit_file_size)


def _assert_one_error_line(stderr, *wanted):
    said = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(said) == 1 and stderr.strip().splitlines()[-1] == said[0], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    for text in wanted:
        assert text in said[0], said[0]
    return said[0]


@pytest.mark.parametrize("write", ["checkpoint", "result"])
def test_full_disk_is_one_error_line_and_damages_nothing(write, previous_run, tmp_path):
    """A later run in a finished run's folder, under a file-size limit that the earlier run's
    checkpoints and results fit and the write under test does not."""
    out = tmp_path / "out"
    shutil.copytree(previous_run.output_dir, out)
    before = _files(out)
    last = int((out / "checkpoint").read_text().splitlines()[0].rsplit("-", 1)[1].rstrip('"'))
    if write == "checkpoint":
        # Two more epochs from the newest checkpoint; its first new checkpoint does not fit.
        args = [a for a in previous_run.args if not a.startswith(("--num_train_epochs=",
                                                                  "--do_eval=", "--do_predict="))]
        args += ["--num_train_epochs=4.0", "--do_eval=false", "--do_predict=false"]
        limit = len(before[f"model.ckpt-{last}.data-00000-of-00001"]) - 1
        wanted, removed = [f"{out}/model.ckpt-{last + 1}", "File too large"], set()
    else:
        # Prediction only, from the newest checkpoint: test_results.tsv does not fit.
        args = [a for a in previous_run.args if not a.startswith(("--do_train=", "--do_eval="))]
        args += ["--do_train=false", "--do_eval=false"]
        limit = len(before["test_results.tsv"]) - 1
        wanted = [f"{out}/test_results.tsv: File too large"]
        # The run removes the previous results of the kinds it writes when it starts (nothing
        # stale beside new files), before the write that fails.
        removed = {"test_results.tsv", "MRPC.tsv"}
    args = [a if not a.startswith("--output_dir=") else f"--output_dir={out}" for a in args]
    done = _run_with_file_size_limit(args, limit)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    _assert_one_error_line(done.stderr, *wanted)
    assert f"(global step {last})" in done.stdout, done.stdout
    after = _files(out)
    for name, data in before.items():
        if name in removed:
            assert name not in after, name
        else:
            assert after.get(name) == data, f"{name} changed"
    # New files: only this run's TensorBoard events; no temporary or partial file.
    new = sorted(set(after) - set(before))
    assert all(Path(name).name.startswith("events.out.tfevents.") for name in new), new


# ---- Cloud Storage unreachable in the middle of a run ---------------------------------------

def test_gcs_outage_is_one_error_line_and_the_rerun_matches(gcs_emulator, uninterrupted,
                                                           tiny_model, mrpc_dir, tmp_path):
    env = dict(gcs_emulator.env, TF_CPP_MIN_LOG_LEVEL="2")
    for key in ("TF_CONFIG", "BERT_TF_LOGICAL_CPUS", "TPU_NAME"):
        env.pop(key, None)
    bucket = gcs_emulator.bucket("fault-matrix")
    # A progress line and a checkpoint every 8 steps: 4 saves to the emulator rather than 33
    # (the results do not depend on either interval).
    args = _args(tiny_model, mrpc_dir, f"{bucket}/out", log_every_steps=8,
                 save_checkpoints_steps=8)
    log_path = tmp_path / "stderr.log"
    with open(log_path, "w") as log:
        proc = start_script(args, env, stdout=subprocess.PIPE, stderr=log)
        lines = []
        try:
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("step 16/"):
                    gcs_emulator.stop()  # every request now gets 503, as in an outage
                    break
            lines += proc.stdout.readlines()
            proc.wait(timeout=SCRIPT_TIMEOUT_S)
        finally:
            gcs_emulator.start()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stdout, stderr = "".join(lines), log_path.read_text()
    assert "step 16/" in stdout and proc.returncode == 1, stdout[-3000:] + stderr[-3000:]
    _assert_one_error_line(stderr, "retry attempts failed", f"{bucket}/out/",
                           "run the same command again")

    resumed = run_ok(args, env)
    assert _resumed_from(resumed.stdout) in (8, 16), resumed.describe()
    (tmp_path / "eval_results.txt").write_bytes(
        gcs_emulator.read("fault-matrix", "out/eval_results.txt"))
    test_results = gcs_emulator.read("fault-matrix", "out/test_results.tsv").decode()
    _assert_same_results(_eval_results(tmp_path), test_results, uninterrupted)


def test_storage_failures_are_told_from_bugs():
    """cli.storage_failure gives the line for a storage fault and None for anything else (a
    bug keeps its traceback)."""
    import errno

    import tensorflow as tf

    from bert_tf.cli import storage_failure

    full = storage_failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/x.txt"))
    assert full.startswith("out/x.txt: No space left on device; ")
    saved = storage_failure(tf.errors.OutOfRangeError(None, None, (
        "{{function_node __wrapped__SaveV2_device_/job:localhost/task:0/device:CPU:0}} "
        "out/model.ckpt-3_temp/part-00000-of-00001.data-00000-of-00001.tempstate123; "
        "File too large [Op:SaveV2]")))
    assert saved.startswith("out/model.ckpt-3_temp/part-00000-of-00001.data-00000-of-00001: "
                            "File too large; ")
    outage = storage_failure(tf.errors.AbortedError(None, None, (
        "All 2 retry attempts failed. The last failure: Error executing an HTTP request: "
        "HTTP response code 503\n\t when initiating an upload to gs://b/out/x [Op:Flush]")))
    assert "\n" not in outage and "upload to gs://b/out/x;" in outage
    for bug in (OSError(errno.ENOENT, "No such file or directory", "x"), ValueError("x"),
                tf.errors.NotFoundError(None, None, "gs://b/x not found"),
                tf.errors.InvalidArgumentError(None, None, "shapes do not match")):
        assert storage_failure(bug) is None, bug
