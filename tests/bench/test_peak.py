"""bench.peak's phase-peak workers: a peak measured in every turn, beside the systems."""

import sys

from bench.run_all import phase_peak_jobs, worker_env
from bench.turns import run_in_turns

TURNS = ["train:16:float32 #1", "train:16:float32 #2", "infer:32:bfloat16 #1"]


def test_phase_peak_jobs_run_a_worker_per_measured_framework():
    jobs = phase_peak_jobs(TURNS, {"peak_details": {"tensorflow": {}}}, {"X": "1"})
    assert [(name, env, turns) for name, _, env, turns in jobs] == [
        ("peak_tensorflow", {"X": "1"}, TURNS)]
    cmd = jobs[0][1]
    assert cmd[:4] == [sys.executable, "-m", "bench.peak", "--worker"]
    assert cmd[cmd.index("--turn_labels") + 1] == ",".join(TURNS)
    both = phase_peak_jobs(TURNS, {"peak_details": {"tensorflow": {}, "torch": {}}}, {})
    assert [name for name, *_ in both] == ["peak_tensorflow", "peak_torch"]


def test_peak_workers_measure_the_dtype_of_each_turn_in_turns():
    jobs = phase_peak_jobs(TURNS, {"peak_details": {"tensorflow": {}, "torch": {}}},
                           worker_env(system="peak"))
    for _, cmd, _, _ in jobs:  # small products: the test times the protocol, not the machine
        cmd += ["--seconds", "0.05", "--shapes", "64x64x64,128x96x64"]
    outcome = run_in_turns(jobs, 300, TURNS, echo=lambda line: None)
    for framework, labels in (("tensorflow", ["64x64x64", "128x96x64"]),
                              ("torch", ["64x64x64", "128x96x64", "linear 64x64x64",
                                         "linear 128x96x64"])):
        rows, error = outcome[f"peak_{framework}"]
        assert error is None
        assert [(r["framework"], r["turn"], r["dtype"]) for r in rows] == [
            (framework, t, t.split()[0].split(":")[2]) for t in TURNS]
        for r in rows:
            assert list(r["shapes"]) == labels and all(g > 0 for g in r["shapes"].values())
            assert r["gflops"] == max(r["shapes"].values())
