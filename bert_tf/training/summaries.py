"""TensorBoard summaries for fine-tuning: scalars, a confusion-matrix picture, hparams.

`SummaryLogger(output_dir)` writes event files the way Estimator laid them
out, with training and evaluation as separate TensorBoard runs:

  * `output_dir/train`: `train/<name>` scalars (loss, learning_rate,
    grad_norm, examples_per_sec, ...);
  * `output_dir/eval`: `eval/<key>` scalars for every numeric eval result
    (a leading `eval_` is dropped from the key: `eval_accuracy` ->
    `eval/accuracy`), a markdown table of all results (`eval/results`), and
    for classifiers the confusion matrix as a heat-map image
    (`eval/confusion_matrix_image`) and a markdown table
    (`eval/confusion_matrix_table`);
  * `output_dir` itself: the hparams-plugin session record of the run's
    flags; TensorBoard's HParams dashboard then finds the scalars of the
    `train` and `eval` runs below it as the session's metrics.

Every write happens eagerly on the host (`CPU:0`), from plain Python values,
so the logger can be called between the steps of a `tf.distribute` training
loop; reduce per-replica values (`strategy.reduce`) before passing them in.

`confusion_matrix_image` draws the matrix with NumPy only: one cell per
entry, shaded white -> dark blue by its row-normalised value (the fraction
of that true class predicted as each class), grid lines, and the counts and
class names written with a tiny built-in 3x5 bitmap font.

Example:

```python
with SummaryLogger("/tmp/mrpc_out") as logger:
    logger.hparams({"learning_rate": 2e-5, "train_batch_size": 32})
    logger.train_scalars(100, loss=0.52, learning_rate=1.9e-5)
    logger.eval_results(343, {"eval_accuracy": 0.845, "eval_loss": 0.41},
                        confusion=[[90, 39], [24, 255]], label_names=["0", "1"])
```
"""

import numbers
import os

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

# 3x5 glyphs, rows top to bottom; "1" marks an ink pixel. Lower case is drawn
# as upper case; characters without a glyph are drawn as "?".
_GLYPH_ROWS = {
    "0": "111 101 101 101 111", "1": "010 110 010 010 111", "2": "111 001 111 100 111",
    "3": "111 001 111 001 111", "4": "101 101 111 001 001", "5": "111 100 111 001 111",
    "6": "111 100 111 101 111", "7": "111 001 001 001 001", "8": "111 101 111 101 111",
    "9": "111 101 111 001 111", "A": "010 101 111 101 101", "B": "110 101 110 101 110",
    "C": "011 100 100 100 011", "D": "110 101 101 101 110", "E": "111 100 110 100 111",
    "F": "111 100 110 100 100", "G": "011 100 101 101 011", "H": "101 101 111 101 101",
    "I": "111 010 010 010 111", "J": "001 001 001 101 010", "K": "101 101 110 101 101",
    "L": "100 100 100 100 111", "M": "101 111 111 101 101", "N": "110 101 101 101 101",
    "O": "010 101 101 101 010", "P": "110 101 110 100 100", "Q": "010 101 101 110 011",
    "R": "110 101 110 101 101", "S": "011 100 010 001 110", "T": "111 010 010 010 010",
    "U": "101 101 101 101 111", "V": "101 101 101 101 010", "W": "101 101 111 111 101",
    "X": "101 101 010 101 101", "Y": "101 101 010 010 010", "Z": "111 001 010 100 111",
    "-": "000 000 111 000 000", "_": "000 000 000 000 111", ".": "000 000 000 000 010",
    "/": "001 001 010 100 100", "+": "000 010 111 010 000", " ": "000 000 000 000 000",
    "?": "111 001 010 000 010",
}
_GLYPHS = {c: np.array([[p == "1" for p in row] for row in rows.split()], dtype=bool)
           for c, rows in _GLYPH_ROWS.items()}

_SCALE = 2                      # each font pixel becomes a 2x2 block
_ADVANCE = 4 * _SCALE           # glyph width (3) plus one pixel of spacing
_TEXT_HEIGHT = 5 * _SCALE
_PAD = 2 * _SCALE
_MAX_NAME_CHARS = 10
_LIGHT = np.array([247, 251, 255], dtype=np.float64)   # row fraction 0
_DARK = np.array([8, 48, 107], dtype=np.float64)       # row fraction 1
_GRID = np.array([90, 90, 90], dtype=np.uint8)
_HEADER = np.array([235, 235, 235], dtype=np.uint8)
_BLACK = np.array([0, 0, 0], dtype=np.uint8)
_WHITE = np.array([255, 255, 255], dtype=np.uint8)


def _text_width(num_chars):
    """Pixel width of `num_chars` glyphs (no trailing spacing)."""
    return max(0, num_chars * _ADVANCE - _SCALE)


