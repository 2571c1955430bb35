"""bert_tf training-step and inference throughput: what run_classifier really runs.

The model, optimizer, loss and loop are built exactly as `bert_tf.training.fine_tune` builds
them (`configure_runtime`, `BertClassifier`, `create_optimizer`, `Trainer` with a `LoopConfig`,
`load_weights_into` for MiniLM): training times the Trainer's own distributed `tf.function`
loop (`Trainer._build_train_loop`, the function `Trainer.train` calls; n steps per call, as
`iterations_per_loop` does), without the checkpoint write that `train()` adds at its end.
Inference times `Trainer.predict`, the eval/predict path. Input is a fixed synthetic batch
(full 128-token sentence pairs) repeated by `tf.data`, so the input pipeline costs nothing.

Settings: TF's default thread pools (intra-op = cores); the BFC CPU allocator and oneDNN, which
importing bert_tf turns on; the fused (XLA) optimizer update (`--unfused_update`: op by op);
`--dtype bfloat16` is run_classifier's `--dtype=bfloat16` (Keras `mixed_bfloat16`);
`--xla` is `--enable_xla` (off by default, as in run_classifier); the optimizer is
run_classifier's default `adamw_google` with global-norm clipping 1.0 in the loop.

    python -m bench.bert_tf_step --model bert_base --mode train --batch 16 --dtype float32
"""

import dataclasses
import gc
import os
import tempfile
import types

from bench.common import (await_turn, dtype_groups, finish, measure_case, minilm_dir,
                          model_config, result_row, synthetic_batch, worker_parser)


def build_trainer(args, batch, config_dict, output_dir, weights=None):
    """A Trainer set up as fine_tune.run_classifier sets it up (2 labels, cls pooling)."""
    from bert_tf.checkpoints import load_weights_into
    from bert_tf.modeling import BertClassifier, BertConfig
    from bert_tf.training.fine_tune import _loss_fn
    from bert_tf.training.optimization import create_optimizer
    from bert_tf.training.runtime import configure_runtime
    from bert_tf.training.trainer import LoopConfig, Trainer

    flags = types.SimpleNamespace(dtype=args.dtype, seed=12345, enable_xla=args.xla,
                                  distribution_strategy=None, use_tpu=False)
    runtime = configure_runtime(flags)
    fused = not getattr(args, "unfused_update", False)
    config = BertConfig.from_dict(dict(config_dict))
    num_train_steps, num_warmup_steps = 10000, 1000
    loop = LoopConfig(train_batch_size=batch, num_train_steps=num_train_steps,
                      clip_norm=1.0, iterations_per_loop=1000, enable_xla=runtime.enable_xla,
                      loss_scaling=False)
    trainer = Trainer(
        runtime.strategy,
        build_model=lambda: BertClassifier(config, num_labels=2, pooling=args.pooling,
                                           dropout_rate=0.1).ensure_built(),
        build_optimizer=lambda: create_optimizer(args.optimizer, 2e-5, num_train_steps,
                                                 num_warmup_steps, weight_decay=0.01,
                                                 clip_norm=None, fused_update=fused),
        loss_fn=_loss_fn(False), output_dir=output_dir, config=loop)
    if weights:
        load_weights_into(trainer.model, weights)
    return trainer, runtime


def batch_dataset(config_dict, batch, seq, repeat=None):
    """(features, labels, weights) of one synthetic batch, repeated `repeat` times (or forever)."""
    import tensorflow as tf

    data = synthetic_batch(config_dict, batch, seq)
    features = {k: tf.constant(data[k]) for k in ("input_word_ids", "input_mask", "input_type_ids")}
    element = (features, tf.constant(data["labels"]), tf.ones([batch], tf.float32))
    return tf.data.Dataset.from_tensors(element).repeat(repeat)


def train_stepper(trainer, config_dict, batch, seq):
    """step(n): n optimizer updates in one call of the Trainer's train loop."""
    import tensorflow as tf

    iterator = trainer.input_iterator(lambda ctx, skip: batch_dataset(config_dict, batch, seq))
    loop = trainer._build_train_loop()

    def step(n):
        loss, _ = loop(iterator, tf.constant(n, tf.int32))
        float(loss)  # waits for the steps to finish

    return step


def infer_stepper(trainer, config_dict, batch, seq, xla=False):
    """step(n): Trainer.predict over n batches (outputs fetched to NumPy, as eval does).

    The synthetic batch is made once, outside the timed call, as the peers' inputs are (making
    it took 7-26 ms, up to a tenth of a MiniLM bf16 b32 batch, on a 2-core Xeon). Each
    call still reads the batches through a new iterator, as `Trainer.predict` does in eval.
    """
    batches = batch_dataset(config_dict, batch, seq)  # repeated forever

    def step(n):
        trainer.predict(batches.take(n), enable_xla=xla)

    return step


def model_setup(name):
    """(config dict, weights folder or None) of a bench model as bert_tf reads it."""
    if name != "minilm":
        return model_config(name), None
    from bert_tf.checkpoints import read_pretrained_config

    weights = minilm_dir()  # HF "gelu" in its config.json is the exact erf form
    return read_pretrained_config(weights).to_dict(), weights


def run(args) -> list:
    config_dict, weights = model_setup(args.model)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-bert_tf-") as output_dir:
        for _, case_list in dtype_groups(args):
            # One Trainer (model + optimizer) per dtype, as keras-hub gets one model per dtype:
            # each case traces its own step; building BERT-base again took about 6 s.
            trainer = runtime = None
            gc.collect()
            for mode, batch in case_list:
                await_turn(args)
                if trainer is None:
                    trainer, runtime = build_trainer(args, case_list[0][1], config_dict,
                                                     output_dir, weights)
                if mode == "train":
                    # The loss is a mean over train_batch_size: the new loop divides by `batch`.
                    trainer.config = dataclasses.replace(trainer.config, train_batch_size=batch)
                    step = train_stepper(trainer, config_dict, batch, args.seq)
                else:
                    step = infer_stepper(trainer, config_dict, batch, args.seq, args.xla)
                timing = measure_case(step, batch, mode, args)
                rows.append(finish(result_row("bert_tf", args, mode, batch, timing,
                                              settings(args, runtime),
                                              weights="real" if weights else "random",
                                              xla=bool(args.xla), pooling=args.pooling),
                                   args, config_dict))
    return rows


def settings(args, runtime) -> str:
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads() or "default (cores)"
    return (f"Trainer loop ({type(runtime.strategy).__name__}), {args.optimizer} "
            f"({'op-by-op' if getattr(args, 'unfused_update', False) else 'fused'} update), "
            f"{'mixed_bfloat16' if args.dtype == 'bfloat16' else 'float32'}, "
            f"XLA {'on' if args.xla else 'off'}, intra-op threads {threads}, "
            f"LD_PRELOAD={os.path.basename(os.environ.get('LD_PRELOAD', '')) or '-'}")


def main(argv=None):
    parser = worker_parser(__doc__.split("\n")[0])
    parser.add_argument("--xla", action="store_true", help="run_classifier's --enable_xla")
    parser.add_argument("--optimizer", default="adamw_google", help="run_classifier's --optimizer")
    parser.add_argument("--pooling", default="cls", choices=("cls", "mean"))
    parser.add_argument("--unfused_update", action="store_true",
                        help="the op-by-op optimizer update (before/after comparisons)")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
