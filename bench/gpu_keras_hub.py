"""GPU worker: keras-hub's `BertTextClassifier` (the Keras peer) on Keras' JAX backend.

The model is what the CPU bench's keras-hub worker builds: `BertBackbone` with the case's
shapes (random init) under `BertTextClassifier(num_classes=2, preprocessor=None, dropout=0.1)`,
in Keras' `mixed_bfloat16` policy for "mixed" and float32 with TF32 matmuls for "tf32". It is
timed by the very step that times bert_tf's layers (`bench.gpu_keras.time_keras_case`: one
`jax.jit` of forward, float32 loss, gradients and AdamW with global clipnorm 1.0), so the ratio
of the two is that of their layers alone. keras-hub's classifier has no other task, so only the
`classify` cases run. keras-hub needs no TensorFlow on the JAX backend.

    KERAS_BACKEND=jax python -m bench.gpu_keras_hub --group shapes [--cases ...] [--tiny]
"""

import os
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9")

from bench.common import emit_json  # noqa: E402
from bench.gpu_cases import row, run_cases, worker_parser  # noqa: E402
from bench.gpu_keras import (classifier_loss, device_batch, keras_settings, set_policy,
                             time_keras_case)  # noqa: E402
from bench.peers_keras_hub import bert_backbone  # noqa: E402

SYSTEM = "keras_hub_keras_jax"


def build_classifier(config):
    """keras-hub's BERT classifier with a bert_tf config's shapes, as the CPU bench builds it."""
    import keras_hub

    return keras_hub.models.BertTextClassifier(backbone=bert_backbone(config), num_classes=2,
                                               preprocessor=None, dropout=0.1)


def keras_hub_features(data):
    """keras-hub's input names for a bench batch's features."""
    return {"token_ids": data["input_word_ids"], "segment_ids": data["input_type_ids"],
            "padding_mask": data["input_mask"]}


def run_case(case, tiny):
    import keras_hub

    if case.task != "classify":
        raise ValueError(f"{case.key}: keras-hub's BertTextClassifier only classifies")
    policy = set_policy(case)
    config, data = device_batch(case, tiny)
    timing = time_keras_case(case, build_classifier(config), classifier_loss,
                             keras_hub_features(data), data)
    return row(SYSTEM, case, timing, keras_settings(
        case, policy, f"keras-hub {keras_hub.__version__} BertTextClassifier"), tiny)


def main(argv=None):
    args = worker_parser(__doc__.split("\n")[0], deadline_s=240.0).parse_args(argv)
    deadline = time.monotonic() + args.deadline_s
    if not args.no_peak:
        from bench.gpu_keras import matmul_peak

        emit_json({"peak_tflops": {"jax": matmul_peak(256 if args.tiny else 8192)}})
    run_cases(SYSTEM, args.cases, lambda case: run_case(case, args.tiny), deadline, args.group)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
