"""Workers that take turns: every system's worker loaded at once, one case running at a time.

`bench.run_all` times the three systems of a model this way. Each worker runs with `--turns`:
before each case (building included) and before each of its timed chunks after the first, it
prints `TURN_LINE` and waits for a line on stdin (`bench.common.await_turn`). A turn is thus a
case's build, warm-up and first chunk, or one later chunk. The coordinator starts all the
workers, waits until each one is loaded (they import at the same time, but nothing is timed
until all are waiting), then gives each turn to every worker that has it, one worker after the
other. The order of the systems rotates from turn to turn.

Why: run as separate phases, one system after the other, the three systems' steps of a case
were minutes apart, and on this shared 2-core machine the speed drifts over minutes: the
matmul peak measured at the start and at the end of one bench run differed by 25% (2-core Xeon),
and such drift went straight into the ratios. In turns, a case's systems run back to back.

    results = run_in_turns([("bert_tf", cmd, env, ["train:16:float32 #1", ...]), ...], 1200)
"""

import json
import queue
import subprocess
import tempfile
import threading
import time

from bench.common import RESULT_PREFIX, TURN_LINE


class TurnWorker:
    """One worker subprocess: its remaining turns (`cases`: labels, a case and chunk each), its
    JSON rows, its error (or None)."""

    def __init__(self, name, cmd, env, cases):
        self.name, self.cases, self.rows, self.error = name, list(cases), [], None
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait(self, timeout, echo) -> bool:
        """Reads the worker's lines until it waits for a turn (True) or exits (False)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.fail(f"timed out after {timeout} s")
                return False
            if line is None:
                self.proc.wait()
                if self.proc.returncode or self.cases:
                    tail = "\n".join(self._stderr_text().strip().splitlines()[-6:])
                    self.fail(f"rc {self.proc.returncode}"
                              + (f" with {len(self.cases)} case(s) left" if self.cases else "")
                              + f": {tail}")
                return False
            if line == TURN_LINE:
                return True
            if line.startswith(RESULT_PREFIX):
                self.rows.append(json.loads(line[len(RESULT_PREFIX):]))
            else:
                echo(line)

    def take_turn(self, timeout, echo) -> bool:
        """Runs the next case; False once the worker has exited."""
        self.cases.pop(0)
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it died; wait() reads its exit
        return self.wait(timeout, echo)

    def fail(self, error):
        self.error = self.error or error
        self.cases = []
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # a worker still waiting reads EOF and exits
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.fail("did not exit after its last case")
        self.stderr.close()


def run_in_turns(jobs, timeout, order, echo=print) -> dict:
    """Runs `jobs` [(name, cmd, env, turns)] in turns; returns {name: (rows, error or None)}.

    Each job's `turns` are labels (a case, or a case and chunk) in the order its worker takes
    them, a subsequence of `order`, the order of all turns (a job may lack a case the plan
    skipped for it). `timeout` bounds the loading and each turn. A worker that fails loses its
    remaining turns; the others go on.
    """
    workers = [TurnWorker(*job) for job in jobs]
    try:
        live = [w for w in workers if w.wait(timeout, echo)]
        for k, case in enumerate(order):
            turn = live[k % len(live):] + live[:k % len(live)] if live else []
            for w in turn:
                if w.cases and w.cases[0] == case and not w.take_turn(timeout, echo):
                    live.remove(w)
        for w in workers:
            if w.cases:
                w.fail(f"cases {w.cases} were not in the turn order")
    finally:
        for w in workers:
            w.close()
    return {w.name: (w.rows, w.error) for w in workers}
