"""TPU's static-shape rule, checked on any device: every dimension of an input is known.

A TPU compiles one program per input shape and cannot take a dimension it does not know when
compiling; `--tpu_checks` applies the same rule on a CPU or GPU so that such an input fails
there first.
"""

from typing import Optional

_ELEMENT_ITEMS = ("features", "labels", "weights", "rows")


def _named_specs(item, name):
    if isinstance(item, dict):
        for key, value in item.items():
            yield from _named_specs(value, str(key))
    elif isinstance(item, (tuple, list)):
        for index, value in enumerate(item):
            yield from _named_specs(value, f"{name}[{index}]")
    else:
        yield name, item


def dynamic_shape_problem(element_spec, what: str) -> Optional[str]:
    """None when every dimension of a dataset's element is known, else the message saying which
    is not.

    `element_spec` is a dataset's (features, labels, weights[, rows]); the message names the
    input (`what`), the tensor (its dict key, else its role) and its shape, e.g. "the training
    input has a dynamic shape input_word_ids [None, 128]".
    """
    items = element_spec if isinstance(element_spec, tuple) else (element_spec,)
    for index, item in enumerate(items):
        role = _ELEMENT_ITEMS[index] if index < len(_ELEMENT_ITEMS) else f"item {index}"
        for name, spec in _named_specs(item, role):
            shape = getattr(spec, "shape", None)
            if shape is not None and shape.is_fully_defined():
                continue
            dims = "of unknown rank" if shape is None or shape.rank is None else list(shape)
            return (f"static input shapes (TPU, --tpu_checks): the {what} input has a dynamic "
                    f"shape {name} {dims}: batch it with drop_remainder=True and pad every "
                    f"sequence to one length (no --bucket_by_length)")
    return None
