"""A custom tf.distribute training loop for BERT fine-tuning (and any model with a loss fn).

Why a custom loop rather than `Model.fit`: Keras 3 `fit` breaks under
MultiWorkerMirroredStrategy (keras-team/keras#20585), and the original's semantics need
control that `fit` hides: gradients all-reduced first and then clipped by their *global* norm
(as on one device), gradient accumulation that splits a batch without changing the update,
Estimator-style resume from the newest checkpoint in `output_dir` (model, optimizer, dropout
RNG and input position), and several steps per `tf.function` call (`iterations_per_loop`).
"""

import contextlib
import dataclasses
import time
from typing import Callable, Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from bert_tf.modeling.portable import portable_ops
from bert_tf.modeling.precast import cast_weights, precast_layers, precast_weights
from bert_tf.training.preemption import Preempted, sigterm_watch
from bert_tf.training.static_shapes import dynamic_shape_problem


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN); the message says what to change."""


def _first_line(error: BaseException, limit: int = 200) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


@dataclasses.dataclass
class LoopConfig:
    """How the loop runs.

    Args:
        train_batch_size: global examples per optimizer update.
        num_train_steps: optimizer updates in total.
        gradient_accumulation_steps: micro-batches per update (each of
            train_batch_size / this many examples); the update equals the unsplit one.
        clip_norm: clip the all-reduced gradient to this global norm (None: no clipping).
        iterations_per_loop: most steps per tf.function call.
        log_every_steps: progress line / TensorBoard interval.
        save_checkpoints_steps: checkpoint interval.
        keep_checkpoint_max: checkpoints kept in output_dir.
        enable_xla: compile the forward/backward pass with XLA.
        loss_scaling: dynamic loss scaling (float16).
        static_shapes: TPU's constraints (a TPU, or `--tpu_checks` elsewhere): `train` and
            `predict` first check that every dimension of their input is fixed, else raise a
            `TrainingError` naming the input; the steps are compiled with XLA.
    """

    train_batch_size: int
    num_train_steps: int
    gradient_accumulation_steps: int = 1
    clip_norm: Optional[float] = 1.0
    iterations_per_loop: int = 1000
    log_every_steps: int = 10
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    enable_xla: bool = False
    loss_scaling: bool = False
    static_shapes: bool = False


def check_static_shapes(element_spec, what: str):
    """Raises `TrainingError` unless every dimension of a dataset's element is known (see
    `bert_tf.training.static_shapes.dynamic_shape_problem`)."""
    problem = dynamic_shape_problem(element_spec, what)
    if problem:
        raise TrainingError(problem)


def _shape_checked(dataset_fn):
    """`dataset_fn` whose every dataset is checked by `check_static_shapes` as it is made."""
    def checked(ctx, skip):
        dataset = dataset_fn(ctx, skip)
        check_static_shapes(dataset.element_spec, "training")
        return dataset
    return checked


def dropout_rng_states(model):
    """The state variables of every dropout SeedGenerator: checkpointed so a resumed run draws
    the same masks as an uninterrupted one."""
    states = []
    for layer in model._flatten_layers(include_self=False):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            states.append(generator.state.value)
    return states


class Trainer:
    """Owns model, optimizer, checkpoints and the distributed train/predict steps.

    Args:
        strategy: a tf.distribute strategy.
        build_model: () -> built Keras model (called under the strategy scope).
        build_optimizer: () -> Keras optimizer (called under the strategy scope).
        loss_fn: (outputs, labels) -> per-example float32 loss [batch].
        output_dir: where checkpoints live (resume reads the newest one there).
        config: a LoopConfig.
        write_checkpoints: False on non-chief workers' real dirs (they write to a temp dir).
    """

    def __init__(self, strategy, build_model: Callable, build_optimizer: Callable,
                 loss_fn: Callable, output_dir: str, config: LoopConfig, checkpoint_dir=None):
        self.strategy = strategy
        self.config = config
        self.loss_fn = loss_fn
        with strategy.scope():
            self.model = build_model()
            optimizer = build_optimizer()
            if config.loss_scaling:
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            self.optimizer = optimizer
            self.optimizer.build(self.model.trainable_variables)
            self.accumulators = []
            if config.gradient_accumulation_steps > 1:
                self.accumulators = [
                    tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False,
                                synchronization=tf.VariableSynchronization.ON_READ,
                                aggregation=tf.VariableAggregation.SUM)
                    for v in self.model.trainable_variables]
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, rng=dropout_rng_states(self.model))
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, checkpoint_dir or output_dir, max_to_keep=config.keep_checkpoint_max,
            checkpoint_name="model.ckpt")
        self._train_loop = None
        self._predict_step = None

    @property
    def global_step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def restore(self, log: Callable = print) -> Optional[str]:
        """Restores the newest readable checkpoint in output_dir, if any; returns its path.

        A checkpoint whose files cannot be read (truncated, corrupted, half-deleted) is skipped
        with a warning, and the one before it is used. A readable checkpoint that does not fit
        this model (written by another model size or task) is a `TrainingError`: resuming from
        it, or silently starting over beside it, would both be wrong.
        """
        for path in reversed(self.manager.checkpoints):
            try:
                mismatch = self._shape_mismatch(path)
                if not mismatch:
                    self.checkpoint.restore(path).assert_existing_objects_matched()
            except (tf.errors.OpError, IndexError) as error:  # a missing, truncated or bad file
                log(f"warning: {path} cannot be read ({_first_line(error)}); trying the "
                    "checkpoint before it")
                continue
            except (ValueError, AssertionError) as error:
                mismatch = _first_line(error)
            if mismatch:
                raise TrainingError(
                    f"{path}: this checkpoint does not fit the model being trained ({mismatch}); "
                    f"it was written by another model or task: use another --output_dir, or "
                    f"remove the model.ckpt-* files there to start over")
            return path
        if self.manager.checkpoints:
            raise TrainingError(f"{self.manager.directory}: none of its checkpoints can be read; "
                                "remove the model.ckpt-* files there to start over")
        return None

    def _shape_mismatch(self, path) -> Optional[str]:
        """How the checkpoint's trainable variables differ from the model's, checked before
        restoring (a failed restore leaves TF warnings about unrestored values behind)."""
        prefix = "optimizer/_trainable_variables/"
        saved = {}
        for key, shape in tf.train.load_checkpoint(path).get_variable_to_shape_map().items():
            parts = key[len(prefix):].split("/")
            if key.startswith(prefix) and len(parts) == 3 and parts[0].isdigit():
                saved[int(parts[0])] = tuple(shape)
        if not saved:  # another optimizer layout (e.g. loss scaling): the restore checks it
            return None
        # The optimizer tracks each variable once (a tied embedding is listed once).
        wanted = list({id(v): v for v in self.model.trainable_variables}.values())
        if len(saved) != len(wanted):
            return None  # a layout this check does not know: the restore itself decides
        for index, variable in enumerate(wanted):
            if saved.get(index) != tuple(variable.shape):
                return (f"{variable.path}: shape {list(saved.get(index, ()))} in the checkpoint, "
                        f"{list(variable.shape)} in the model")
        return None

    def save(self) -> str:
        return self.manager.save(checkpoint_number=self.global_step)

    # ---- training -------------------------------------------------------------------------

    def _build_train_loop(self):
        c = self.config
        strategy = self.strategy
        model, optimizer = self.model, self.optimizer
        variables = model.trainable_variables
        k = c.gradient_accumulation_steps
        replicas = strategy.num_replicas_in_sync

        def forward_backward(features, labels, weights):
            with tf.GradientTape() as tape:
                outputs = model(features, training=True)
                per_example = self.loss_fn(outputs, labels) * weights
                # Each replica's share of the global-batch mean: sums over replicas and
                # micro-batches give the mean over train_batch_size examples.
                loss = tf.reduce_sum(per_example) / float(c.train_batch_size)
                scaled = optimizer.scale_loss(loss) if c.loss_scaling else loss
            grads = tape.gradient(scaled, variables)
            # Embedding lookups give IndexedSlices; Adam's moments are dense anyway (as in the
            # original), and dense tensors all-reduce and clip uniformly.
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
            return tf.reduce_sum(per_example), tf.reduce_sum(weights), grads

        if c.enable_xla or c.static_shapes:
            forward_backward = tf.function(forward_backward, jit_compile=True)

        def apply(grads):
            # Keep only variables that got gradients (e.g. the pooler is unused with mean pooling).
            pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
            grads = [g for g, _ in pairs]
            if replicas > 1:  # one replica: the sum is the gradient itself (no copies)
                grads = tf.distribute.get_replica_context().all_reduce(
                    tf.distribute.ReduceOp.SUM, grads)
            scale = optimizer.scale_loss(1.0) if c.loss_scaling else 1.0
            norm = tf.linalg.global_norm(grads)
            targets = [v for _, v in pairs]
            if (c.clip_norm and replicas == 1 and not c.loss_scaling
                    and hasattr(optimizer, "apply_scaled")):
                # The optimizer multiplies in its fused update: no separate pass per gradient.
                optimizer.apply_scaled(grads, targets, clip_factor(norm, c.clip_norm * scale))
                return norm / scale
            if c.clip_norm:
                grads, _ = tf.clip_by_global_norm(grads, c.clip_norm * scale, use_norm=norm)
            # Keras' optimizer sums gradients over replicas again: hand each replica 1/N.
            grads = [g / replicas for g in grads] if replicas > 1 else grads
            optimizer.apply(grads, targets)
            return norm / scale

        @tf.autograph.experimental.do_not_convert
        def micro_step(inputs, last: bool):
            features, labels, weights = inputs
            loss_sum, count, grads = forward_backward(features, labels, weights)
            if k == 1:
                return loss_sum, count, apply(grads)
            for acc, g in zip(self.accumulators, grads):
                if g is not None:
                    acc.assign_add(g)
            if not last:
                return loss_sum, count, tf.constant(0.0)
            summed = [acc.read_value() if g is not None else None
                      for acc, g in zip(self.accumulators, grads)]
            norm = apply(summed)
            for acc in self.accumulators:
                acc.assign(tf.zeros_like(acc))
            return loss_sum, count, norm

        def reduce(value):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

        @tf.function
        def train_loop(iterator, steps):
            loss_total = tf.constant(0.0)
            examples = tf.constant(0.0)
            norm = tf.constant(0.0)
            for _ in tf.range(steps):
                for micro in range(k):
                    loss_sum, count, micro_norm = strategy.run(
                        micro_step, args=(next(iterator), micro == k - 1))
                    loss_total += reduce(loss_sum)
                    examples += reduce(count)
                    if micro == k - 1:
                        # Every replica computed the same global norm; report one of them.
                        norm = reduce(micro_norm) / replicas
            return loss_total / tf.maximum(examples, 1.0), norm

        return train_loop

    def train(self, dataset_fn: Callable, on_log: Optional[Callable] = None,
              on_checkpoint: Optional[Callable] = None, on_eval: Optional[Callable] = None,
              eval_every_steps: int = 0, log: Callable = print) -> Dict[str, float]:
        """Runs until `num_train_steps`, from wherever the restored checkpoint left off.

        `dataset_fn(input_context, skip_batches)` returns the per-pipeline micro-batch dataset.
        Callbacks get the global step (and, for on_log, a dict of scalars). A SIGTERM saves a
        checkpoint at the next step boundary and raises `Preempted` (bert_tf.training.preemption).
        """
        if self.global_step >= self.config.num_train_steps:
            return {}
        with sigterm_watch() as watch:
            return self._train(dataset_fn, on_log, on_checkpoint, on_eval, eval_every_steps,
                               log, watch)

    def _train(self, dataset_fn, on_log, on_checkpoint, on_eval, eval_every_steps, log, watch):
        c = self.config
        start = self.global_step
        if c.static_shapes:
            dataset_fn = _shape_checked(dataset_fn)
        iterator = self.input_iterator(dataset_fn, start * c.gradient_accumulation_steps)
        if self._train_loop is None:
            self._train_loop = self._build_train_loop()
        step = start
        last = {}
        started = time.time()
        window_start, window_step = started, step
        while step < c.num_train_steps:
            boundaries = [c.num_train_steps, _next_multiple(step, c.log_every_steps),
                          _next_multiple(step, c.save_checkpoints_steps),
                          step + c.iterations_per_loop]
            if eval_every_steps:
                boundaries.append(_next_multiple(step, eval_every_steps))
            steps = min(b for b in boundaries if b > step) - step
            loss, norm = self._train_loop(iterator, tf.constant(steps, tf.int32))
            loss, norm = float(loss), float(norm)
            step = self.global_step if not c.loss_scaling else step + steps
            if not np.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss} at step {step}; lower --learning_rate or check the "
                    f"data (no checkpoint was written for this step)")
            now = time.time()
            rate = (step - window_step) * c.train_batch_size / max(now - window_start, 1e-9)
            window_start, window_step = now, step
            lr = self.learning_rate()
            last = {"loss": loss, "learning_rate": lr, "grad_norm": norm, "examples_per_sec": rate}
            if step % c.log_every_steps == 0 or step == c.num_train_steps:
                eta = (c.num_train_steps - step) * c.train_batch_size / max(rate, 1e-9)
                log(f"step {step}/{c.num_train_steps}  loss {loss:.4f}  lr {lr:.3g}  "
                    f"grad_norm {norm:.3f}  {rate:.1f} ex/s  ETA {_format_eta(eta)}")
                if on_log:
                    on_log(step, last)
            if step % c.save_checkpoints_steps == 0 or step == c.num_train_steps:
                path = self.save()
                if on_checkpoint:
                    on_checkpoint(step, path)
            if watch.requested and step < c.num_train_steps:
                path = self.save()
                raise Preempted(f"SIGTERM at step {step} of {c.num_train_steps}: saved {path}; "
                                "run the same command again to resume")
            if on_eval and eval_every_steps and step % eval_every_steps == 0 \
                    and step != c.num_train_steps:
                on_eval(step)
        last["train_seconds"] = time.time() - started
        return last

    def input_iterator(self, dataset_fn: Callable, skip: int = 0):
        """The training input's iterator, without tf.data autotune (see `without_autotune`).

        `dataset_fn(input_context, skip)` is called as `Trainer.train` describes; `skip` counts
        the micro-batches each replica has already consumed (a resumed run's position).

        A strategy's distributed iterator normally puts a MultiDeviceIterator in front of the
        dataset, and its per-device iterators are autotuned whatever the dataset's options say:
        deleting one at the end of `train()` waited for tf.data's autotune thread, for 35-68 s
        in 4 of 13 one-device drug-review runs (42 s once in a two-replica repro). So:
        - one device: the dataset's own iterator, with the input context of one pipeline;
        - `MirroredStrategy`: one host pipeline per replica (`PER_REPLICA`, not fetched to the
          device: the step copies its batch, as on one device). Each replica reads the stream a
          single pipeline would, and keeps every n-th batch from its own index: the same
          batches, going to the same replicas, as the per-worker iterator deals them out (n
          times the parsing, which is light next to a BERT step; the streams are seeded, so
          the copies agree);
        - other strategies (multi-worker, TPU): the per-worker iterator. Each pipeline feeds
          `num_replicas_in_sync / num_input_pipelines` replicas, one batch each per step.
        """
        strategy = self.strategy
        if isinstance(strategy, tf.distribute.OneDeviceStrategy):
            with tf.device("/cpu:0"):  # InputContext(): one pipeline, one replica
                return iter(without_autotune(dataset_fn(tf.distribute.InputContext(), skip)))
        if isinstance(strategy, tf.distribute.MirroredStrategy):
            replicas = strategy.num_replicas_in_sync
            one_pipeline = tf.distribute.InputContext(num_replicas_in_sync=replicas)

            def replica_dataset(ctx):
                stream = dataset_fn(one_pipeline, skip * replicas)
                return without_autotune(stream.shard(replicas, ctx.input_pipeline_id))

            options = tf.distribute.InputOptions(
                experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA,
                experimental_fetch_to_device=False)
            return iter(strategy.distribute_datasets_from_function(replica_dataset, options))
        return iter(strategy.distribute_datasets_from_function(
            lambda ctx: without_autotune(dataset_fn(
                ctx, skip * (ctx.num_replicas_in_sync // ctx.num_input_pipelines)))))

    def learning_rate(self) -> float:
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        lr = optimizer.learning_rate
        return float(lr.numpy() if hasattr(lr, "numpy") else lr)

    # ---- prediction -----------------------------------------------------------------------

    def predict(self, dataset: tf.data.Dataset, enable_xla: bool = False):
        """Runs the model over a (non-distributed, ordered) dataset of (features, labels, weights).

        Returns (outputs, labels, weights) as NumPy arrays in dataset order. An element may
        carry a fourth item, its rows' positions in the file (the length-sorted eval batches of
        `classifier_dataset`); the arrays are then in that order. Prediction reads the mirrored
        variables from the host side; on TPU it runs through the strategy. With
        `LoopConfig.static_shapes` the dataset's shapes are checked first (`TrainingError`) and
        the step is compiled with XLA, whatever `enable_xla` says.
        """
        if self.config.static_shapes:
            check_static_shapes(dataset.element_spec, "prediction")
            enable_xla = True
        tpu = isinstance(self.strategy, tf.distribute.TPUStrategy)
        if self._predict_step is None:
            model = self.model
            # Half-precision Dense weights, cast once a call instead of once a batch.
            self._precast = [] if tpu else precast_layers(model)
            self._cast_weights = traced_casts(self._precast)

            def step(features, weights=()):
                with precast_weights(self._precast, weights):
                    return model(features, training=False)

            # Bucketed eval batches come in many lengths: without reduce_retracing every new
            # length is traced again (about 2 s each for MiniLM).
            if tpu:
                inner = tf.function(step, reduce_retracing=True)

                @tf.function(reduce_retracing=True)
                def tpu_step(features):
                    # Every core gets the whole batch, so every core's outputs are the batch's:
                    # keep one, not all of them one after the other.
                    per_replica = self.strategy.run(inner, args=(features,))
                    return self.strategy.experimental_local_results(per_replica)[0]
                self._predict_step = tpu_step
            else:
                self._predict_step = tf.function(step, jit_compile=enable_xla or None,
                                                 reduce_retracing=True)
        predict_step, cast_args = self._predict_step, ()
        if not tpu:
            # One trace for the dataset's own shapes ([batch, None] when bucketed), not one for
            # the first batch's length and a second, relaxed one when another length comes.
            # Batches of many lengths in float32 trace plain ops: the XLA kernels would compile
            # again for every length, to gain 1-3% a batch (docs/performance.md). (A later
            # fixed-shape dataset reuses that more general trace: the same values.)
            spec = dataset.element_spec[0]
            lengths_vary = any(s.shape.rank and s.shape[-1] is None for s in tf.nest.flatten(spec))
            plain = lengths_vary and self.model.compute_dtype == "float32"
            weights = self._cast_weights() if self._precast else []  # once this call
            cast_args = (weights,)
            with portable_ops() if plain else contextlib.nullcontext():
                predict_step = predict_step.get_concrete_function(
                    spec, [tf.TensorSpec(w.shape, w.dtype) for w in weights])
        outputs, labels, example_weights, rows = [], [], [], []
        for features, batch_labels, batch_weights, *batch_rows in without_autotune(dataset):
            outputs.append(np.asarray(predict_step(features, *cast_args)))
            labels.append(batch_labels.numpy())
            example_weights.append(batch_weights.numpy())
            rows += [r.numpy() for r in batch_rows]
        if not outputs:
            return np.zeros((0,)), np.zeros((0,)), np.zeros((0,))
        arrays = [np.concatenate(a) for a in (outputs, labels, example_weights)]
        if rows:
            order = np.argsort(np.concatenate(rows), kind="stable")
            arrays = [a[order] for a in arrays]
        return tuple(arrays)


def traced_casts(layers):
    """`cast_weights(layers)` as one traced function, called once a predict call.

    As eager ops, one a weight, the casts took twice as long: BERT-base bf16 51 against 102 ms a
    call, which a one-batch predict call pays in full (docs/performance.md).
    The function reads the variables at each call, so every call casts the weights as they are.
    """
    return tf.function(lambda: cast_weights(layers), autograph=False)


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data autotuning off.

    Deleting an autotuned iterator can block until the autotune thread's next wake-up, which
    comes later the longer the iterator lived. On this 2-core machine that was about 2 s after
    one predict call in three (a batch of 16 BERT-base examples took 5.1 s instead of 2.9).
    Training's 35-68 s stalls came from the strategy's own per-device iterator, which this
    option does not reach (see `Trainer.input_iterator`). BERT's input (parse, pad, batch) is light
    next to the model: with the fixed parallelism it gets instead, the drug-review runs trained
    at 13.4-13.7 ex/s at the end, against 13.6-14.6 before.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def clip_factor(norm, clip_norm: float):
    """What `tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)` multiplies each gradient
    by, with the same ops (so the same bits): min(1, clip_norm / norm), NaN for a non-finite
    norm."""
    scale_for_finite = clip_norm * tf.minimum(
        1.0 / norm, tf.constant(1.0, dtype=norm.dtype) / clip_norm)
    return scale_for_finite + (norm - norm)


def _next_multiple(step: int, every: int) -> int:
    if not every or every <= 0:
        return 1 << 62
    return (step // every + 1) * every


def _format_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
