"""What a GLUE task adds to run_classifier: the files it needs checked before training, the
extra evaluation sets (MNLI mismatched) and the leaderboard submission files.

`GluePlan.for_run(p, processor)` is None for non-GLUE tasks (tsv/csv, TFDS, XNLI), so
run_classifier behaves for them exactly as before.

  * `check()` runs before any model is built: every file the flags will read is present
    (train for --do_train, dev for --do_eval, test for --do_predict, the MNLI mismatched
    dev/test, the diagnostic file), and every test file starts with its `index` column.
    A problem is a `DataFormatError` (one line naming the file and what was expected).
  * `eval_sets`: (key prefix, processor, features name) beyond the main dev set; MNLI's
    mismatched dev set reports under `eval_mm_*`.
  * `predict_sets`: (processor, features name, submission file) for every test file;
    the first is the main test file, whose probabilities also go to test_results.tsv.
"""

import dataclasses
import os
from typing import List, Optional

import numpy as np

from bert_tf.data.glue import DiagnosticProcessor, GlueProcessor, MnliMatchedProcessor
from bert_tf.data.processors import MissingDataError

# Where GLUE's download script puts the diagnostic set, relative to a task folder.
DIAGNOSTIC_CANDIDATES = ("diagnostic.tsv", os.path.join(os.pardir, "diagnostic", "diagnostic.tsv"))
# The eval-key prefix of the mismatched MNLI dev set: eval_mm_accuracy, eval_mm_loss, ...
MISMATCHED_PREFIX = "eval_mm_"


@dataclasses.dataclass
class PredictSet:
    processor: GlueProcessor
    name: str  # features file name: predict, predict_mm, predict_ax
    submission: str  # e.g. "MNLI-mm.tsv"


@dataclasses.dataclass
class GluePlan:
    processor: GlueProcessor
    data_dir: str
    do_train: bool
    do_eval: bool
    do_predict: bool
    eval_sets: List[tuple]
    predict_sets: List[PredictSet]

    @classmethod
    def for_run(cls, p, processor) -> Optional["GluePlan"]:
        if not isinstance(processor, GlueProcessor) or processor.submission is None:
            return None
        do_eval = bool(p.do_eval or getattr(p, "eval_every_steps", 0))
        eval_sets, predict_sets = [], [PredictSet(processor, "predict",
                                                  processor.submission + ".tsv")]
        if processor.companion is not None:
            other = processor.companion()
            eval_sets.append((MISMATCHED_PREFIX, other, "eval_mm"))
            predict_sets.append(PredictSet(other, "predict_mm", other.submission + ".tsv"))
        diagnostic = diagnostic_file(p, processor)
        if diagnostic:
            predict_sets.append(PredictSet(DiagnosticProcessor(diagnostic), "predict_ax",
                                           "AX.tsv"))
        return cls(processor, p.data_dir, bool(p.do_train), do_eval, bool(p.do_predict),
                   eval_sets if p.do_eval else [], predict_sets if p.do_predict else [])

    def check(self):
        """Every file this run reads exists, and test files start with their index column."""
        if self.do_train:
            self.processor.require_split(self.data_dir, "train")
        if self.do_eval:
            self.processor.require_split(self.data_dir, "dev")
            for _, other, _ in self.eval_sets:
                other.require_split(self.data_dir, "dev")
        for s in self.predict_sets:
            s.processor.require_split(self.data_dir, "test")
            s.processor.test_index(self.data_dir)


def _is_file(path: str) -> bool:
    if "://" in path:
        import tensorflow as tf  # remote paths (gs://...) go through TF's file systems

        return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
    return os.path.isfile(path)


def _normpath(path: str) -> str:
    """os.path.normpath that keeps a URL's `scheme://` (object stores do not resolve '..')."""
    scheme, sep, rest = path.partition("://")
    return scheme + sep + os.path.normpath(rest) if sep else os.path.normpath(path)


def diagnostic_file(p, processor) -> Optional[str]:
    """The AX file to predict with an MNLI model: --diagnostic_file, else diagnostic.tsv in
    the task folder or in GLUE's `diagnostic/` folder beside it; None for other tasks."""
    if not (isinstance(processor, MnliMatchedProcessor) and p.do_predict):
        return None
    given = getattr(p, "diagnostic_file", None)
    if given:
        if not _is_file(given):
            raise MissingDataError(f"{given}: no such file (expected --diagnostic_file, GLUE's "
                                   f"diagnostic.tsv: index, sentence1, sentence2)")
        return given
    if type(processor).submission == "MNLI-mm":
        return None  # AX goes with the matched model's predictions
    for name in DIAGNOSTIC_CANDIDATES:
        path = os.path.join(p.data_dir, name)
        path = _normpath(path)
        if _is_file(path):
            return path
    return None


def submission_values(values, label_list, is_regression):
    """GLUE predictions from test outputs: label names, or STS-B scores clipped to [0, 5]."""
    if is_regression:
        # GLUE's STS-B scores lie in [0, 5]; a regression head can step a little outside.
        return [float(v) for v in np.clip(np.asarray(values).reshape([-1]), 0.0, 5.0)]
    return [str(label_list[i]) for i in np.argmax(values, axis=-1)]
