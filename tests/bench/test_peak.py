"""bench.peak's phase-peak workers: a peak measured in every turn, beside the systems."""

import sys
import time

import pytest

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


def test_a_slow_first_call_is_timed_once_and_ends_the_shapes(monkeypatch):
    from bench import peak

    monkeypatch.setattr(peak, "SLOW_CALL_S", 0.05)
    calls = []

    def matmul(shape):  # the 64-wide product is "slow"; the larger one must never be made
        assert shape[0] < 128, "a shape after the slow one was made"
        return lambda: (calls.append(shape), time.sleep(0.1 if shape[0] == 64 else 0.0))

    shapes = ((32, 32, 32), (64, 64, 64), (128, 128, 128))
    rates = peak.time_shapes(matmul, 0.01, shapes)
    assert list(rates) == ["32x32x32", "64x64x64"]
    assert calls.count((64, 64, 64)) == 1  # timed from its first call alone
    assert rates["64x64x64"] == pytest.approx(2 * 64 ** 3 / 0.1 / 1e9, rel=0.5)
    monkeypatch.setitem(peak.PRODUCTS, "fake", lambda dtype: ({"": matmul}, "fake"))
    assert list(peak.prepared_products("fake", "float32", shapes)) == ["32x32x32"]
