"""How every entry point ends on bad input: one `error: ...` line on stderr and an exit status.

A training run stopped by SIGTERM saves a checkpoint, prints one `preempted: ...` line and
exits 0 (bert_tf.training.preemption); the same command resumes it.

Exit status 2 (`USAGE`): the command line cannot run as given: an unknown or malformed flag, a
value out of range, a missing required flag, flags that do not go together. Exit status 1
(`DATA`): the command line is fine but a file it names is not (a short TSV row, an unknown
label, a broken checkpoint, invalid UTF-8), training itself failed (a NaN loss), or the storage
did: a full disk, a file-size limit or quota, a Cloud Storage bucket still unreachable after TF's
retries (`storage_failure`). No traceback either way; bugs keep theirs.

Example (an absl script):
    def main(argv):
        from bert_tf.training.fine_tune import run_classifier
        cli.run_or_exit(run_classifier, FLAGS)

    if __name__ == "__main__":
        cli.run_absl(main)
"""

import argparse
import errno
import os
import re
import sys
from typing import Optional

USAGE = 2
DATA = 1

# errno values of a write the storage refused: a full disk, a file-size limit (RLIMIT_FSIZE),
# a full quota. TF's own file errors carry the same strerror text.
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_NO_SPACE_TEXTS = tuple(os.strerror(code) for code in NO_SPACE_ERRNOS)
# How TF's gs:// client words a request that failed on every retry (GCS_RETRY_CONFIG_*).
_RETRIES_FAILED = "retry attempts failed"
_RESUME = "the files completed before it are kept; run the same command again"


def fail(message: str, status: int = USAGE):
    """Prints `error: message` and exits with `status`."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(status)


def exit_status(error: BaseException) -> int:
    """USAGE for errors about flags, DATA for errors about files and runs."""
    from bert_tf.data.conll import NerFlagError
    from bert_tf.data.squad_features import SquadFlagError
    from bert_tf.training.model_files import UsageError
    from bert_tf.training.strategies import StrategyError

    usage = (UsageError, StrategyError, SquadFlagError, NerFlagError)
    return USAGE if isinstance(error, usage) else DATA


def _op_error_text(message: str) -> str:
    """A TF op error's message on one line, without the op's graph decorations."""
    text = re.sub(r"\{\{[^}]*\}\}", "", message)  # {{function_node __wrapped__SaveV2_...}}
    text = re.sub(r"\[Op:[^\]]*\].*", "", text, flags=re.S)  # [Op:SaveV2] name: ...
    text = re.sub(r"\.tempstate\d+", "", text)  # TF's private temporary name for the file
    return " ".join(text.split())


def storage_failure(error: BaseException) -> Optional[str]:
    """The `error:` line for a failure of the storage rather than of the input or the code, or
    None: a write refused for want of space (OSError ENOSPC, EFBIG, EDQUOT, or the TF file
    error that carries one), or a Cloud Storage request that failed on every retry. The line
    names the file or object.

    Example:
        storage_failure(OSError(errno.ENOSPC, "No space left on device", "out/x.txt"))
        # -> "out/x.txt: No space left on device; the files completed before it are kept; ..."
    """
    if isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}; {_RESUME} once there is room"
    tf = sys.modules.get("tensorflow")  # a TF error implies TF is imported
    if tf is None or not isinstance(error, tf.errors.OpError):
        return None
    text = _op_error_text(error.message).rstrip(".")
    for reason in _NO_SPACE_TEXTS:
        if text.endswith(reason):
            # TF says "PATH; File too large": as an OSError reads, "PATH: File too large".
            text = re.sub(r"[;:]\s*" + re.escape(reason) + "$", ": " + reason, text)
            return f"{text}; {_RESUME} once there is room"
    if _RETRIES_FAILED in text:
        return f"{text}; {_RESUME} once the storage answers"
    return None


def run_or_exit(function, *args, **kwargs):
    """Calls `function`; a user error (bert_tf.errors.USER_ERRORS) or a storage failure
    (`storage_failure`) becomes one line and an exit."""
    from bert_tf.errors import USER_ERRORS
    from bert_tf.training.preemption import Preempted

    try:
        return function(*args, **kwargs)
    except USER_ERRORS as error:
        fail(str(error), exit_status(error))
    except Preempted as stop:
        # Not a failure: the checkpoint is saved and the same command resumes from it.
        print(f"preempted: {stop}", flush=True)
        raise SystemExit(0) from None
    except Exception as error:  # noqa: BLE001 - anything else is re-raised as it came
        line = storage_failure(error)
        if line is None:
            raise
        fail(line, DATA)


def parse_absl_flags(argv):
    """absl's flag parsing with its errors as one line and exit status 2 (app.run's
    `flags_parser`; absl's own prints a FATAL banner and a hint and exits 1)."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        fail(str(error))


def run_absl(main):
    """`absl.app.run(main)` with one-line flag errors."""
    from absl import app

    app.run(main, flags_parser=parse_absl_flags)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with its usage errors as one `error:` line and exit status 2."""

    def error(self, message):
        fail(message)


def bounded(kind, low, high=None):
    """An argparse `type=` that accepts `kind` values in [low, high] (NaN never)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not (value >= low and (high is None or value <= high)):
            bounds = f"in {low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text} is not {bounds}")
        return value
    return parse
