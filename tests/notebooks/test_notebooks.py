"""Executes every notebook in notebooks/ top to bottom, in quick mode, as a user would.

Each notebook runs in a fresh Jupyter kernel started with this interpreter (the virtualenv's python,
so the kernel sees the installed bert_tf), with `BERT_TF_QUICK=1` (tiny settings) and
`BERT_TF_WORKDIR` set to a temporary folder that all notebooks share (the converted MiniLM and the
drug-review TSVs are then made once). A cell error fails the test. Cells tagged `draws-image` must
have produced a PNG, and the notebooks in the repository must have their outputs cleared.
"""

import json
import os
import pathlib
import sys
import time

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = [
    "fine_tune_classifier.ipynb",
    "review_sentiment.ipynb",
    "pretraining_and_fill_mask.ipynb",
    "export_and_serve.ipynb",
    "tpu_and_multi_gpu.ipynb",
    "question_answering.ipynb",
    "named_entities.ipynb",
    "distillation.ipynb",
]
CELL_TIMEOUT_S = 420
KERNEL_NAME = "bert_tf_test"
IMAGE_TAG = "draws-image"


def _snapshot():
    """Where a notebook that ignored BERT_TF_WORKDIR would write: every file under notebooks/
    (ignored ones included) with its mtime, and a notebook_runs/ at the top of the repository.
    (Folders such as data/ or output/ are left out: `make demo` may be writing there meanwhile.)"""
    files = {str(p.relative_to(REPO_ROOT)): p.stat().st_mtime_ns
             for p in (REPO_ROOT / "notebooks").rglob("*") if p.is_file()}
    return files, (REPO_ROOT / "notebook_runs").exists()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebook_work")


@pytest.fixture(scope="module")
def kernel_spec_manager(tmp_path_factory, workdir):
    """A kernelspec that starts this interpreter with the quick-mode environment."""
    spec_dir = tmp_path_factory.mktemp("kernels") / KERNEL_NAME
    spec_dir.mkdir()
    env = {
        "BERT_TF_QUICK": "1",
        "BERT_TF_WORKDIR": str(workdir),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "bert_tf (test)", "language": "python", "env": env}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])


def _images(cell):
    return [o for o in cell.get("outputs", [])
            if o.get("output_type") in ("display_data", "execute_result")
            and "image/png" in o.get("data", {})]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, workdir, kernel_spec_manager):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    run_dir = workdir / "cwd" / name.removesuffix(".ipynb")
    run_dir.mkdir(parents=True)
    before = _snapshot()
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_spec_manager)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(run_dir)}})
    started = time.time()
    try:
        client.execute()
    finally:
        # nbclient leaves a kernel it did not start itself running: stop it (memory, CPU).
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        # The executed copy, for a look at what failed.
        nbformat.write(nb, str(workdir / name))
    print(f"{name}: {time.time() - started:.0f} s")

    tagged = [c for c in nb.cells if IMAGE_TAG in c.get("metadata", {}).get("tags", [])]
    if name in ("review_sentiment.ipynb", "pretraining_and_fill_mask.ipynb"):
        assert tagged, f"{name}: no cell tagged {IMAGE_TAG!r} (its training curves and plots)"
    for cell in tagged:
        assert _images(cell), f"{name}: a cell tagged {IMAGE_TAG!r} drew no PNG:\n{cell.source[:300]}"
    assert _snapshot() == before, f"{name} wrote into the repository (outside BERT_TF_WORKDIR)"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_outputs_are_cleared(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}: outputs not cleared in cell:\n{cell.source[:200]}")


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)


def test_notebooks_detect_colab_and_quick_mode():
    for name in NOTEBOOKS:
        nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert '"google.colab" in sys.modules' in code, name
        assert "BERT_TF_QUICK" in code and "BERT_TF_WORKDIR" in code, name
