"""Flag values checked before any work starts: ranges, NaN and infinity, lists.

The workflows call these on the parameter object they are given (absl FLAGS, or a
`types.SimpleNamespace` from Python), so a bad value fails in the same one line whether it came
from the command line or from code. Each problem is a `UsageError` that names the flag and its
value, e.g. `--train_batch_size=0: expected an integer >= 1`.

Example:
    >>> check_number(types.SimpleNamespace(learning_rate=float("nan")), "learning_rate", low=0,
    ...              low_open=True)
    Traceback (most recent call last):
    UsageError: --learning_rate=nan: expected a finite number > 0
"""

import math

from bert_tf.training.model_files import UsageError


def _describe(integer, low, high, low_open, high_open):
    kind = "an integer" if integer else "a finite number"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return f"expected {kind}" + (" " + " and ".join(parts) if parts else "")


def check_number(p, name, low=None, high=None, low_open=False, high_open=False, integer=False):
    """Raises UsageError unless `p.<name>` (when set) is a finite number in the range given."""
    value = getattr(p, name, None)
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()
    if ok:
        ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise UsageError(f"--{name}={value}: {_describe(integer, low, high, low_open, high_open)}")


def check_integers(p, names, low):
    for name in names:
        check_number(p, name, low=low, integer=True)


def parse_label_list(text, flag="label_list"):
    """`a,b,c` -> ["a", "b", "c"]; an empty item or a repeated label is a UsageError."""
    if text is None or str(text).strip() == "":
        return None
    labels = [x.strip() for x in str(text).split(",")]
    if any(not label for label in labels):
        raise UsageError(f"--{flag}={text!r}: an empty label (two commas, or one at an end)")
    seen = set()
    for label in labels:
        if label in seen:
            raise UsageError(f"--{flag}={text!r}: label {label!r} is listed twice")
        seen.add(label)
    if len(labels) < 2:
        raise UsageError(f"--{flag}={text!r}: a classifier needs at least two labels")
    return labels


def check_runtime_params(p):
    """The shared runtime flags of every training script (bert_tf/training/flags.py)."""
    check_integers(p, ["iterations_per_loop", "save_checkpoints_steps", "keep_checkpoint_max",
                       "log_every_steps", "gradient_accumulation_steps"], low=1)
    check_integers(p, ["num_gpus", "num_tpu_cores"], low=0)
    check_number(p, "weight_decay", low=0)
    check_number(p, "clip_norm", low=0)
    check_tpu_params(p)


def check_classifier_params(p):
    """run_classifier's flags, before anything is read or written."""
    check_runtime_params(p)
    check_integers(p, ["train_batch_size", "eval_batch_size", "predict_batch_size"], low=1)
    # [CLS] x [SEP] is the shortest input there is.
    check_number(p, "max_seq_length", low=3, integer=True)
    check_number(p, "learning_rate", low=0, low_open=True)
    if getattr(p, "do_train", False):
        check_number(p, "num_train_epochs", low=0, low_open=True)
    check_number(p, "warmup_proportion", low=0, high=1)
    check_number(p, "classifier_dropout", low=0, high=1, high_open=True)
    check_number(p, "eval_every_steps", low=0, integer=True)
    parse_label_list(getattr(p, "label_list", None))
    for flag in ("text_a_column", "text_b_column", "label_column"):
        value = getattr(p, flag, None)
        if value is not None and str(value).strip().lstrip("-").isdigit() and int(value) < 0:
            raise UsageError(f"--{flag}={value}: a column index counts from 0")


def check_pretraining_params(p):
    """run_pretraining's flags, before anything is read or written."""
    check_runtime_params(p)
    check_integers(p, ["train_batch_size", "eval_batch_size", "max_predictions_per_seq"], low=1)
    check_number(p, "max_seq_length", low=3, integer=True)
    check_number(p, "learning_rate", low=0, low_open=True)
    check_integers(p, ["num_warmup_steps", "max_eval_steps"], low=0)
    if getattr(p, "do_train", False):
        check_number(p, "num_train_steps", low=1, integer=True)


def tpu_mode(p) -> str:
    """The flag that puts a run under TPU's constraints (`--use_tpu`,
    `--distribution_strategy=tpu` or `--tpu_checks`), or "" when none does."""
    if getattr(p, "use_tpu", False):
        return "--use_tpu"
    if getattr(p, "distribution_strategy", None) == "tpu":
        return "--distribution_strategy=tpu"
    if getattr(p, "tpu_checks", False):
        return "--tpu_checks"
    return ""


def check_tpu_params(p):
    """Flag combinations a TPU cannot run, rejected on a TPU and with --tpu_checks alike
    (`check_runtime_params` calls it).

    - `--bucket_by_length`: batches of many lengths; a TPU compiles one program per shape.
    - `--dtype=float16`: TPUs compute in bfloat16; float16 with loss scaling is for GPUs.
    - with --tpu_checks only: `--train_batch_size` must split evenly over `--num_tpu_cores` x
      `--gradient_accumulation_steps` (on a TPU the strategy checks the cores it found).
    """
    mode = tpu_mode(p)
    if not mode:
        return
    if getattr(p, "bucket_by_length", False):
        raise UsageError(f"--bucket_by_length: not with {mode}: a TPU compiles one program per "
                         "input shape and needs every batch padded to --max_seq_length")
    if getattr(p, "dtype", None) == "float16":
        raise UsageError(f"--dtype=float16: not with {mode}: TPUs compute in bfloat16; use "
                         "--dtype=bfloat16")
    cores = getattr(p, "num_tpu_cores", None)
    batch = getattr(p, "train_batch_size", None)
    # Batch sizes below 1 are the range checks' to report.
    if mode == "--tpu_checks" and getattr(p, "do_train", True) and (cores or 0) > 0 \
            and (batch or 0) > 0:
        k = max(1, int(getattr(p, "gradient_accumulation_steps", 1) or 1))
        if batch % (cores * k):
            raise UsageError(f"--train_batch_size={batch}: with --tpu_checks it must be divisible "
                             f"by --num_tpu_cores x --gradient_accumulation_steps = {cores * k} "
                             "(every TPU core takes an equal share of each batch)")
