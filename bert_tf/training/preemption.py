"""SIGTERM, what a preempted Cloud TPU VM, spot VM or Kubernetes pod gets, as a clean stop.

While `Trainer.train` runs inside `sigterm_watch()`, a SIGTERM only sets a flag. At the next
step boundary (at most `--log_every_steps` or `--iterations_per_loop` steps later) the trainer
saves a checkpoint and raises `Preempted`; the entry scripts print its one line and exit 0, and
running the same command again resumes from that checkpoint.

Example:
    with sigterm_watch() as watch:
        for step in steps:
            ...
            if watch.requested:
                raise Preempted(f"saved {path} at step {step}")
"""

import contextlib
import signal
import threading


class Preempted(Exception):
    """Training stopped on SIGTERM after saving a checkpoint; the message says where."""


class _Watch:
    def __init__(self):
        self.requested = False

    def _handle(self, signum, frame):
        del signum, frame
        self.requested = True


@contextlib.contextmanager
def sigterm_watch():
    """Yields a watch whose `.requested` turns True on SIGTERM; the previous handler comes
    back at the end. Outside the main thread (where Python cannot take signals) the watch
    never fires."""
    watch = _Watch()
    if threading.current_thread() is not threading.main_thread():
        yield watch
        return
    previous = signal.signal(signal.SIGTERM, watch._handle)
    try:
        yield watch
    finally:
        signal.signal(signal.SIGTERM, previous)
