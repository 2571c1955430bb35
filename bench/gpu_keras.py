"""GPU worker: bert_tf's Keras 3 layers on Keras' JAX backend, every step one XLA program.

Why JAX and not TF on the GPU machine: its image has no TensorFlow, and TF 2.21's GPU wheel with
its CUDA libraries (over 2 GB) cannot be carried there (64 MiB). bert_tf.modeling is written
in `keras.ops` only, so the very same layers (BertEncoder, BertClassifier, BertSpanHead) run on
the JAX backend, which compiles the whole step with XLA, as `--enable_xla` does under TF.

Training step: `model.stateless_call` -> float32 loss -> `jax.value_and_grad` ->
`keras.optimizers.AdamW(2e-5, weight_decay=0.01, global_clipnorm=1.0).stateless_apply`, all
under one `jax.jit` with the variables donated. Inference: `stateless_call(training=False)`
returning `sequence_output`. Dropout is on in training (0.1, as fine-tuning runs).

    KERAS_BACKEND=jax python -m bench.gpu_keras [--cases squad_large:mixed] [--tiny]
    KERAS_BACKEND=jax python -m bench.gpu_keras --check DIR   # numerics vs TF (bench.gpu)
"""

import argparse
import json
import os
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9")

from bench.common import emit_json  # noqa: E402
from bench.gpu_cases import (config_of, row, run_cases, shape_of, synthetic_inputs,
                              time_steps)  # noqa: E402

POLICY = {"mixed": "mixed_bfloat16", "fp16": "mixed_float16", "tf32": "float32"}
FEATURES = ("input_word_ids", "input_mask", "input_type_ids")


def build_model(case, config):
    """The case's bert_tf model: (model, loss(outputs, batch) or None for inference)."""
    import keras
    from keras import ops

    from bert_tf.modeling import BertClassifier, BertEncoder, BertSpanHead

    if case.task == "classify":
        model = BertClassifier(config, num_labels=2)

        def loss(logits, batch):
            return ops.mean(keras.losses.sparse_categorical_crossentropy(
                batch["labels"], logits, from_logits=True))
        return model, loss
    if case.task == "encoder":
        return BertEncoder(config), None

    class SpanModel(keras.Model):  # run_squad's model: encoder + cls/squad
        def __init__(self):
            super().__init__()
            self.encoder = BertEncoder(config)
            self.head = BertSpanHead(name="squad_head")

        def call(self, inputs, training=False):
            return self.head(self.encoder(inputs, training=training)["sequence_output"])

    def loss(logits, batch):  # mean of start and end cross-entropy
        ce = keras.losses.sparse_categorical_crossentropy
        return 0.5 * (ops.mean(ce(batch["start_positions"], logits[..., 0], from_logits=True))
                      + ops.mean(ce(batch["end_positions"], logits[..., 1], from_logits=True)))
    return SpanModel(), loss


