"""The tf.data input of run_pretraining: pretraining TFRecords -> (features, labels, weights).

Reads the records of `create_pretraining_data` (the original's features, see
`pretraining_records.FEATURES`) the way the original `input_fn_builder` does:

* training: the file list repeated and shuffled (buffer = number of files), records interleaved
  from `min(4, files)` files at a time, a 100-record shuffle buffer, full batches only; with a
  `seed` the order is reproducible (the original's interleave was "sloppy");
* evaluation: one pass over the files in order; the last batch may be smaller, except with
  `static_shapes=True` (TPU), where it is dropped as in training, as the original's eval input
  did: every batch then has the same shape.

Every file is checked before the pipeline is built: its first record must hold each feature
with the right type and length, otherwise a `PretrainingDataError` names the file and feature.

Batches are `(features, labels, weights)`:
    features: input_word_ids, input_mask, input_type_ids (int32 [batch, seq]),
              masked_lm_positions (int32 [batch, P])
    labels:   masked_lm_ids (int32 [batch, P]), masked_lm_weights (float32 [batch, P]),
              next_sentence_labels (int32 [batch]), next_sentence_weights (float32 [batch]:
              1, or 0 for every example with `no_nsp=True`, so the NSP loss can be dropped)
    weights:  float32 ones [batch]

`dynamic_masking=True` ignores the stored masks: the original tokens are restored and new
positions drawn each time a sequence is read (see `pretraining_masking`), seeded per element from
`seed`, the input pipeline id and a running counter (it restarts with each new iterator, so an
evaluation pass always sees the same masks, and training, one repeated iterator, new ones).

Example:
    >>> ds = pretraining_dataset("out/*.tfrecord", max_seq_length=128, max_predictions_per_seq=20,
    ...                          batch_size=32, is_training=True)  # doctest: +SKIP
    >>> features, labels, weights = next(iter(ds))  # doctest: +SKIP
"""

from typing import Dict, List, Sequence, Union

import tensorflow as tf

from bert_tf.data.pretraining_instances import PretrainingDataError
from bert_tf.data.pretraining_masking import dynamic_mask, unmask
from bert_tf.data.pretraining_records import FEATURES, feature_lengths

_KIND = {"int64": "int64_list", "float": "float_list"}
_SHUFFLE_BUFFER = 100  # records, as the original
_CYCLE_LENGTH = 4      # files read at once: the original's num_cpu_threads


def feature_spec(max_seq_length: int,
                 max_predictions_per_seq: int) -> Dict[str, tf.io.FixedLenFeature]:
    """The original run_pretraining parsing spec."""
    lengths = feature_lengths(max_seq_length, max_predictions_per_seq)
    return {name: tf.io.FixedLenFeature([lengths[name]], tf.float32 if dtype == "float"
                                        else tf.int64)
            for name, dtype, _ in FEATURES}


def resolve_record_files(input_patterns: Union[str, Sequence[str]],
                         flag: str = "input_file") -> List[str]:
    """Comma-separated globs (or a list of them) -> files, sorted within each glob.

    `flag` names the flag in error messages.
    """
    if isinstance(input_patterns, str):
        input_patterns = input_patterns.split(",")
    files = []
    for pattern in (str(p).strip() for p in input_patterns):
        if not pattern:
            continue
        matches = sorted(tf.io.gfile.glob(pattern))
        if not matches:
            raise PretrainingDataError(f"--{flag}: {pattern!r} matches no file")
        files.extend(matches)
    if not files:
        raise PretrainingDataError(f"--{flag}: no TFRecord file given")
    return files


def validate_record_file(path: str, max_seq_length: int, max_predictions_per_seq: int) -> bool:
    """Checks the first record's features; returns False for a file with no records.

    Raises:
        PretrainingDataError: not a TFRecord file, or a feature missing / of the wrong type or
            length (the message names the file, the feature and the flag that sets the length).
    """
    try:
        records = list(tf.data.TFRecordDataset(path).take(1).as_numpy_iterator())
    except (tf.errors.OpError, OSError) as e:
        message = str(getattr(e, "message", e)).splitlines()[0]
        raise PretrainingDataError(f"{path}: cannot read as a TFRecord file ({message})") from None
    if not records:
        return False
    try:
        example = tf.train.Example.FromString(records[0])
    except Exception:  # protobuf's DecodeError: records that are not tf.train.Examples
        raise PretrainingDataError(f"{path}: first record is not a tf.train.Example") from None
    stored = example.features.feature
    lengths = feature_lengths(max_seq_length, max_predictions_per_seq)
    for name, dtype, flag in FEATURES:
        if name not in stored:
            raise PretrainingDataError(
                f"{path}: records lack the feature {name!r} (pretraining records need "
                f"{', '.join(n for n, _, _ in FEATURES)})")
        kind = stored[name].WhichOneof("kind")
        if kind != _KIND[dtype]:
            raise PretrainingDataError(
                f"{path}: feature {name!r} is {kind or 'empty'}, expected {_KIND[dtype]}")
        count = len(getattr(stored[name], kind).value)
        if count != lengths[name]:
            expected = f"--{flag}={lengths[name]}" if flag else "1"
            raise PretrainingDataError(
                f"{path}: feature {name!r} has {count} values, expected {expected}")
    return True


