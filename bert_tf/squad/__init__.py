"""Question answering on SQuAD v1.1 / v2.0: answer decoding (`postprocess`) and the official
metrics (`evaluate`, also `python -m bert_tf.squad.evaluate`). Reading and windowing the data
are in `bert_tf.data.squad` and `bert_tf.data.squad_features`.

Both modules are pure Python: importing them does not import TensorFlow.
"""
