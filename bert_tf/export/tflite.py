"""TFLite export of a fine-tuned classifier (float32 and dynamic-range int8).

The TFLite model takes the encoder inputs (int32 [batch, seq_length] `input_word_ids`,
`input_mask`, `input_type_ids`) and returns `probabilities` [batch, labels]: tokenization runs
outside it (on device, with the shipped vocab.txt), because the in-graph tokenizer's
tensorflow-text ops are not TFLite builtins. Dynamic-range int8 stores the weights as int8
(about 4x smaller) and computes in float.

Example:
    >>> flat = convert_classifier(model, seq_length=128, quantize=True)  # doctest: +SKIP
    >>> probs = run_tflite(flat, features)  # doctest: +SKIP
"""

import numpy as np
import tensorflow as tf

from bert_tf.modeling.portable import portable_ops

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def convert_classifier(model, seq_length: int, quantize: bool = False) -> bytes:
    """The TFLite flatbuffer of `model` (a `BertClassifier`) at a fixed `seq_length`."""
    model.ensure_built()
    specs = [tf.TensorSpec([None, seq_length], tf.int32, name=n) for n in INPUT_NAMES]

    @tf.function(input_signature=specs)
    def classify(input_word_ids, input_mask, input_type_ids):
        logits = model({"input_word_ids": input_word_ids, "input_mask": input_mask,
                        "input_type_ids": input_type_ids}, training=False)
        return {"probabilities": tf.nn.softmax(logits, axis=-1)}

    with portable_ops():  # TFLite has no XLA kernels
        concrete = classify.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def run_tflite(flatbuffer: bytes, features, batch_size: int = 32) -> np.ndarray:
    """Probabilities [n, labels] for `features` (dict of int32 [n, seq] arrays)."""
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    details = interpreter.get_input_details()
    # Converted concrete functions keep the argument names inside the tensor names.
    index = {name: next(d["index"] for d in details if name in d["name"]) for name in INPUT_NAMES}
    output = interpreter.get_output_details()[0]["index"]
    n = len(features[INPUT_NAMES[0]])
    out, shape = [], None
    for start in range(0, n, batch_size):
        batch = {k: np.ascontiguousarray(features[k][start:start + batch_size], np.int32)
                 for k in INPUT_NAMES}
        if batch[INPUT_NAMES[0]].shape != shape:
            shape = batch[INPUT_NAMES[0]].shape
            for name in INPUT_NAMES:
                interpreter.resize_tensor_input(index[name], shape)
            interpreter.allocate_tensors()
        for name in INPUT_NAMES:
            interpreter.set_tensor(index[name], batch[name])
        interpreter.invoke()
        out.append(interpreter.get_tensor(output).copy())
    return np.concatenate(out, axis=0)