def _check_masking_args(vocab_size, mask_id, special_ids, masked_lm_prob):
    if vocab_size is None or mask_id is None:
        raise ValueError("dynamic_masking needs vocab_size and mask_id "
                         "(see pretraining_masking.special_ids_from_vocab)")
    if not special_ids:
        raise ValueError("dynamic_masking needs special_ids (the [CLS], [SEP], [PAD] ids): "
                         "they must never be masked")
    if not 0.0 < masked_lm_prob <= 1.0:
        raise ValueError(f"masked_lm_prob={masked_lm_prob}: must be in (0, 1]")


def pretraining_dataset(input_patterns, max_seq_length: int, max_predictions_per_seq: int,
                        batch_size: int, is_training: bool, seed: int = 12345,
                        input_context: tf.distribute.InputContext = None,
                        dynamic_masking: bool = False, vocab_size: int = None,
                        mask_id: int = None, special_ids: Sequence[int] = (),
                        masked_lm_prob: float = 0.15, no_nsp: bool = False,
                        static_shapes: bool = False) -> tf.data.Dataset:
    """Batches of `(features, labels, weights)` from pretraining TFRecords (see module docstring).

    Args:
        input_patterns: comma-separated globs, or a list of globs.
        max_seq_length, max_predictions_per_seq: the lengths the records were written with.
        batch_size: the global batch size; with `input_context`, each input pipeline batches
            `input_context.get_per_replica_batch_size(batch_size)`.
        is_training: repeat, shuffle and drop the last partial batch; else one ordered pass.
        seed: seeds the file and record shuffles and the dynamic masks.
        input_context: a `tf.distribute.InputContext`: each pipeline reads its share of the
            files (of the records, when there are fewer files than pipelines).
        dynamic_masking: draw new masks each time a sequence is read (needs `vocab_size`,
            `mask_id` and `special_ids`; `special_ids_from_vocab` gives them).
        masked_lm_prob: the masking rate of dynamic masking.
        no_nsp: set `next_sentence_weights` to 0 (train without next sentence prediction).
        static_shapes: drop an evaluation pass's last partial batch too, so that every
            dimension is fixed (TPUs, `--tpu_checks`). Dropped rather than padded: the
            next-sentence metrics count every row of a batch, so weight-0 padding rows would
            count. Training batches are always whole.

    Raises:
        PretrainingDataError: a glob matching nothing, no records at all, or a file whose
            records do not have the expected features.
    """
    if dynamic_masking:
        _check_masking_args(vocab_size, mask_id, special_ids, masked_lm_prob)
    files = resolve_record_files(input_patterns)
    if not any([validate_record_file(f, max_seq_length, max_predictions_per_seq)
                for f in files]):
        raise PretrainingDataError(f"--input_file: no records in {', '.join(files)}")

    pipelines, pipeline_id = 1, 0
    if input_context is not None:
        pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    shard_files = pipelines > 1 and len(files) >= pipelines
    shard_records = pipelines > 1 and not shard_files

    d = tf.data.Dataset.from_tensor_slices(tf.constant(files))
    if shard_files:
        d = d.shard(pipelines, pipeline_id)
    if is_training:
        # The same seed on every pipeline: with record sharding, all see the same stream order
        # and take disjoint records of it.
        d = d.repeat().shuffle(buffer_size=len(files), seed=seed)
        d = d.interleave(tf.data.TFRecordDataset, cycle_length=min(_CYCLE_LENGTH, len(files)),
                         num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if shard_records:
            d = d.shard(pipelines, pipeline_id)
        d = d.shuffle(buffer_size=_SHUFFLE_BUFFER, seed=seed)
    else:
        d = tf.data.TFRecordDataset(d)
        if shard_records:
            d = d.shard(pipelines, pipeline_id)

    spec = feature_spec(max_seq_length, max_predictions_per_seq)
    base_seed = tf.constant([seed, pipeline_id], tf.int64)

    def decode(index, record):
        example = tf.io.parse_single_example(record, spec)
        if dynamic_masking:
            element_seed = tf.random.experimental.stateless_fold_in(base_seed, index)
            example = dynamic_mask(unmask(example), element_seed, max_predictions_per_seq,
                                   vocab_size, mask_id, special_ids, masked_lm_prob)
        features = {
            "input_word_ids": tf.cast(example["input_ids"], tf.int32),
            "input_mask": tf.cast(example["input_mask"], tf.int32),
            "input_type_ids": tf.cast(example["segment_ids"], tf.int32),
            "masked_lm_positions": tf.cast(example["masked_lm_positions"], tf.int32),
        }
        labels = {
            "masked_lm_ids": tf.cast(example["masked_lm_ids"], tf.int32),
            "masked_lm_weights": tf.cast(example["masked_lm_weights"], tf.float32),
            "next_sentence_labels": tf.cast(example["next_sentence_labels"][0], tf.int32),
            "next_sentence_weights": tf.constant(0.0 if no_nsp else 1.0, tf.float32),
        }
        return features, labels, tf.constant(1.0, tf.float32)

    # enumerate() numbers every read of a sequence, so each epoch gets its own masks.
    d = d.enumerate().map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    d = d.batch(batch_size, drop_remainder=is_training or static_shapes)
    return d.prefetch(tf.data.AUTOTUNE)
