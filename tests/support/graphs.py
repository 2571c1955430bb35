"""Looking inside traced graphs, and tracing under a dtype policy."""

import contextlib

import keras
import tensorflow as tf


@contextlib.contextmanager
def dtype_policy(name):
    """Layers built inside get Keras' `name` policy (as `--dtype=bfloat16` sets it)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def variable_casts(graph):
    """The Cast ops of `graph` whose input is a variable read (Keras' autocast of a weight)."""
    return [op for op in graph.get_operations()
            if op.type == "Cast" and op.inputs[0].op.type == "ReadVariableOp"]


def graph_casts_of_variables(fn, *args):
    """`variable_casts` of `fn` traced for `args`."""
    return variable_casts(tf.function(fn).get_concrete_function(*args).graph)