def _draw_text(canvas, text, top, left, colour):
    """Stamps `text` onto `canvas` [H, W, 3] with its top-left corner at (top, left)."""
    block = np.ones([_SCALE, _SCALE], dtype=bool)
    for i, char in enumerate(text.upper()):
        mask = np.kron(_GLYPHS.get(char, _GLYPHS["?"]), block)
        y, x = top, left + i * _ADVANCE
        # Clip at the canvas edge rather than fail; callers truncate text to fit.
        h = max(0, min(mask.shape[0], canvas.shape[0] - y))
        w = max(0, min(mask.shape[1], canvas.shape[1] - x))
        region = canvas[y:y + h, x:x + w]
        region[mask[:h, :w]] = colour


def _draw_centred(canvas, text, top, left, height, width, colour):
    """Draws `text`, truncated to the box, centred in the box at (top, left)."""
    fits = max(1, (width - 2 * _PAD + _SCALE) // _ADVANCE)
    text = text[:fits]
    y = top + (height - _TEXT_HEIGHT) // 2
    x = left + (width - _text_width(len(text))) // 2
    _draw_text(canvas, text, y, x, colour)


def confusion_matrix_image(cm, label_names=None):
    """A heat-map picture of a confusion matrix, drawn with NumPy only.

    Args:
      cm: square count matrix indexed `[true, pred]`.
      label_names: optional class names for the row/column headers (upper-
        cased, truncated to fit); defaults to the class ids.

    Returns:
      uint8 array `[1, H, W, 3]` (a batch of one RGB image, what
      `tf.summary.image` takes). Rows are true classes, columns predicted
      ones; the corner reads `T/P`.

    Example: `confusion_matrix_image([[5, 1], [2, 7]]).shape` -> `(1, 81, 93, 3)`.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError("cm must be a non-empty square matrix, got shape %s" % (cm.shape,))
    n = cm.shape[0]
    names = [str(i) for i in range(n)] if label_names is None else [str(x) for x in label_names]
    if len(names) != n:
        raise ValueError("%d label names for a %dx%d matrix" % (len(names), n, n))
    counts = cm.astype(np.int64)
    count_text = [[str(v) for v in row] for row in counts.tolist()]

    longest_count = max(len(t) for row in count_text for t in row)
    cell = max(_text_width(3), _text_width(longest_count)) + 2 * _PAD + 1
    header_h = _TEXT_HEIGHT + 2 * _PAD
    longest_name = min(_MAX_NAME_CHARS, max(3, max(len(s) for s in names)))
    header_w = _text_width(longest_name) + 2 * _PAD
    height, width = header_h + n * cell + 1, header_w + n * cell + 1

    canvas = np.empty([height, width, 3], dtype=np.uint8)
    canvas[:] = _HEADER
    # Shade by the row-normalised value so every true class uses the full
    # colour range however unbalanced the classes are; empty rows stay light.
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    fraction = np.divide(counts, totals, out=np.zeros([n, n]), where=totals > 0)
    for t in range(n):
        for p in range(n):
            top, left = header_h + t * cell, header_w + p * cell
            colour = np.round(_LIGHT + (_DARK - _LIGHT) * fraction[t, p]).astype(np.uint8)
            canvas[top:top + cell, left:left + cell] = colour
            ink = _WHITE if fraction[t, p] > 0.5 else _BLACK
            _draw_centred(canvas, count_text[t][p], top, left, cell, cell, ink)
    # Grid lines on every cell boundary, header edges included.
    for k in range(n + 1):
        canvas[header_h + k * cell, header_w:] = _GRID
        canvas[header_h:, header_w + k * cell] = _GRID
    for k, name in enumerate(names):
        _draw_centred(canvas, name, 0, header_w + k * cell, header_h, cell, _BLACK)
        _draw_text(canvas, name[:longest_name], header_h + k * cell + (cell - _TEXT_HEIGHT) // 2,
                   _PAD, _BLACK)
    _draw_centred(canvas, "T/P", 0, 0, header_h, header_w, _BLACK)
    return canvas[np.newaxis]


def _markdown_cell(value):
    """Table-safe text: pipes escaped so they don't split the markdown cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def confusion_matrix_markdown(cm, label_names=None):
    """The confusion matrix as a markdown table, rows true, columns predicted.

    Example: `confusion_matrix_markdown([[5, 1], [2, 7]], ["neg", "pos"])` starts
    `"| true \\\\ pred | neg | pos |"`.
    """
    cm = np.asarray(cm).astype(np.int64)
    n = cm.shape[0]
    names = [str(i) for i in range(n)] if label_names is None else [str(x) for x in label_names]
    lines = ["| true \\ pred | " + " | ".join(_markdown_cell(x) for x in names) + " |",
             "|---" * (n + 1) + "|"]
    for t in range(n):
        lines.append("| %s | %s |" % (_markdown_cell(names[t]),
                                      " | ".join(str(v) for v in cm[t].tolist())))
    return "\n".join(lines)


def _as_number(value):
    """A Python int/float for a numeric scalar (Python, NumPy, eager tensor); else None."""
    if isinstance(value, tf.distribute.DistributedValues):
        raise TypeError("per-replica value passed to SummaryLogger; reduce it first "
                        "(strategy.reduce) so the host writes one number")
    if isinstance(value, (str, bytes)):
        return None
    if isinstance(value, tf.Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape([]).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real):
        return value
    return None


def _hparam_value(value):
    """A value the hparams plugin accepts (bool/int/float/str); others become str."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class SummaryLogger:
    """Owns the TensorBoard writers of one fine-tuning run (see module docstring).

    Args:
      output_dir: the run's output folder; event files go to `train/`,
        `eval/` and (hparams only) the folder itself.

    Example:

    ```python
    logger = SummaryLogger(output_dir)
    logger.train_scalars(step, loss=loss, learning_rate=lr, grad_norm=norm)
    logger.close()
    ```
    """

    def __init__(self, output_dir):
        self.output_dir = os.fspath(output_dir)
        self._writers = {}
        for run in ("train", "eval"):
            self._writer(run)

    def _writer(self, run):
        """The file writer for `run` ("train", "eval", or "" for output_dir itself)."""
        if self._writers is None:
            raise RuntimeError("SummaryLogger is closed")
        if run not in self._writers:
            with tf.device("CPU:0"):
                self._writers[run] = tf.summary.create_file_writer(
                    os.path.join(self.output_dir, run) if run else self.output_dir)
        return self._writers[run]

    def _scalars(self, run, step, prefix, scalars):
        """Writes every numeric entry of `scalars` as `prefix + name` at `step`."""
        writer = self._writer(run)
        # Eager, on the host, and recording whatever record_if a caller set.
        with writer.as_default(step=int(step)), tf.device("CPU:0"), tf.summary.record_if(True):
            for name, value in scalars.items():
                number = _as_number(value)
                if number is not None:
                    tf.summary.scalar(prefix + name, float(number))

    def train_scalars(self, step, **scalars):
        """Writes `train/<name>` scalars at `step`; non-numeric values are skipped.

        Example: `logger.train_scalars(10, loss=0.7, learning_rate=2e-5)`.
        """
        self._scalars("train", step, "train/", scalars)

    def eval_results(self, step, results, confusion=None, label_names=None):
        """Writes one evaluation: scalars, a results table, the confusion matrix.

        Args:
          step: the global step evaluated.
          results: dict of eval results; every numeric value becomes a scalar
            `eval/<key>` (a leading `eval_` dropped), all go into the
            `eval/results` markdown table.
          confusion: optional `[true, pred]` count matrix; written as the
            image `eval/confusion_matrix_image` and the markdown table
            `eval/confusion_matrix_table`.
          label_names: optional class names for the confusion matrix.

        Example: `logger.eval_results(343, {"eval_accuracy": 0.85}, [[9, 1], [2, 8]])`.
        """
        tags = {(k[len("eval_"):] if str(k).startswith("eval_") else str(k)): v
                for k, v in results.items()}
        self._scalars("eval", step, "eval/", tags)
        rows = ["| key | value |", "|---|---|"]
        rows += ["| %s | %s |" % (_markdown_cell(k), _markdown_cell(results[k]))
                 for k in sorted(results, key=str)]
        with self._writer("eval").as_default(step=int(step)), tf.device("CPU:0"), \
                tf.summary.record_if(True):
            tf.summary.text("eval/results", "\n".join(rows))
            if confusion is not None:
                tf.summary.image("eval/confusion_matrix_image",
                                 confusion_matrix_image(confusion, label_names), max_outputs=1)
                tf.summary.text("eval/confusion_matrix_table",
                                confusion_matrix_markdown(confusion, label_names))

    def hparams(self, flags, trial_id=None):
        """Records the run's flags with TensorBoard's hparams plugin.

        Args:
          flags: dict name -> value; bool/int/float/str (and NumPy scalars)
            are kept, anything else (None, lists, paths) is written as str.
          trial_id: optional session name; defaults to a hash of the values.

        Example: `logger.hparams({"learning_rate": 2e-5, "init_checkpoint": None})`.
        """
        values = {str(k): _hparam_value(v) for k, v in flags.items()}
        with self._writer("").as_default(), tf.device("CPU:0"), tf.summary.record_if(True):
            hparams_api.hparams(values, trial_id=trial_id)

    def flush(self):
        """Flushes every open writer to disk."""
        for writer in (self._writers or {}).values():
            writer.flush()

    def close(self):
        """Flushes and closes the writers; later writes raise. Safe to call twice."""
        if self._writers is None:
            return
        for writer in self._writers.values():
            writer.close()
        self._writers = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
