"""Fixtures for the processor tests: task directories written from `task_layouts`."""

import pytest

from data.task_layouts import GLUE_LAYOUTS, XNLI_LAYOUT, write_layout


@pytest.fixture
def glue_dir(tmp_path):
    """A factory: glue_dir("mrpc") -> a directory holding that task's fixture files."""

    def make(task):
        return write_layout(tmp_path / task, GLUE_LAYOUTS[task])

    return make


@pytest.fixture
def xnli_dir(tmp_path):
    return write_layout(tmp_path / "xnli", XNLI_LAYOUT)
