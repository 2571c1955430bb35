"""bench.tools.profile_step on a tiny config: both systems' steps profiled and their ops ranked."""

import re

import pytest

pytestmark = pytest.mark.usefixtures("keep_dtype_policy")  # tests/bench/conftest.py


@pytest.mark.parametrize("system", ["bert_tf", "keras_hub"])
def test_profile_ranks_the_ops_of_each_systems_training_step(system, tiny_json, capsys):
    from bench.tools import profile_step

    profile_step.main(["--system", system, "--model", tiny_json, "--batch", "4", "--seq", "16",
                       "--warmup", "1", "--steps", "1", "--top", "40"])
    lines = capsys.readouterr().out.splitlines()
    header = next(l for l in lines if l.startswith(f"{system}: 1 train steps of "))
    shares = re.search(r"matmul-like ([0-9.]+)% of it and ([0-9.]+)% of (\d+) threads x wall",
                       header)
    assert shares and 0 < float(shares.group(1)) < 100 and float(shares.group(2)) > 0
    ranked = lines[lines.index(header) + 2:]
    op_types = [l.split()[0] for l in ranked]
    assert any(re.search("MatMul", t) for t in op_types), op_types
    # The systems' own step: bert_tf's clips by global norm (L2Loss per variable), keras-hub's
    # Keras Adam does not clip.
    assert ("L2Loss" in op_types) == (system == "bert_tf")
