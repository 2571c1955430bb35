"""bench.turns: workers loaded at once take turns case by case, never at the same time."""

import os
import sys
import textwrap

from bench.common import TURN_LINE
from bench.turns import run_in_turns

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A worker as the real ones are: bench.common's command line and await_turn before each case.
# It records when each case ran (CLOCK_MONOTONIC is system-wide on Linux).
FAKE_WORKER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from bench.common import await_turn, emit_json, worker_parser

    parser = worker_parser("fake")
    parser.add_argument("--name")
    parser.add_argument("--fail_at", default="")
    args = parser.parse_args()
    time.sleep(0.3)  # loading: every worker loads before the first turn
    for case in args.cases.split(","):
        await_turn(args)
        if case == args.fail_at:
            sys.exit("fake worker: failed on " + case)
        start = time.monotonic()
        time.sleep(0.1)
        print(args.name + " ran " + case, flush=True)
        emit_json({{"system": args.name, "case": case, "start": start, "end": time.monotonic()}},
                  args)
""")


# A worker that times its cases as the real ones do: bench.common.measure, in turns.
CHUNKED_WORKER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from bench.common import await_turn, emit_json, measure, turn_wait, worker_parser

    parser = worker_parser("fake")
    parser.add_argument("--name")
    args = parser.parse_args()
    for case in args.cases.split(","):
        await_turn(args)
        spans = []

        def step(n):
            spans.append(time.monotonic())
            time.sleep(0.05 * n)
            spans.append(time.monotonic())

        measure(step, 1, warmup=1, steps=2, repeats=2, budget_s=0.0, between=turn_wait(args))
        emit_json({{"system": args.name, "case": case, "spans": spans}}, args)
""")


def job(tmp_path, name, cases, fail_at=""):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER.format(repo=REPO))
    cmd = [sys.executable, str(script), "--name", name, "--cases", ",".join(cases), "--json",
           "--turns", "--fail_at", fail_at]
    return name, cmd, dict(os.environ), cases


def test_workers_take_turns_case_by_case_in_rotating_order(tmp_path):
    order = ["train:16:float32", "infer:16:float32", "train:16:bfloat16"]
    # "c" was not given the middle case (as a case skipped by its estimate).
    jobs = [job(tmp_path, "a", order), job(tmp_path, "b", order),
            job(tmp_path, "c", [order[0], order[2]])]
    echoed = []
    outcome = run_in_turns(jobs, timeout=60, order=order, echo=echoed.append)
    assert {name: error for name, (_, error) in outcome.items()} == dict.fromkeys("abc")
    rows = sorted((r for rows, _ in outcome.values() for r in rows), key=lambda r: r["start"])
    # Never two at once, and each case's systems back to back, the first system rotating.
    assert all(x["end"] <= y["start"] for x, y in zip(rows, rows[1:]))
    assert [(r["case"], r["system"]) for r in rows] == [
        (order[0], "a"), (order[0], "b"), (order[0], "c"),
        (order[1], "b"), (order[1], "a"),
        (order[2], "c"), (order[2], "a"), (order[2], "b")]
    assert "a ran infer:16:float32" in echoed and TURN_LINE not in echoed


def test_a_failing_worker_loses_its_turns_and_the_others_go_on(tmp_path):
    order = ["train:16:float32", "infer:16:float32", "train:32:float32"]
    jobs = [job(tmp_path, "a", order, fail_at=order[1]), job(tmp_path, "b", order)]
    outcome = run_in_turns(jobs, timeout=60, order=order, echo=lambda line: None)
    rows_a, error_a = outcome["a"]
    rows_b, error_b = outcome["b"]
    assert [r["case"] for r in rows_a] == [order[0]]
    assert "rc 1 with 1 case(s) left" in error_a and "failed on infer:16:float32" in error_a
    assert [r["case"] for r in rows_b] == order and error_b is None


def test_a_turn_that_takes_too_long_is_stopped(tmp_path):
    name, cmd, env, cases = job(tmp_path, "slow", ["train:16:float32"])
    script = tmp_path / "slow_worker.py"
    script.write_text(FAKE_WORKER.format(repo=REPO).replace("time.sleep(0.1)", "time.sleep(30)"))
    cmd[1] = str(script)
    outcome = run_in_turns([(name, cmd, env, cases)], timeout=3, order=cases,
                           echo=lambda line: None)
    assert outcome["slow"] == ([], "timed out after 3 s")


def test_each_timed_chunk_is_a_turn_of_its_own(tmp_path):
    # bench.common.measure waits for a turn before each timed chunk after the first, even
    # when the budget is spent: A B A B, warm-up and first chunk in one turn.
    script = tmp_path / "chunked_worker.py"
    script.write_text(CHUNKED_WORKER.format(repo=REPO))
    cases = ["train:16:float32", "infer:16:float32"]
    turns = [f"{case} #{k}" for case in cases for k in (1, 2)]
    jobs = [(name, [sys.executable, str(script), "--name", name, "--cases", ",".join(cases),
                    "--json", "--turns"], dict(os.environ), turns) for name in ("a", "b")]
    outcome = run_in_turns(jobs, timeout=60, order=turns, echo=lambda line: None)
    assert all(error is None for _, error in outcome.values())
    chunks = sorted((start, end, r["system"], r["case"]) for rows, _ in outcome.values()
                    for r in rows for start, end in zip(r["spans"][::2], r["spans"][1::2]))
    assert all(x[1] <= y[0] for x, y in zip(chunks, chunks[1:]))  # never two at once
    # Per case: a's warm-up and chunk 1, b's, then b's chunk 2 (rotated), a's chunk 2.
    assert [(system, case) for _, _, system, case in chunks] == [
        ("a", cases[0]), ("a", cases[0]), ("b", cases[0]), ("b", cases[0]),
        ("b", cases[0]), ("a", cases[0]),
        ("a", cases[1]), ("a", cases[1]), ("b", cases[1]), ("b", cases[1]),
        ("b", cases[1]), ("a", cases[1])]
