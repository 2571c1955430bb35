"""run_classifier's result files, `eval_results.txt`, `test_results.tsv` and the GLUE
submission files (`MRPC.tsv`, ...), written atomically.

The original script wrote, in `output_dir`:
  * `eval_results.txt`: one `key = value` line per Estimator result, keys
    sorted (`eval_accuracy`, `eval_loss`, `global_step`, `loss`); the values
    were NumPy float32 / int64 scalars, so floats read like `0.8455882`;
  * `test_results.tsv`: one line per test example, its class probabilities
    tab-separated (float32 text), in input order, padding rows left out.

For GLUE tasks bert_tf adds the leaderboard's own files (`write_submission`):
a header line `index<TAB>prediction`, then one `<index>\t<prediction>` line per
test row in the test file's order (the label name, or the STS-B score).

These writers keep that text byte-for-byte and add one guarantee: a reader
never sees a half-written file (`bert_tf.atomic_files`: a temporary file beside
the target, moved over it once complete; local paths and `gs://` alike). On any
exception a previous result file stays as it was. `remove_results` clears the
previous run's files before a run that will write new ones, so that no older
file sits beside newer ones looking current.

Example:

```python
write_eval_results("out/eval_results.txt",
                   {"eval_accuracy": 0.8455882, "eval_loss": 0.41, "global_step": 343})
write_test_results("out/test_results.tsv", probabilities, num_examples=1725)
read_eval_results("out/eval_results.txt")["global_step"]  # 343
```
"""

import numbers
import os
import re

import numpy as np

from bert_tf.atomic_files import atomic_output, is_local

EVAL_RESULTS_FILENAME = "eval_results.txt"
TEST_RESULTS_FILENAME = "test_results.tsv"


def format_value(value):
    """The text of one `eval_results.txt` value, as the original printed it.

    Floats (Python or NumPy) print as `str(np.float32(v))`; integers (and
    `global_step`) as `str(int(v))`; 0-d arrays by their element; anything
    else (strings, bools) with `str()`.

    Example: `format_value(0.84558823)` -> `"0.8455882"`; `format_value(np.int64(7))` -> `"7"`.
    """
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError("eval result values must be scalars, got shape %s" % (value.shape,))
        value = value.reshape([]).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return str(np.float32(value))
    return str(value)


def write_eval_results(path, results):
    """Writes `eval_results.txt`: `"%s = %s\\n" % (key, value)` per key, sorted.

    Args:
      path: the file to (re)write.
      results: dict of result name -> scalar (see `format_value`).

    Raises:
      ValueError: if a key or value would break the one-line-per-key format.
      Any exception of a value's `str()`; the target is then left untouched.

    Example: `{"eval_loss": 0.5, "global_step": 10}` gives
    `"eval_loss = 0.5\\nglobal_step = 10\\n"`.
    """
    with atomic_output(path) as handle:
        for key in sorted(results):
            text = format_value(results[key])
            key = str(key)
            if "\n" in key or "\n" in text or " = " in key:
                raise ValueError("result %r = %r does not fit on one `key = value` line"
                                 % (key, text))
            handle.write("%s = %s\n" % (key, text))


_INT_RE = re.compile(r"^[+-]?\d+$")


def read_eval_results(path):
    """Parses an `eval_results.txt` back into a dict.

    Values that look like integers become `int`, other numbers (including
    `nan`/`inf`) `float`, anything else stays a `str`.

    Example: a file `"eval_accuracy = 0.8455882\\nglobal_step = 343\\n"` gives
    `{"eval_accuracy": 0.8455882, "global_step": 343}`.
    """
    results = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line:
                continue
            key, separator, text = line.partition(" = ")
            if not separator:
                raise ValueError("%s:%d: expected `key = value`, got %r" % (path, number, line))
            if _INT_RE.match(text):
                results[key] = int(text)
            else:
                try:
                    results[key] = float(text)
                except ValueError:
                    results[key] = text
    return results


def _format_row(row):
    """One `test_results.tsv` line: float32 text, tab-separated for a vector row."""
    values = np.asarray(row)
    if values.ndim == 0:
        return str(np.float32(values.item())) + "\n"
    if values.ndim != 1:
        raise ValueError("each prediction must be a scalar or a 1-D vector, got shape %s"
                         % (values.shape,))
    return "\t".join(str(np.float32(p)) for p in values.tolist()) + "\n"


