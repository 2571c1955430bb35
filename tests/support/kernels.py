"""Watching bert_tf's XLA kernels: which calls trace plain ops and which use the kernels."""

import bert_tf.modeling.fused_gelu as fused_gelu_module
import bert_tf.modeling.fused_layer_norm as fused_layer_norm_module


class KernelCalled(Exception):
    pass


def forbid_kernels(monkeypatch):
    """Makes the GELU and LayerNorm kernels raise `KernelCalled`; returns the names called."""
    called = []

    def forbidden(name):
        def kernel(*args, **kwargs):
            called.append(name)
            raise KernelCalled(name)
        return kernel

    monkeypatch.setattr(fused_gelu_module, "fused_gelu", forbidden("gelu"))
    monkeypatch.setattr(fused_layer_norm_module, "fused_layer_norm", forbidden("layer_norm"))
    return called
