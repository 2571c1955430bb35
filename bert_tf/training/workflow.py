"""The workflow every task script runs around its task.

run_classifier, run_pretraining, run_squad and run_ner differ in their data, model, loss,
metrics and output files; everything around those is the same and lives here:

    wf = TaskWorkflow(p)                        # seeds, precision, XLA, strategy (first TF op)
    config, vocab = resolve_model_files(p)      # the task reads and checks its inputs: no writes
    ...
    wf.prepare_output()                         # output_dir, per-worker dirs, TensorBoard
    trainer = wf.build_trainer(build_model, loss_fn, num_train_steps, num_warmup_steps)
    wf.initialise(results=[...])                # resume, else --init_checkpoint; stale results go
    path, meta = wf.cached_records("train", key, write)
    wf.train(dataset_fn, on_eval=...)           # SIGTERM: checkpoint, then `Preempted`
    folder = wf.save_model("final_model", vocab, extra_files)
    wf.export(folder)                           # with --export_dir
    wf.report_results(results)                  # eval_results.txt, printed and in TensorBoard
    wf.close()

`p` is any object with the flag attributes (absl FLAGS, or a `types.SimpleNamespace` in tests).
Only the chief writes output files; other multi-worker tasks work in a private folder that is
removed at the end.
"""

import os
from typing import Callable, Dict, Iterable, Optional, Sequence

import tensorflow as tf

from bert_tf.checkpoints import load_weights_into, save_google_checkpoint
from bert_tf.data.features import cached_records
from bert_tf.training.model_files import UsageError
from bert_tf.training.optimization import create_optimizer
from bert_tf.training.results import EVAL_RESULTS_FILENAME, remove_results, write_eval_results
from bert_tf.training.runtime import configure_runtime, remove_worker_dir, worker_dirs
from bert_tf.training.summaries import SummaryLogger
from bert_tf.training.trainer import LoopConfig, Trainer


def flag_values(p) -> dict:
    """The flags as a dict (absl FlagValues or a plain namespace)."""
    if hasattr(p, "flag_values_dict"):
        return p.flag_values_dict()
    return dict(vars(p))


def accumulation_steps(p) -> int:
    return max(1, int(getattr(p, "gradient_accumulation_steps", 1) or 1))


