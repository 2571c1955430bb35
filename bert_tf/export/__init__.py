"""Export to the TF Hub BERT SavedModel signatures, raw-string classifiers, question answerers
and taggers, and TFLite.

`python -m bert_tf.export --model PATH --output DIR [--tflite]`, or `export_model(...)`.
The SavedModels load with `tf.saved_model.load` (after `import tensorflow_text` for those that
tokenize), `hub.KerasLayer` in tf_keras, and `keras.layers.TFSMLayer` in Keras 3.
"""

from bert_tf.export.api import ExportError, export_model, resolve_model_path

__all__ = ["ExportError", "export_model", "resolve_model_path"]
