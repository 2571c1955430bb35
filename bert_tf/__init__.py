"""bert_tf: BERT for TensorFlow 2 / Keras 3, compatible with Google's original release.

Importing bert_tf sets three environment defaults, unless they are already set. TF
reads them when it is imported or first allocates, so import bert_tf before tensorflow (the
scripts and notebooks do); a value the user set always wins.
"""

import os
import platform

# Keras 3 must use the TensorFlow backend; set before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# TF's default CPU allocator gives every large tensor back to malloc, and glibc serves those
# from fresh mmaps, so each training step page-faults its activations in again. The BFC
# allocator (TF's GPU allocator) keeps and reuses them: training on CPU runs 1.3-1.7x faster
# (README, "Performance"). "false" restores TF's default.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

# oneDNN kernels (matmul, fused bias/activation) are TF's default only on x86 CPUs with
# AVX512-VNNI/BF16 or AMX; on others (e.g. AVX2-only AMD EPYC) they are still about 15% faster
# for BERT training. Same results to float32 rounding; "0" turns them off. (Not on ARM, where
# oneDNN goes through ACL and is not what we measured.)
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
