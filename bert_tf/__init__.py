"""bert_tf: BERT for TensorFlow 2 / Keras 3, compatible with Google's original release."""

import os

# Keras 3 must use the TensorFlow backend; set before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