class TaskWorkflow:
    """Runtime, output folders, trainer, resume, results and export of one task run.

    Args:
        p: the flags (see the module docstring).
        log: where progress lines go (default: stdout, flushed).
    """

    def __init__(self, p, log: Optional[Callable[[str], None]] = None):
        self.p = p
        self.log = log or (lambda text: print(text, flush=True))
        # The strategy must exist before any other TF op runs (multi-worker / logical devices).
        self.runtime = configure_runtime(p)
        self.strategy = self.runtime.strategy
        self.chief = self.runtime.chief
        self.work_dir = self.checkpoint_dir = None
        self.trainer: Optional[Trainer] = None
        self.logger: Optional[SummaryLogger] = None

    @property
    def output_dir(self) -> str:
        return self.p.output_dir

    def describe_strategy(self):
        self.log(f"Distribution: {type(self.strategy).__name__} with "
                 f"{self.strategy.num_replicas_in_sync} replica(s)")

    def check_batch_size(self) -> int:
        """--train_batch_size must split into micro-batches on every replica; returns the
        accumulation steps."""
        k = accumulation_steps(self.p)
        step = k * self.strategy.num_replicas_in_sync
        if self.p.train_batch_size % step:
            raise UsageError(f"--train_batch_size={self.p.train_batch_size} must be divisible by "
                             f"--gradient_accumulation_steps x replicas = {step}")
        return k

    def prepare_output(self):
        """Creates output_dir (local or gs://) and the TensorBoard logger; call once every
        input has been read and checked, so that bad input leaves nothing behind."""
        tf.io.gfile.makedirs(self.output_dir)
        self.work_dir, self.checkpoint_dir = worker_dirs(self.output_dir, self.strategy)
        if not self.chief:
            work_dir = self.work_dir
            self.runtime.cleanups.append(lambda: remove_worker_dir(work_dir))
        if self.chief:
            self.logger = SummaryLogger(self.work_dir)
            self.logger.hparams({k: v for k, v in flag_values(self.p).items() if v is not None})

    def build_trainer(self, build_model: Callable, loss_fn: Callable, num_train_steps: int,
                      num_warmup_steps: int) -> Trainer:
        """The Trainer with the optimizer, schedule and loop settings the shared flags give."""
        p, runtime = self.p, self.runtime
        loop = LoopConfig(
            train_batch_size=p.train_batch_size, num_train_steps=num_train_steps,
            gradient_accumulation_steps=accumulation_steps(p),
            clip_norm=getattr(p, "clip_norm", 1.0) or None,
            iterations_per_loop=p.iterations_per_loop,
            log_every_steps=getattr(p, "log_every_steps", 10),
            save_checkpoints_steps=p.save_checkpoints_steps,
            keep_checkpoint_max=getattr(p, "keep_checkpoint_max", 5),
            enable_xla=runtime.enable_xla, loss_scaling=runtime.dtype == "float16",
            static_shapes=runtime.static_shapes)
        self.trainer = Trainer(
            self.strategy, build_model=build_model,
            build_optimizer=lambda: create_optimizer(
                getattr(p, "optimizer", "adamw_google"), p.learning_rate, num_train_steps,
                num_warmup_steps, weight_decay=getattr(p, "weight_decay", 0.01), clip_norm=None),
            loss_fn=loss_fn, output_dir=self.output_dir, config=loop,
            checkpoint_dir=self.checkpoint_dir)
        return self.trainer

    def initialise(self, results: Sequence[str] = (), fresh_folders: Sequence[str] = (),
                   required_prefixes: Optional[Sequence[str]] = None,
                   from_scratch: Optional[str] = "training"):
        """Resumes from the newest checkpoint in output_dir, else loads --init_checkpoint.

        Args:
            results: names of the result files this run writes in output_dir; the previous
                run's are removed now, so none of them sits beside the new ones looking current
                if this run stops half-way.
            fresh_folders: folders in output_dir that belong to one training run (e.g. best/);
                removed when this run does not resume.
            required_prefixes: variables --init_checkpoint must hold (default: the encoder's).
            from_scratch: what the log says when there is neither (None: say nothing).

        Returns:
            (the restored checkpoint or None, the LoadReport of --init_checkpoint or None).
        """
        trainer = self.trainer
        restored = trainer.restore(self.log)
        self._remove_previous(results, () if restored else fresh_folders)
        report = None
        if restored:
            self.log(f"Resuming from {restored} (global step {trainer.global_step})")
        elif getattr(self.p, "init_checkpoint", None):
            kwargs = {} if required_prefixes is None else {"required_prefixes": required_prefixes}
            report = load_weights_into(trainer.model, self.p.init_checkpoint, **kwargs)
            self.log(report.summary())
        elif from_scratch:
            self.log(f"No --init_checkpoint: {from_scratch} from random initialisation")
        return restored, report

    def _remove_previous(self, results: Iterable[str], folders: Iterable[str]):
        if not self.chief:
            return
        removed = remove_results([os.path.join(self.output_dir, name) for name in results])
        for name in folders:
            path = os.path.join(self.output_dir, name)
            if tf.io.gfile.exists(path):
                tf.io.gfile.rmtree(path)  # an earlier run's, not this run's
                removed.append(path)
        if removed:
            self.log("Removed the previous run's " + ", ".join(os.path.basename(r) for r in removed))

    def cached_records(self, name: str, key: str, write: Callable[[str], tuple],
                       what: str = "examples") -> (str, Dict):
        """`work_dir/<name>.tf_record`, rebuilt by `write` unless its fingerprint holds `key`
        (see `bert_tf.data.features.cached_records`); returns (path, metadata)."""
        path = os.path.join(self.work_dir, f"{name}.tf_record")
        meta = cached_records(path, key, write)
        self.log(f"{name}.tf_record: {meta['num_real']} {what}"
                 f"{' (reused)' if meta['reused'] else ''}")
        return path, meta

    def train(self, dataset_fn: Callable, on_eval: Optional[Callable] = None,
              eval_every_steps: int = 0) -> Dict[str, float]:
        """`Trainer.train` with progress lines and TensorBoard scalars."""
        logger = self.logger
        return self.trainer.train(
            dataset_fn,
            on_log=(lambda step, scalars: logger.train_scalars(step, **scalars)) if logger else None,
            on_eval=on_eval if eval_every_steps else None,
            eval_every_steps=eval_every_steps or 0, log=self.log)

    def save_model(self, name: str, vocab_file: Optional[str],
                   extra_files: Optional[Dict[str, str]] = None,
                   model=None) -> Optional[str]:
        """The trained model as a Google folder `output_dir/<name>` (what --init_checkpoint
        and export take); the chief writes it, other workers return None."""
        if not self.chief:
            return None
        folder = os.path.join(self.output_dir, name)
        save_google_checkpoint(model or self.trainer.model, folder, vocab_file=vocab_file,
                               extra_files=extra_files)
        return folder

    def export(self, folder: Optional[str], **kwargs):
        """With --export_dir, exports `folder` there (`bert_tf.export.export_model`)."""
        export_dir = getattr(self.p, "export_dir", None)
        if folder and export_dir:
            from bert_tf.export import export_model  # export pulls in the SavedModel builders
            export_model(folder, export_dir, **kwargs)

    def report_results(self, results: dict, filename: str = EVAL_RESULTS_FILENAME,
                       title: str = "Eval results", summaries: Optional[dict] = None):
        """Prints `results`, writes them to output_dir/filename (chief) and to TensorBoard.

        Args:
            summaries: keyword arguments for `SummaryLogger.eval_results` (e.g. a confusion
                matrix and its labels).
        """
        self.log(f"***** {title} *****")
        for key in sorted(results):
            self.log(f"  {key} = {results[key]}")
        if self.chief:
            write_eval_results(os.path.join(self.output_dir, filename), results)
            if self.logger:
                self.logger.eval_results(self.trainer.global_step, results, **(summaries or {}))

    def close(self):
        if self.logger:
            self.logger.close()
            self.logger = None
        self.runtime.cleanup()
