"""`portable_ops()`: trace plain TF ops instead of bert_tf's XLA-compiled kernels.

On TensorFlow, GELU and LayerNorm run as XLA-compiled kernels (`fused_gelu`,
`fused_layer_norm`): one pass over the activation each way instead of 5-15 elementwise ops.
A graph that leaves bert_tf (SavedModel, TFLite) may run where XLA's JIT is not built in
(TF Serving, TFLite), so the exporters trace inside `portable_ops()`. The values are the same
to float32 rounding.

Example:
>>> with portable_ops():
...     concrete = tf.function(model).get_concrete_function(spec)  # doctest: +SKIP
"""

import contextlib

import keras

_portable = False


def fused_kernels_enabled():
    """True where layers may call XLA-compiled kernels: the TF backend, outside portable_ops()."""
    return not _portable and keras.backend.backend() == "tensorflow"


@contextlib.contextmanager
def portable_ops():
    """Within this block, layers trace plain ops, not XLA-compiled kernels."""
    global _portable
    previous, _portable = _portable, True
    try:
        yield
    finally:
        _portable = previous


def build_variables(model, inputs):
    """Calls `model` once on `inputs` to create its variables (the models' `ensure_built`).

    The call traces plain ops: the XLA kernels would compile for the dummy inputs' shape, which
    no later call uses (about 0.4 s of each script's start on a 2-core CPU, docs/performance.md).
    """
    with portable_ops():
        model(inputs)


def unwatched(*tensors):
    """`tensors` through `tf.stop_gradient`: inputs for the XLA kernels that a custom gradient's
    forward pass calls. One tensor gives a tensor, several a tuple.

    A custom gradient needs no record of the kernels inside it. Without this, a kernel called
    eagerly while a `GradientTape` watched its input gave other bits than an untaped call, once
    `reduce_retracing` had given it a shape-generic trace: the tanh GELU differed at the far
    negative tail, so a result depended on which shapes ran first
    (tests/modeling/test_kernel_call_history.py). The values passed on are the same tensors'.
    """
    import tensorflow as tf

    out = tuple(tf.stop_gradient(t) for t in tensors)
    return out[0] if len(out) == 1 else out
