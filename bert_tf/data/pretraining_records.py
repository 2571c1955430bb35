"""`TrainingInstance` -> the serialized `tf.train.Example` of the original pretraining TFRecords.

Features (the original names, types and lengths):
    input_ids, input_mask, segment_ids        int64 [max_seq_length]   (padded with 0)
    masked_lm_positions, masked_lm_ids        int64 [max_predictions_per_seq]   (padded with 0)
    masked_lm_weights                         float [max_predictions_per_seq]   (1.0 real, 0.0 pad)
    next_sentence_labels                      int64 [1]   (1 = B is a random next sentence)

The protobuf wire format is written here by hand (it is small and fixed) so that the worker
processes of `create_pretraining_data` need not import TensorFlow; the bytes parse to the same
`tf.train.Example` as building it with `tf.train.Example(...)` would, and the features are
written in the original's order, so the same instance always gives the same bytes.

Example:
    >>> vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "[MASK]": 3, "hi": 4, "yo": 5}
    >>> inst = TrainingInstance(["[CLS]", "[MASK]", "[SEP]", "yo", "[SEP]"], [0, 0, 0, 1, 1],
    ...                         [1], ["hi"], False)
    >>> record = serialize_instance(inst, vocab, max_seq_length=8, max_predictions_per_seq=2)
    >>> type(record), len(record) > 0
    (<class 'bytes'>, True)
"""

import struct
from typing import Dict, Iterable, List, Mapping

from bert_tf.data.pretraining_instances import TrainingInstance

# (name, dtype, length flag) in the original's order; the reader validates against this too.
FEATURES = (
    ("input_ids", "int64", "max_seq_length"),
    ("input_mask", "int64", "max_seq_length"),
    ("segment_ids", "int64", "max_seq_length"),
    ("masked_lm_positions", "int64", "max_predictions_per_seq"),
    ("masked_lm_ids", "int64", "max_predictions_per_seq"),
    ("masked_lm_weights", "float", "max_predictions_per_seq"),
    ("next_sentence_labels", "int64", None),  # None: length 1
)

_UINT64 = (1 << 64) - 1


def feature_lengths(max_seq_length: int, max_predictions_per_seq: int) -> Dict[str, int]:
    """{feature name: number of values} for the given flags."""
    sizes = {"max_seq_length": max_seq_length,
             "max_predictions_per_seq": max_predictions_per_seq, None: 1}
    return {name: sizes[flag] for name, _, flag in FEATURES}


def _varint(value: int) -> bytes:
    value &= _UINT64  # negative int64 is its 10-byte two's complement, as protobuf writes it
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def _int64_feature(values: Iterable[int]) -> bytes:
    values = list(values)
    if values and min(values) >= 0 and max(values) < 0x80:
        packed = bytes(values)  # one byte per value: the common case for masks and segment ids
    else:
        packed = b"".join(_varint(v) for v in values)
    # Feature.int64_list (field 3) -> Int64List.value (field 1, packed)
    return _length_delimited(3, _length_delimited(1, packed) if values else b"")


def _float_feature(values: List[float]) -> bytes:
    packed = struct.pack(f"<{len(values)}f", *values)
    # Feature.float_list (field 2) -> FloatList.value (field 1, packed)
    return _length_delimited(2, _length_delimited(1, packed) if values else b"")


def encode_example(features: Mapping[str, bytes]) -> bytes:
    """Serialized `tf.train.Example` from {name: encoded Feature}, in the mapping's order."""
    entries = b"".join(
        # Features.feature (field 1) map entry: key (field 1), value (field 2)
        _length_delimited(1, _length_delimited(1, name.encode("utf-8")) +
                          _length_delimited(2, feature))
        for name, feature in features.items())
    return _length_delimited(1, entries)  # Example.features (field 1)


def instance_features(instance: TrainingInstance, vocab: Mapping[str, int], max_seq_length: int,
                      max_predictions_per_seq: int) -> Dict[str, list]:
    """{feature name: padded list of values} for one instance (the original's padding)."""
    input_ids = [vocab[token] for token in instance.tokens]
    if len(input_ids) > max_seq_length:
        raise ValueError(f"instance of {len(input_ids)} tokens > max_seq_length={max_seq_length}")
    pad = max_seq_length - len(input_ids)
    masked_lm_ids = [vocab[token] for token in instance.masked_lm_labels]
    pred_pad = max_predictions_per_seq - len(masked_lm_ids)
    return {
        "input_ids": input_ids + [0] * pad,
        "input_mask": [1] * len(input_ids) + [0] * pad,
        "segment_ids": list(instance.segment_ids) + [0] * pad,
        "masked_lm_positions": list(instance.masked_lm_positions) + [0] * pred_pad,
        "masked_lm_ids": masked_lm_ids + [0] * pred_pad,
        "masked_lm_weights": [1.0] * len(masked_lm_ids) + [0.0] * pred_pad,
        "next_sentence_labels": [1 if instance.is_random_next else 0],
    }


def serialize_instance(instance: TrainingInstance, vocab: Mapping[str, int], max_seq_length: int,
                       max_predictions_per_seq: int) -> bytes:
    """The record bytes of one instance.

    Args:
        instance: a `TrainingInstance` whose tokens are all in `vocab`.
        vocab: token -> id (`FullTokenizer.vocab`).
        max_seq_length, max_predictions_per_seq: the padded lengths.
    """
    values = instance_features(instance, vocab, max_seq_length, max_predictions_per_seq)
    encoded = {}
    for name, dtype, _ in FEATURES:
        encode = _float_feature if dtype == "float" else _int64_feature
        encoded[name] = encode(values[name])
    return encode_example(encoded)
