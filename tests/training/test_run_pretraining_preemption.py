"""run_pretraining.py on SIGTERM (a preempted Cloud TPU or spot VM): a checkpoint at the next step
boundary, one `preempted:` line, exit 0, no pretrained_model/ and no eval_results.txt (a stale
one removed); the same command then resumes and ends with the uninterrupted run's eval results.

The model keeps its dropout: the resumed run matches only if the dropout RNG, the optimizer and
the input position all come back from the checkpoint.
"""

import signal
import subprocess
import sys
import time

import pytest
from training.conftest import REPO_ROOT, SCRIPT_TIMEOUT_S, script_env
from training.test_run_pretraining import (  # noqa: F401 - tiny_pretraining is a fixture
    pretraining_args, run_pretraining_script, tiny_pretraining)

SCRIPT = REPO_ROOT / "run_pretraining.py"
STEPS = 12


def _args(folder, records, out):
    return pretraining_args(folder, records, out, max_seq_length=16, max_predictions_per_seq=3,
                            train_batch_size=4, eval_batch_size=4, num_train_steps=STEPS,
                            num_warmup_steps=2, max_eval_steps=2, learning_rate=1e-3,
                            log_every_steps=1, save_checkpoints_steps=100,
                            deterministic="true")


def test_sigterm_saves_exits_0_and_the_rerun_matches(tiny_pretraining, tmp_path):
    folder, records = tiny_pretraining
    full = run_pretraining_script(_args(folder, records, tmp_path / "full"))
    assert full.returncode == 0, full.describe()

    out = tmp_path / "out"
    out.mkdir()
    (out / "eval_results.txt").write_text("loss = 0.0\n")  # an older run's
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *_args(folder, records, out)],
                            cwd=str(REPO_ROOT), env=script_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, deadline = [], time.time() + SCRIPT_TIMEOUT_S
    try:
        for line in proc.stdout:  # the first step is logged: training has begun
            lines.append(line)
            if line.startswith("step 1/"):
                proc.send_signal(signal.SIGTERM)
                break
            assert time.time() < deadline, "".join(lines)
        rest, err = proc.communicate(timeout=SCRIPT_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stdout = "".join(lines) + rest
    assert proc.returncode == 0, stdout + err
    said = [line for line in stdout.splitlines() if line.startswith("preempted:")]
    assert len(said) == 1 and "run the same command again to resume" in said[0], stdout
    step = int(said[0].split("SIGTERM at step ")[1].split()[0])
    assert 0 < step < STEPS and (out / f"model.ckpt-{step}.index").exists(), stdout
    assert not (out / "eval_results.txt").exists() and not (out / "pretrained_model").exists()

    resumed = run_pretraining_script(_args(folder, records, out))
    assert resumed.returncode == 0, resumed.describe()
    assert f"(global step {step})" in resumed.stdout, resumed.describe()
    assert (out / "pretrained_model" / "bert_model.ckpt.index").exists()
    ours, theirs = resumed.eval_results(), full.eval_results()
    assert ours["global_step"] == theirs["global_step"] == STEPS
    assert ours == pytest.approx(theirs, abs=1e-6)