def write_test_results(path, probabilities, num_examples=None):
    """Writes `test_results.tsv`: one line per example, in order.

    Args:
      path: the file to (re)write.
      probabilities: `[n, num_classes]` array, or any iterable of rows (e.g.
        a generator over predict batches); a row is a vector of class
        probabilities (tab-separated on its line) or a scalar (regression:
        one value per line).
      num_examples: when given, write exactly this many lines and ignore
        the rows after them, i.e. the padding rows the original appended to
        fill the last predict batch; fewer rows than this is an error.

    Returns:
      The number of lines written.

    Raises:
      ValueError: on a malformed row or too few rows; the target is then
        left untouched, as on any other exception.

    Example: `write_test_results(p, [[0.25, 0.75]])` writes `"0.25\\t0.75\\n"`.
    """
    written = 0
    with atomic_output(path) as handle:
        if num_examples is None or num_examples > 0:
            for row in probabilities:
                handle.write(_format_row(row))
                written += 1
                if num_examples is not None and written >= num_examples:
                    break
        if num_examples is not None and written != num_examples:
            raise ValueError("expected %d predictions, got only %d" % (num_examples, written))
    return written


def write_text(path, text):
    """Writes `text` to `path` atomically (a reader sees the old file or the whole new one)."""
    with atomic_output(path) as handle:
        handle.write(text)


SUBMISSION_HEADER = "index\tprediction"


def write_submission(path, indices, predictions):
    """Writes a GLUE submission file: `index\tprediction`, then one line per test row.

    Args:
      path: the file to (re)write, e.g. `out/MRPC.tsv`.
      indices: the test file's `index` (or QQP `id`) values, in file order.
      predictions: one per index: a label name (str) or a score (float, written as
        float32 text).

    Returns:
      The number of rows written.

    Raises:
      ValueError: different lengths, or a value holding a tab or a newline; the target
        is then left untouched.

    Example: `write_submission(p, ["0", "1"], ["1", "0"])` writes
    `"index\tprediction\n0\t1\n1\t0\n"`.
    """
    indices, predictions = list(indices), list(predictions)
    if len(indices) != len(predictions):
        raise ValueError("%d indices for %d predictions" % (len(indices), len(predictions)))
    with atomic_output(path) as handle:
        handle.write(SUBMISSION_HEADER + "\n")
        for index, value in zip(indices, predictions):
            if isinstance(value, (float, np.floating)):
                value = np.float32(value)
            index, value = str(index), str(value)
            if any(c in text for text in (index, value) for c in "\t\n\r"):
                raise ValueError("submission row %r / %r holds a tab or a newline" % (index, value))
            handle.write("%s\t%s\n" % (index, value))
    return len(indices)


def read_submission(path):
    """A GLUE submission file as a list of `(index, prediction)` string pairs (header checked)."""
    with _open_text(path) as handle:
        lines = handle.read().splitlines()
    if not lines or lines[0] != SUBMISSION_HEADER:
        raise ValueError("%s: expected the header %r" % (path, SUBMISSION_HEADER))
    return [tuple(line.split("\t", 1)) for line in lines[1:] if line]


def read_test_results(path):
    """Parses a `test_results.tsv` into a float32 array `[n, num_columns]`.

    Example: a file `"0.25\\t0.75\\n0.5\\t0.5\\n"` gives `[[0.25, 0.75], [0.5, 0.5]]`.
    """
    with _open_text(path) as handle:
        rows = [[float(v) for v in line.rstrip("\n").split("\t")]
                for line in handle if line.strip()]
    return np.asarray(rows, dtype=np.float32).reshape([len(rows), -1])


def _open_text(path):
    """A UTF-8 text handle on a local or gs:// result file."""
    if is_local(path):
        return open(path, encoding="utf-8")
    import io

    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as raw:
        return io.StringIO(raw.read().decode("utf-8"))


def remove_results(paths) -> list:
    """Deletes the files in `paths` that exist (a previous run's results); returns them."""
    removed = []
    for path in paths:
        path = os.fspath(path)
        if is_local(path):
            if os.path.isfile(path):
                os.remove(path)
                removed.append(path)
            continue
        import tensorflow as tf

        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
            removed.append(path)
    return removed
