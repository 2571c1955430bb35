"""Packaging for bert_tf: a TensorFlow 2 / Keras 3 toolkit for BERT."""

from setuptools import find_packages, setup

# Runtime dependencies are pinned to the TF 2.21 line; tensorflow-text must match tensorflow's minor.
INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "tensorflow-text==2.21.1",
    "tensorboard==2.21.0",  # TF 2.21 no longer pulls it in.
    "tensorflow-hub==0.16.1",
    "tensorflow-datasets==4.9.10",
    "importlib_resources>=6",  # tensorflow-datasets 4.9.10 imports it without declaring it.
    "absl-py>=2.1",
    "safetensors>=0.4",
    "numpy>=1.26,<3",
]

EXTRAS_REQUIRE = {
    # torch 2.13.0 has a CPU wheel on the machines' local disk; a bare `torch` pulls a CUDA build.
    "test": ["pytest>=8", "torch==2.13.0", "transformers>=4.40"],
    # Peers for the benchmarks only; never needed at run time.
    "bench": ["tokenizers>=0.19"],
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
