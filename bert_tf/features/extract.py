"""extract_features' workflow: a text file in, per-token layer values or sentence vectors out.

`run_extract_features(params)` takes any object with the flag attributes (absl FLAGS, or a
`types.SimpleNamespace`), so that extract_features.py only parses flags. Inputs and flags are
all checked before the model is built, and the output file appears only once complete.
"""

import os
import time

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints import load_weights_into
from bert_tf.features.inputs import batches, parse_layers, read_examples
from bert_tf.atomic_files import atomic_output
from bert_tf.features.outputs import NpyRowWriter, feature_line
from bert_tf.modeling import BertEncoder
from bert_tf.tokenization import FullTokenizer, validate_case_matches_checkpoint
from bert_tf.training.model_files import UsageError, resolve_model_files
from bert_tf.training.runtime import configure_runtime

DEFAULT_LAYERS = "-1,-2,-3,-4"
POOLINGS = ("mean", "cls")
PROGRESS_EVERY_S = 30.0


def pool_vectors(sequence_output, input_mask, pooling: str):
    """[batch, H] sentence vectors from the last block's [batch, seq, H] output.

    mean: the mean over the real tokens ([CLS] and [SEP] included, padding left out), the
    pooling sentence-transformers models such as all-MiniLM-L6-v2 were trained with.
    cls: the [CLS] token's vector (not `pooled_output`, whose dense layer was trained for
    next-sentence prediction, or not at all in sentence-transformers models).
    """
    x = tf.cast(sequence_output, tf.float32)
    if pooling == "cls":
        return x[:, 0]
    mask = tf.cast(input_mask, tf.float32)[:, :, None]
    # Padding rows of the last batch have no real token: max(.., 1) keeps them finite.
    return tf.reduce_sum(x * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


def build_step(strategy, encoder, layers, pooling):
    """A tf.function: distributed features -> the per-replica outputs (local results).

    JSON output: float32 [batch, len(layers), seq, H] of `encoder_outputs[layer]`;
    pooled output: float32 [batch, H].
    """
    def replica_step(features):
        outputs = encoder(features, training=False)
        if pooling:
            return pool_vectors(outputs["sequence_output"], features["input_mask"], pooling)
        blocks = outputs["encoder_outputs"]
        return tf.stack([tf.cast(blocks[i], tf.float32) for i in layers], axis=1)

    @tf.function
    def step(features):
        return strategy.experimental_local_results(strategy.run(replica_step, args=(features,)))

    return step


def distribute(strategy, features: dict):
    """Replica r gets rows [r * n, (r + 1) * n) of the batch, so that concatenating the local
    results in replica order gives the rows back in input order."""
    per_replica = len(features["input_word_ids"]) // strategy.num_replicas_in_sync

    def value_fn(ctx):
        start = ctx.replica_id_in_sync_group * per_replica
        return {k: tf.constant(v[start:start + per_replica]) for k, v in features.items()}

    return strategy.experimental_distribute_values_from_function(value_fn)


def _check_flags(p):
    for name in ("input_file", "output_file", "init_checkpoint"):
        if not getattr(p, name, None):
            raise UsageError(f"--{name} is required")
    if not os.path.isfile(p.input_file):
        raise UsageError(f"--input_file: {p.input_file} does not exist")
    if os.path.isdir(p.output_file):
        raise UsageError(f"--output_file: {p.output_file} is a folder; name a file")
    if p.batch_size < 1:
        raise UsageError(f"--batch_size={p.batch_size}: expected a positive number")
    pooling = getattr(p, "pooling", None) or None
    if pooling is not None and pooling not in POOLINGS:
        raise UsageError(f"--pooling={pooling!r}: expected one of {', '.join(POOLINGS)}")
    return pooling


def _layers(p, pooling, num_hidden_layers):
    if not pooling:
        return parse_layers(p.layers, num_hidden_layers)
    given = "".join(str(p.layers or DEFAULT_LAYERS).split())
    if given not in (DEFAULT_LAYERS, "-1"):
        raise UsageError(f"--layers={p.layers}: --pooling={pooling} pools the last layer (-1); "
                         f"leave --layers unset")
    return [-1]


def run_extract_features(p) -> dict:
    """Writes p.output_file as the flags say. Returns {"num_lines", "output_file", "shape"}."""
    pooling = _check_flags(p)
    if p.max_seq_length < 2:
        raise UsageError(f"--max_seq_length={p.max_seq_length}: [CLS] and [SEP] need 2 tokens")
    config, vocab = resolve_model_files(p)
    layers = _layers(p, pooling, config.num_hidden_layers)
    try:
        validate_case_matches_checkpoint(p.do_lower_case, p.init_checkpoint)
    except ValueError as e:
        raise UsageError(f"--do_lower_case: {e}") from None
    examples = read_examples(p.input_file)
    tokenizer = FullTokenizer(vocab, do_lower_case=p.do_lower_case)

    runtime = configure_runtime(p)
    strategy = runtime.strategy
    print(f"Distribution: {type(strategy).__name__} with {strategy.num_replicas_in_sync} "
          f"replica(s)", flush=True)
    if p.batch_size % strategy.num_replicas_in_sync:
        raise UsageError(f"--batch_size={p.batch_size} must be divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")
    with strategy.scope():
        encoder = BertEncoder(config).ensure_built()
    print(load_weights_into(encoder, p.init_checkpoint).summary(), flush=True)
    step = build_step(strategy, encoder, layers, pooling)

    total, done = len(examples), 0
    shape = (total, config.hidden_size) if pooling else None
    started = last_report = time.time()
    with atomic_output(p.output_file, binary=bool(pooling)) as handle:
        rows = NpyRowWriter(handle, total, config.hidden_size) if pooling else None
        for batch in batches(examples, tokenizer, p.max_seq_length, p.batch_size):
            local = step(distribute(strategy, batch.features))
            values = np.concatenate([np.asarray(v) for v in local])[:batch.num_real]
            if rows is not None:
                rows.write(values)
            else:
                for r, tokens in enumerate(batch.tokens):
                    handle.write(feature_line(batch.first_index + r, tokens, layers, values[r]))
            done += batch.num_real
            if time.time() - last_report >= PROGRESS_EVERY_S:
                last_report = time.time()
                print(f"{done}/{total} lines ({done / (last_report - started):.1f} lines/s)",
                      flush=True)
        if rows is not None:
            rows.close()
    what = f"{pooling}-pooled vectors {list(shape)}" if pooling else f"layers {layers}"
    print(f"wrote {p.output_file}: {total} lines, {what}", flush=True)
    runtime.cleanup()
    return {"num_lines": total, "output_file": p.output_file, "shape": shape}
