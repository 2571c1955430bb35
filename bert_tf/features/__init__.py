"""BERT as a feature extractor: extract_features.py's per-token layer values (the original's
JSON lines) and sentence vectors (`.npy`). The guide is docs/features.md."""

from bert_tf.features.extract import pool_vectors, run_extract_features
from bert_tf.features.inputs import parse_layers, read_examples, split_pair

__all__ = ["parse_layers", "pool_vectors", "read_examples", "run_extract_features", "split_pair"]
