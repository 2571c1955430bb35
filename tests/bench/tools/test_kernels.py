"""bench.tools.kernels on tiny shapes: a timed row for every kernel and dtype."""

import pytest

pytestmark = pytest.mark.usefixtures("keep_dtype_policy")  # tests/bench/conftest.py


def test_kernels_bench_prints_a_row_per_kernel_and_dtype(capsys):
    from bench.tools import kernels

    kernels.main(["--batch", "2", "--seq", "8", "--hidden", "16", "--heads", "2", "--repeats", "2"])
    rows = [l for l in capsys.readouterr().out.splitlines()[1:] if l.strip()]
    assert len(rows) == 8 and all(l.rstrip().endswith("x") for l in rows)
