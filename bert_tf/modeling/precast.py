"""`precast_weights`: half-precision Dense weights cast once for a whole inference pass.

Under mixed precision Keras keeps the variables in float32 and casts each one to the compute
dtype every time a layer reads it. In training that cast is needed: the weights change every
step. An eval or predict pass over many batches reads the same weights every batch, so
`Trainer.predict` casts the kernels and biases of the model's half-precision `BertDense`
layers once and hands the casts to every batch. A cast is a cast: the outputs are the same
bit for bit. On a 2-core Intel Xeon with AMX (Nov 2026) the casts were 30% of a BERT-base
bfloat16 inference batch's op time, and an eval pass of 12 batches ran 1.1x faster with them
made once (docs/performance.md).

Example:
>>> layers = precast_layers(model)  # doctest: +SKIP
>>> values = cast_weights(layers)  # once a pass  # doctest: +SKIP
>>> with precast_weights(layers, values):  # doctest: +SKIP
...     logits = model(features, training=False)
"""

import contextlib

from keras import ops

from bert_tf.modeling.activations import HALF_DTYPES

_values = {}  # id(layer) -> (kernel, bias) while a precast_weights block traces


def precast_layers(model):
    """The `BertDense` layers of `model` that read their kernel and bias in a half dtype.

    LoRA and quantized layers are left out (their kernel is not a plain cast variable); so is
    every float32 layer, whose reads cast nothing.
    """
    from bert_tf.modeling.fused_dense import BertDense

    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, BertDense) and layer.built
            and layer.compute_dtype in HALF_DTYPES and layer.use_bias
            and not layer.lora_enabled and not layer.quantization_mode]


def cast_weights(layers):
    """Each layer's (kernel, bias) cast to its compute dtype, flat: [k0, b0, k1, b1, ...]."""
    values = []
    for layer in layers:
        values += [ops.cast(layer._kernel.value, layer.compute_dtype),
                   ops.cast(layer.bias.value, layer.compute_dtype)]
    return values


@contextlib.contextmanager
def precast_weights(layers, values):
    """Within this block, each of `layers` reads its kernel and bias from `values` (as
    `cast_weights` gives them), not from its variables."""
    global _values
    previous = _values
    _values = {id(layer): (values[2 * i], values[2 * i + 1]) for i, layer in enumerate(layers)}
    try:
        yield
    finally:
        _values = previous


def precast_kernel_and_bias(layer):
    """(kernel, bias) for `layer` inside a `precast_weights` block, else None."""
    return _values.get(id(layer))
