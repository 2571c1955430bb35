"""Dynamic (RoBERTa-style) masking in TensorFlow ops: new masked positions each time a sequence
is read, for the pretraining tf.data pipeline.

`unmask` first puts the original tokens back (`masked_lm_ids` at `masked_lm_positions`, where the
weight is > 0), so records made by the original create_pretraining_data work as they are.
`dynamic_mask` then draws the positions with the rules of the original generator, given a
stateless seed (the pipeline derives one per element from its seed and a counter):

* candidates: real tokens (`input_mask` 1) that are not special ([CLS], [SEP], [PAD], ...);
* `num_to_predict = min(max_predictions_per_seq, max(1, round(len * masked_lm_prob)))`, `len`
  counting [CLS]/[SEP] as the original does, and at most the number of candidates;
* each chosen position: 80% `mask_id`, 10% a uniform random id in [0, vocab_size), 10% kept;
* positions ascending, padded with 0 (weight 0), as stored by the original.

Whole-word masking is not done here (ids carry no "##" marker without the vocabulary).

Example:
    >>> masked = dynamic_mask(unmask(parsed), seed=tf.constant([1, 7], tf.int64),
    ...                       max_predictions_per_seq=20, vocab_size=30522, mask_id=103,
    ...                       special_ids=(0, 101, 102))  # doctest: +SKIP
    >>> masked["masked_lm_positions"]  # doctest: +SKIP
"""

from typing import Dict, Mapping, Sequence

import tensorflow as tf


def special_ids_from_vocab(vocab: Mapping[str, int]) -> Dict[str, object]:
    """The `dynamic_mask` keyword arguments for a vocabulary (token -> id).

    Example:
        >>> special_ids_from_vocab({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4})
        {'vocab_size': 5, 'mask_id': 4, 'special_ids': (0, 2, 3)}
    """
    missing = [t for t in ("[MASK]", "[CLS]", "[SEP]") if t not in vocab]
    if missing:
        raise KeyError(f"vocabulary lacks {', '.join(missing)}, which dynamic masking needs")
    specials = tuple(sorted(vocab[t] for t in ("[PAD]", "[CLS]", "[SEP]") if t in vocab))
    return {"vocab_size": max(vocab.values()) + 1, "mask_id": vocab["[MASK]"],
            "special_ids": specials}


def unmask(features: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """`features` with `input_ids` restored to the original tokens at the stored predictions.

    Args:
        features: one parsed record (`input_ids` [S], `masked_lm_positions`, `masked_lm_ids`,
            `masked_lm_weights` [P]); entries with weight 0 are padding and are ignored (their
            position 0 would otherwise overwrite [CLS]).
    """
    features = dict(features)
    real = features["masked_lm_weights"] > 0
    positions = tf.boolean_mask(tf.cast(features["masked_lm_positions"], tf.int32), real)
    ids = tf.cast(features["input_ids"], tf.int64)
    originals = tf.boolean_mask(tf.cast(features["masked_lm_ids"], tf.int64), real)
    features["input_ids"] = tf.tensor_scatter_nd_update(ids, positions[:, None], originals)
    return features


def num_to_predict(num_tokens: tf.Tensor, masked_lm_prob: float,
                   max_predictions_per_seq: int) -> tf.Tensor:
    """The original's `min(P, max(1, int(round(n * prob))))`, int32; tf.round, like Python 3's
    round, rounds halves to even, and float64 keeps `n * prob` equal to Python's product."""
    wanted = tf.round(tf.cast(num_tokens, tf.float64) * masked_lm_prob)
    return tf.minimum(max_predictions_per_seq, tf.maximum(1, tf.cast(wanted, tf.int32)))


def dynamic_mask(features: Mapping[str, tf.Tensor], seed: tf.Tensor, max_predictions_per_seq: int,
                 vocab_size: int, mask_id: int, special_ids: Sequence[int] = (),
                 masked_lm_prob: float = 0.15) -> Dict[str, tf.Tensor]:
    """New `input_ids` and `masked_lm_*` for one unmasked sequence.

    Args:
        features: one record with original tokens (see `unmask`): `input_ids`, `input_mask` [S].
        seed: int64 [2], a stateless seed; the same seed gives the same masks.
        max_predictions_per_seq: P, the length of the `masked_lm_*` outputs.
        vocab_size: random replacements are drawn from [0, vocab_size).
        mask_id: the id of [MASK].
        special_ids: ids never chosen (besides padding, which never is).
        masked_lm_prob: share of the tokens to predict.

    Returns:
        `features` with `input_ids` (int64 [S]) masked and `masked_lm_positions`,
        `masked_lm_ids` (int64 [P]) and `masked_lm_weights` (float32 [P]) replaced.
    """
    features = dict(features)
    ids = tf.cast(features["input_ids"], tf.int64)
    real = tf.cast(features["input_mask"], tf.bool)
    seq_length = ids.shape[0]
    candidate = real
    for special in special_ids:
        candidate &= tf.not_equal(ids, special)
    count = tf.minimum(
        num_to_predict(tf.reduce_sum(tf.cast(real, tf.int32)), masked_lm_prob,
                       max_predictions_per_seq),
        tf.reduce_sum(tf.cast(candidate, tf.int32)))

    pick_seed, action_seed, token_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3))
    # A random order of the candidates: the top `count` scores are a uniform random subset.
    scores = tf.where(candidate, tf.random.stateless_uniform([seq_length], pick_seed), -1.0)
    width = min(max_predictions_per_seq, seq_length)
    top = tf.math.top_k(scores, k=width, sorted=True).indices
    chosen = tf.where(tf.range(width) < count, top, seq_length)  # seq_length: "no position"
    positions = tf.sort(chosen)
    valid = positions < seq_length
    positions = tf.where(valid, positions, 0)

    originals = tf.gather(ids, positions)
    action = tf.random.stateless_uniform([width], action_seed)
    random_ids = tf.random.stateless_uniform([width], token_seed, minval=0, maxval=vocab_size,
                                             dtype=tf.int64)
    replaced = tf.where(action < 0.8, tf.constant(mask_id, tf.int64),
                        tf.where(action < 0.9, random_ids, originals))
    features["input_ids"] = tf.tensor_scatter_nd_update(
        ids, tf.boolean_mask(positions, valid)[:, None], tf.boolean_mask(replaced, valid))

    pad = [[0, max_predictions_per_seq - width]]  # only when P > S
    features["masked_lm_positions"] = tf.pad(tf.cast(positions, tf.int64), pad)
    features["masked_lm_ids"] = tf.pad(tf.where(valid, originals, 0), pad)
    features["masked_lm_weights"] = tf.pad(tf.cast(valid, tf.float32), pad)
    return features
