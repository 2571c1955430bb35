"""bert_tf: BERT for TensorFlow 2 / Keras 3, compatible with Google's original release.

The main API imports from here, e.g. `from bert_tf import BertClassifier, BertPreprocessor`
(the names are in `__all__`; the guide is docs/keras-api.md). Each name loads its subpackage,
and TensorFlow, on first use.

Importing bert_tf sets three environment defaults, unless they are already set. TF
reads them when it is imported or first allocates, so import bert_tf before tensorflow (the
scripts and notebooks do); a value the user set always wins.
"""

import os
import platform
from typing import TYPE_CHECKING

# Keras 3 must use the TensorFlow backend; set before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# TF's default CPU allocator gives every large tensor back to malloc, and glibc serves those
# from fresh mmaps, so each training step page-faults its activations in again. The BFC
# allocator (TF's GPU allocator) keeps and reuses them: training on CPU runs 1.3-1.7x faster
# (docs/performance.md). "false" restores TF's default.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

# oneDNN kernels (matmul, fused bias/activation) are TF's default only on x86 CPUs with
# AVX512-VNNI/BF16 or AMX; on others (e.g. AVX2-only AMD EPYC) they are still about 15% faster
# for BERT training. Same results to float32 rounding; "0" turns them off. (Not on ARM, where
# oneDNN goes through ACL and is not what we measured.)
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"

# The public API, imported on first use: `import bert_tf` stays fast (no TensorFlow import, so
# the defaults above are in place whenever TF does get imported), and scripts that need only
# part of the package load only that part.
_API = {
    "bert_tf.modeling": (
        "BertConfig", "ConfigError", "BertEncoder", "BertClassifier", "BertPretrainer",
        "BertQuestionAnswerer", "BertTokenClassifier", "BertMaskedLMHead", "BertNextSentenceHead",
        "BertClassificationHead", "BertSpanHead", "BertTokenClassificationHead", "INPUT_NAMES",
    ),
    "bert_tf.tokenization": ("FullTokenizer", "BertPreprocessor", "InputExample"),
    "bert_tf.checkpoints": (
        "load_pretrained", "save_google_checkpoint", "read_pretrained_config", "CheckpointError",
    ),
    "bert_tf.training": ("create_optimizer",),
    "bert_tf.export": ("export_model",),
}
_MODULE_OF = {name: module for module, names in _API.items() for name in names}

__all__ = sorted(_MODULE_OF) + ["__version__"]


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_MODULE_OF))


if TYPE_CHECKING:  # for static analysers and IDEs; never true at run time
    from bert_tf.checkpoints import (CheckpointError, load_pretrained, read_pretrained_config,
                                     save_google_checkpoint)
    from bert_tf.export import export_model
    from bert_tf.modeling import (INPUT_NAMES, BertClassificationHead, BertClassifier, BertConfig,
                                  BertEncoder, BertMaskedLMHead, BertNextSentenceHead,
                                  BertPretrainer, BertQuestionAnswerer, BertSpanHead,
                                  BertTokenClassificationHead, BertTokenClassifier,
                                  ConfigError)
    from bert_tf.tokenization import BertPreprocessor, FullTokenizer, InputExample
    from bert_tf.training import create_optimizer
