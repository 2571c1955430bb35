"""Fixtures of the bench tests that run workers or profiles on a tiny config."""

import json

import pytest


@pytest.fixture
def keep_dtype_policy():
    """The workers set Keras' global dtype policy (bfloat16 cases); later tests must not see it."""
    import keras

    policy = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(policy)


@pytest.fixture
def tiny_json(tmp_path, tiny_config_dict):
    """The shared tiny config as a Google-style config .json file (a worker's --model)."""
    path = tmp_path / "tiny_config.json"
    path.write_text(json.dumps(tiny_config_dict))
    return str(path)
