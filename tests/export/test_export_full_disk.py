"""`python -m bert_tf.export` when the disk fills up (a file-size limit stands in for it): one
`error:` line naming the file, status 1, no traceback, and no part left that looks whole."""

import resource
import signal
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_full_disk_is_one_line_and_leaves_no_part(make_google_folder, tiny_config_dict,
                                                  tmp_path):
    folder, _ = make_google_folder(dict(tiny_config_dict, vocab_size=3000))
    out = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "bert_tf.export", "--model", str(folder),
                           "--output", str(out)], cwd=str(REPO_ROOT), capture_output=True,
                          text=True, timeout=300, preexec_fn=_limit_file_size)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr[-3000:]
    assert lines[-1].startswith("error: ") and "File too large" in lines[-1], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    # Parts move into place only when complete: nothing named encoder/ or preprocessor/ is
    # there unless whole, and no staging folder is left.
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [n for n in left if "staging" in n], left
    for part in ("encoder", "preprocessor"):
        if (out / part).exists():
            assert (out / part / "saved_model.pb").exists()