def run_case(case, tiny):
    import jax
    import keras
    import numpy as np

    keras.config.set_dtype_policy(POLICY[case.precision])
    jax.config.update("jax_default_matmul_precision", "tensorfloat32")
    config = config_of(case, tiny)
    batch_size, seq = shape_of(case, tiny)
    data = {k: jax.device_put(v) for k, v in synthetic_inputs(config, batch_size, seq).items()}
    features = {k: data[k] for k in FEATURES}
    model, loss_fn = build_model(case, config)
    model(features)  # builds every variable
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    if case.mode == "infer":
        @jax.jit
        def infer(tv, ntv, x):
            outputs, _ = model.stateless_call(tv, ntv, x, training=False)
            return outputs["sequence_output"]

        def step(n):
            for _ in range(n):
                out = infer(trainable, non_trainable, features)
            out.block_until_ready()
    else:
        optimizer = keras.optimizers.AdamW(2e-5, weight_decay=0.01, epsilon=1e-6,
                                           global_clipnorm=1.0)
        optimizer.build(model.trainable_variables)
        state = [trainable, non_trainable, [v.value for v in optimizer.variables]]

        def compute_loss(tv, ntv, batch):
            outputs, ntv = model.stateless_call(tv, ntv, {k: batch[k] for k in FEATURES},
                                                training=True)
            return loss_fn(outputs, batch), ntv

        grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

        def train_step(tv, ntv, ov, batch):
            (loss, ntv), grads = grad_fn(tv, ntv, batch)
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            return tv, ntv, ov, loss

        train = jax.jit(train_step, donate_argnums=(0, 1, 2))

        def step(n):
            for _ in range(n):
                state[0], state[1], state[2], loss = train(*state, data)
            if not np.isfinite(float(loss)):
                raise FloatingPointError(f"{case.key}: loss {float(loss)}")

    timing = time_steps(step, batch_size)
    settings = (f"keras {keras.__version__} (JAX backend) / jax {jax.__version__}, "
                f"{jax.devices()[0].device_kind}, policy {POLICY[case.precision]}, "
                f"jit (XLA) whole step, matmul precision tensorfloat32"
                + (", AdamW + global clipnorm 1.0, dropout 0.1" if case.mode == "train" else ""))
    return row("bert_tf_keras_jax", case, timing, settings, tiny)


def matmul_peak(n=8192):
    """TFLOP/s of one n x n x n matmul in bfloat16 and in float32 (TF32), best of 10."""
    import jax
    import jax.numpy as jnp

    out = {}
    for name, dtype, precision in (("bfloat16", jnp.bfloat16, None),
                                   ("tf32", jnp.float32, "tensorfloat32")):
        a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
        b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype)
        f = jax.jit(lambda x, y, p=precision: jnp.matmul(x, y, precision=p))
        f(a, b).block_until_ready()
        best = float("inf")
        for _ in range(10):
            start = time.perf_counter()
            f(a, b).block_until_ready()
            best = min(best, time.perf_counter() - start)
        out[name] = 2 * n ** 3 / best / 1e12
    return out


def check(directory):
    """Runs the classifier saved by `bench.gpu --make_check` (TF, CPU) here and compares."""
    import jax
    import keras
    import numpy as np

    from bert_tf.modeling import BertClassifier

    with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    reference = dict(np.load(os.path.join(directory, "reference.npz")))
    features = {k: reference[k] for k in FEATURES}
    result = {"device": jax.devices()[0].device_kind}
    for name, policy, precision in (("float32_highest", "float32", "highest"),
                                    ("float32_tf32", "float32", "tensorfloat32"),
                                    ("mixed_bfloat16", "mixed_bfloat16", "tensorfloat32")):
        keras.config.set_dtype_policy(policy)
        model = BertClassifier(config, num_labels=2, name="bert_classifier")
        model(features)
        model.load_weights(os.path.join(directory, "model.weights.h5"))
        with jax.default_matmul_precision(precision):
            logits = np.asarray(model(features, training=False), np.float32)
            sequence = np.asarray(model.encoder(features)["sequence_output"], np.float32)
        result[name] = {"logits_max_abs_diff": float(np.abs(logits - reference["logits"]).max()),
                        "sequence_max_abs_diff": float(
                            np.abs(sequence - reference["sequence_output"]).max())}
    keras.config.set_dtype_policy("float32")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=None, help="name:precision,... (bench.gpu_cases)")
    parser.add_argument("--tiny", action="store_true", help="tiny model, batch 2, seq 16 (smoke)")
    parser.add_argument("--deadline_s", type=float, default=240.0,
                        help="start no case after this many seconds")
    parser.add_argument("--check", default=None, help="folder from `bench.gpu --make_check`")
    parser.add_argument("--no_peak", action="store_true")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.deadline_s
    if args.check:
        emit_json({"check": check(args.check)})
    if not args.no_peak:
        emit_json({"peak_tflops": {"jax": matmul_peak(256 if args.tiny else 8192)}})
    run_cases("bert_tf_keras_jax", args.cases,
              lambda case: run_case(case, args.tiny), deadline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
