"""run_classifier.py on SIGTERM (a preempted Cloud TPU or spot VM): a checkpoint at the next step
boundary, one `preempted:` line, exit 0, the previous run's results gone; the same command then
resumes and ends with the uninterrupted run's metrics."""

import signal
import subprocess
import time

import pytest
from training.conftest import (N_TRAIN, TRAIN_BATCH, readme_args, run_ok, script_env,
                               start_script)


def _args(tiny_model, mrpc_dir, out):
    return readme_args(tiny_model, mrpc_dir, out, num_train_epochs="2.0", learning_rate="1e-3",
                       log_every_steps=1, save_checkpoints_steps=100, deterministic="true",
                       do_predict="true")


def test_sigterm_saves_exits_0_and_the_rerun_matches(cached_run, tiny_model, mrpc_dir,
                                                     tmp_path):
    total = int(N_TRAIN / TRAIN_BATCH * 2.0)
    full = cached_run("preemption_full", lambda out: _args(tiny_model, mrpc_dir, out))
    out = tmp_path / "out"
    out.mkdir()
    for stale in ("eval_results.txt", "test_results.tsv", "MRPC.tsv"):  # an older run's
        (out / stale).write_text("old\n")
    proc = start_script(_args(tiny_model, mrpc_dir, out), env=script_env(),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, deadline = [], time.time() + 240
    for line in proc.stdout:  # the first step is logged: training has begun
        lines.append(line)
        if line.startswith("step 1/"):
            proc.send_signal(signal.SIGTERM)
            break
        assert time.time() < deadline, "".join(lines)
    rest, err = proc.communicate(timeout=240)
    stdout = "".join(lines) + rest
    assert proc.returncode == 0, stdout + err
    said = [line for line in stdout.splitlines() if line.startswith("preempted:")]
    assert len(said) == 1 and "run the same command again to resume" in said[0], stdout
    step = int(said[0].split("SIGTERM at step ")[1].split()[0])
    assert 0 < step < total and (out / f"model.ckpt-{step}.index").exists()
    assert not any((out / name).exists() for name in ("eval_results.txt", "test_results.tsv",
                                                      "MRPC.tsv", "final_model"))
    resumed = run_ok(_args(tiny_model, mrpc_dir, out))
    assert f"(global step {step})" in resumed.stdout, resumed.describe()
    ours, theirs = resumed.eval_results(), full.eval_results()
    assert ours["global_step"] == theirs["global_step"] == total
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert (out / "test_results.tsv").read_text() == (full.output_dir / "test_results.tsv").read_text()
