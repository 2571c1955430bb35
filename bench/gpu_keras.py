"""GPU worker: bert_tf's Keras 3 layers on Keras' JAX backend, every step one XLA program.

Why JAX and not TF on the GPU machine: its image has no TensorFlow, and TF 2.21's GPU wheel with
its CUDA libraries (over 2 GB) cannot be carried there (64 MiB). bert_tf.modeling is written
in `keras.ops` only, so the very same layers (BertEncoder, BertClassifier, BertSpanHead) run on
the JAX backend, which compiles the whole step with XLA, as `--enable_xla` does under TF.

Training step (`keras_step`, which also times keras-hub in `bench.gpu_keras_hub`):
`model.stateless_call` -> float32 loss -> `jax.value_and_grad` ->
`keras.optimizers.AdamW(2e-5, weight_decay=0.01, global_clipnorm=1.0).stateless_apply`, all
under one `jax.jit` with the variables donated. Inference: `stateless_call(training=False)`
returning `sequence_output` (encoder) or the logits (classifier). Dropout is on in training
(0.1, as fine-tuning runs).

    KERAS_BACKEND=jax python -m bench.gpu_keras [--group shapes] [--cases ...] [--tiny]
    KERAS_BACKEND=jax python -m bench.gpu_keras --check DIR   # numerics vs TF (bench.gpu)
"""

import json
import os
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9")

from bench.common import emit_json  # noqa: E402
from bench.gpu_cases import (config_of, row, run_cases, shape_of, synthetic_inputs,
                              time_steps, worker_parser)  # noqa: E402

POLICY = {"mixed": "mixed_bfloat16", "fp16": "mixed_float16", "tf32": "float32"}
FEATURES = ("input_word_ids", "input_mask", "input_type_ids")


def classifier_loss(logits, batch):
    """Mean sparse cross-entropy of the logits, in float32 whatever the compute dtype."""
    import keras
    from keras import ops

    return ops.mean(keras.losses.sparse_categorical_crossentropy(
        batch["labels"], ops.cast(logits, "float32"), from_logits=True))


def build_model(case, config):
    """The case's bert_tf model: (model, loss(outputs, batch) or None for the encoder)."""
    import keras
    from keras import ops

    from bert_tf.modeling import BertClassifier, BertEncoder, BertSpanHead

    if case.task == "classify":
        return BertClassifier(config, num_labels=2), classifier_loss
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


def set_policy(case):
    """The case's Keras dtype policy and JAX's TF32 matmuls; returns the policy's name."""
    import jax
    import keras

    keras.config.set_dtype_policy(POLICY[case.precision])
    jax.config.update("jax_default_matmul_precision", "tensorfloat32")
    return POLICY[case.precision]


def time_keras_case(case, model, loss_fn, features, data):
    """`keras_step` timed by `time_steps`: the case's timing row."""
    return time_steps(keras_step(case, model, loss_fn, features, data), case_batch(features),
                      case)


def keras_step(case, model, loss_fn, features, data):
    """`step(n)`: n of a Keras model's inference (`stateless_call`, training=False) or training
    steps (loss -> `jax.value_and_grad` -> AdamW `stateless_apply`, one `jax.jit`, variables
    donated), returning when they are done. `features` are the model's inputs, `data` the batch
    with its labels (on device). The same step serves every Keras system, so their ratio is
    their layers' alone. The first call traces and compiles."""
    import jax
    import keras
    import numpy as np

    model(features)  # builds every variable
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    if case.mode == "infer":
        @jax.jit
        def infer(tv, ntv, x):
            outputs, _ = model.stateless_call(tv, ntv, x, training=False)
            return outputs["sequence_output"] if isinstance(outputs, dict) else outputs

        def step(n):
            for _ in range(n):
                out = infer(trainable, non_trainable, features)
            out.block_until_ready()
    else:
        optimizer = keras.optimizers.AdamW(2e-5, weight_decay=0.01, epsilon=1e-6,
                                           global_clipnorm=1.0)
        optimizer.build(model.trainable_variables)
        state = [trainable, non_trainable, [v.value for v in optimizer.variables]]

        keys = tuple(features)  # the model's inputs, picked from the batch inside the step

        def compute_loss(tv, ntv, batch):
            outputs, ntv = model.stateless_call(tv, ntv, {k: batch[k] for k in keys},
                                                training=True)
            return loss_fn(outputs, batch), ntv

        grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

        def train_step(tv, ntv, ov, batch):
            (loss, ntv), grads = grad_fn(tv, ntv, batch)
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            return tv, ntv, ov, loss

        train = jax.jit(train_step, donate_argnums=(0, 1, 2))
        batch = dict(data, **features)

        def step(n):
            for _ in range(n):
                state[0], state[1], state[2], loss = train(*state, batch)
            if not np.isfinite(float(loss)):
                raise FloatingPointError(f"{case.key}: loss {float(loss)}")

    return step


def case_batch(features):
    return int(next(iter(features.values())).shape[0])


def keras_settings(case, policy, model_text):
    import jax
    import keras

    return (f"{model_text}, keras {keras.__version__} (JAX backend) / jax {jax.__version__}, "
            f"{jax.devices()[0].device_kind}, policy {policy}, jit (XLA) whole step, "
            f"matmul precision tensorfloat32"
            + (", AdamW + global clipnorm 1.0, dropout 0.1" if case.mode == "train" else ""))


def device_batch(case, tiny):
    """(config, the case's synthetic batch on the device) for any Keras system's step."""
    import jax

    config = config_of(case, tiny)
    batch_size, seq = shape_of(case, tiny)
    return config, {k: jax.device_put(v)
                    for k, v in synthetic_inputs(config, batch_size, seq).items()}


def run_case(case, tiny):
    policy = set_policy(case)
    config, data = device_batch(case, tiny)
    model, loss_fn = build_model(case, config)
    timing = time_keras_case(case, model, loss_fn, {k: data[k] for k in FEATURES}, data)
    return row("bert_tf_keras_jax", case, timing,
               keras_settings(case, policy, "bert_tf.modeling layers"), tiny)


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
    parser = worker_parser(__doc__.split("\n")[0], deadline_s=240.0)
    parser.add_argument("--check", default=None, help="folder from `bench.gpu --make_check`")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.deadline_s
    if args.check:
        emit_json({"check": check(args.check)})
    if not args.no_peak:
        emit_json({"peak_tflops": {"jax": matmul_peak(256 if args.tiny else 8192)}})
    run_cases("bert_tf_keras_jax", args.cases,
              lambda case: run_case(case, args.tiny), deadline, args.group)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
