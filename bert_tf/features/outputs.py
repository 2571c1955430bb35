"""extract_features' output files, streamed batch by batch and published atomically.

* JSON lines (the original's format): one line per input line,
  `{"linex_index": i, "features": [{"token": t, "layers": [{"index": l, "values": [...]}]}]}`
  over the real tokens, each value `round(float(x), 6)` as the original wrote it.
* `.npy`: one float32 row per input line, shape [num_lines, hidden_size] (`--pooling`).

A BERT-base JSON file runs to megabytes a line, so rows are written as they come, through
`bert_tf.atomic_files.atomic_output`: the file appears only once everything was written; on any
error the temporary file is removed, and an older output file stays as it was.
"""

import json

import numpy as np



def feature_line(index: int, tokens, layers, values) -> str:
    """One JSON line of the original format.

    Args:
        index: the example's 0-based line number (`linex_index`).
        tokens: its real tokens, [CLS] ... [SEP].
        layers: the layer indices as the user gave them (`--layers`).
        values: float array [len(layers), >= len(tokens), hidden_size].
    """
    features = []
    for i, token in enumerate(tokens):
        features.append({"token": token, "layers": [
            {"index": layer, "values": [round(x, 6) for x in values[j, i].tolist()]}
            for j, layer in enumerate(layers)]})
    # json.dumps' default separators and ASCII escapes: byte-for-byte the original's lines.
    return json.dumps({"linex_index": index, "features": features}) + "\n"


class NpyRowWriter:
    """Writes a float32 [num_rows, width] .npy file row block by row block.

    The header needs the shape, which is known before the first row (one row per input line);
    `close` checks that exactly that many rows came.
    """

    def __init__(self, handle, num_rows: int, width: int):
        self.handle, self.num_rows, self.width, self.written = handle, num_rows, width, 0
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
                  "fortran_order": False, "shape": (num_rows, width)}
        np.lib.format.write_array_header_1_0(handle, header)

    def write(self, rows: np.ndarray):
        rows = np.ascontiguousarray(rows, dtype="<f4")
        if rows.ndim != 2 or rows.shape[1] != self.width:
            raise ValueError(f"expected rows of width {self.width}, got shape {rows.shape}")
        self.handle.write(rows.tobytes())
        self.written += len(rows)

    def close(self):
        if self.written != self.num_rows:
            raise RuntimeError(f"wrote {self.written} rows of the {self.num_rows} announced")
