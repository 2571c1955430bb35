"""Importing bert_tf turns on TF's BFC CPU allocator and oneDNN (bert_tf/__init__.py), and a
value the user set wins. Each case runs in a fresh interpreter: TF reads both once."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = textwrap.dedent("""
    import os
    import bert_tf
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port
    x = tf.ones([256, 256])
    _ = (x @ x).numpy()
    try:  # only a BFC allocator keeps statistics on the CPU
        tf.config.experimental.get_memory_info("CPU:0")
        bfc = True
    except ValueError:
        bfc = False
    print("PROBE", bfc, bool(_pywrap_util_port.IsMklEnabled()))
""")


def probe(**env_overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPU_ALLOCATOR_USE_BFC", "TF_ENABLE_ONEDNN_OPTS")}
    env.update(env_overrides, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                         timeout=300)
    line = [l for l in out.stdout.splitlines() if l.startswith("PROBE ")]
    assert out.returncode == 0 and line, out.stderr[-2000:]
    bfc, onednn = line[0].split()[1:]
    return bfc == "True", onednn == "True"


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="bert_tf turns oneDNN on only on x86")
def test_import_turns_on_bfc_allocator_and_onednn():
    assert probe() == (True, True)


def test_user_values_win():
    assert probe(TF_CPU_ALLOCATOR_USE_BFC="false", TF_ENABLE_ONEDNN_OPTS="0") == (False, False)
