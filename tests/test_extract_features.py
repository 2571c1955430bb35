"""extract_features.py end to end, run as a subprocess on a tiny random Google folder.

Expected values come from `BertEncoder` called here on inputs packed by hand (token lists
written out below, ids from the vocab file), not from the script's own packing code.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "extract_features.py"
TIMEOUT_S = 240
MAX_SEQ = 16
LAYERS = [-1, 0, -2]

WORDS = [f"w{i}" for i in range(10, 30)]
PAIR_A, PAIR_B = [f"w{i}" for i in range(30, 40)], [f"w{i}" for i in range(40, 48)]
LINES = [
    "w1 w2 w3",
    "w4 w5 ||| w6 w7 w8",
    "",  # a blank line is an example: [CLS] [SEP]
    " ".join(WORDS),
    " ".join(PAIR_A) + " ||| " + " ".join(PAIR_B),
    "W9 zzz",
    "w1|||w2",  # no spaces around |||: one text
]
# (tokens, number of segment-0 tokens) per line, packed as the original does.
EXPECTED = [
    (["[CLS]", "w1", "w2", "w3", "[SEP]"], 5),
    (["[CLS]", "w4", "w5", "[SEP]", "w6", "w7", "w8", "[SEP]"], 4),
    (["[CLS]", "[SEP]"], 2),
    # A single text keeps its first MAX_SEQ - 2 tokens.
    (["[CLS]"] + WORDS[:MAX_SEQ - 2] + ["[SEP]"], MAX_SEQ),
    # A pair is cut one token at a time from the longer side (the second on a tie) down to
    # MAX_SEQ - 3 = 13 tokens: 10 + 8 ends as 7 + 6.
    (["[CLS]"] + PAIR_A[:7] + ["[SEP]"] + PAIR_B[:6] + ["[SEP]"], 9),
    (["[CLS]", "w9", "[UNK]", "[SEP]"], 4),
    (["[CLS]", "w1", "[UNK]", "[UNK]", "[UNK]", "w2", "[SEP]"], 7),
]


def script_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CONFIG", "BERT_TF_LOGICAL_CPUS", "TPU_NAME")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def run_script(*args, **env):
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=str(REPO), text=True,
                          capture_output=True, env=script_env(**env), timeout=TIMEOUT_S)
    proc.describe = (f"args: {args}\nrc={proc.returncode}\n{proc.stdout[-2000:]}\n"
                     f"{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def _cache():
    return {}


@pytest.fixture
def model(make_google_folder, tiny_config_dict, _cache):
    """The tiny model folder (hidden 32, 2 layers), built on first use in this module."""
    if "model" not in _cache:
        _cache["model"], _ = make_google_folder(tiny_config_dict, name="extract_model")
    return _cache["model"]


@pytest.fixture
def input_file(model, _cache):
    path = model.parent / "input.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def reference(model, _cache):
    """The encoder's outputs for EXPECTED, computed in this process: (mask, outputs)."""
    if "reference" not in _cache:
        from bert_tf.modeling import BertEncoder

        vocab = {t: i for i, t in enumerate((model / "vocab.txt").read_text().splitlines())}
        n = len(EXPECTED)
        ids, mask, types_ = (np.zeros((n, MAX_SEQ), np.int32) for _ in range(3))
        for row, (tokens, first) in enumerate(EXPECTED):
            ids[row, :len(tokens)] = [vocab[t] for t in tokens]
            mask[row, :len(tokens)] = 1
            types_[row, first:len(tokens)] = 1
        encoder = BertEncoder.from_pretrained(str(model))
        out = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types_},
                      training=False)
        _cache["reference"] = (mask, {
            "sequence_output": np.asarray(out["sequence_output"]),
            "encoder_outputs": [np.asarray(x) for x in out["encoder_outputs"]]})
    return _cache["reference"]


def read_json_lines(path):
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    return lines, [json.loads(line) for line in lines]


def check_json_output(path, reference):
    _, outputs = reference
    lines, rows = read_json_lines(path)
    assert len(rows) == len(LINES)
    for i, (line, row) in enumerate(zip(lines, rows)):
        # The original's json.dumps text: default separators, this key order.
        assert line == json.dumps(row) + "\n"
        assert list(row) == ["linex_index", "features"] and row["linex_index"] == i
        tokens = EXPECTED[i][0]
        assert [f["token"] for f in row["features"]] == tokens  # real tokens only
        for t, feature in enumerate(row["features"]):
            assert list(feature) == ["token", "layers"]
            assert [layer["index"] for layer in feature["layers"]] == LAYERS
            for layer in feature["layers"]:
                assert list(layer) == ["index", "values"]
                values = np.array(layer["values"])
                assert all(v == round(v, 6) for v in layer["values"])
                want = outputs["encoder_outputs"][layer["index"]][i, t]
                np.testing.assert_allclose(values, want, rtol=0, atol=1e-6)
    return rows


def test_json_lines_equal_encoder_outputs(model, input_file, reference, tmp_path):
    out = tmp_path / "out" / "features.jsonl"  # the folder is created
    run = run_script(f"--input_file={input_file}", f"--output_file={out}",
                     f"--init_checkpoint={model}", f"--layers={','.join(map(str, LAYERS))}",
                     f"--max_seq_length={MAX_SEQ}", "--batch_size=4")
    assert run.returncode == 0, run.describe
    rows = check_json_output(out, reference)
    # Layer -1 is the last block's output, i.e. sequence_output; block 0 differs from it.
    _, outputs = reference
    last = np.array([f["layers"][0]["values"] for f in rows[0]["features"]])
    np.testing.assert_allclose(last, outputs["sequence_output"][0, :5], atol=1e-6)
    assert not np.allclose(last, outputs["encoder_outputs"][0][0, :5], atol=1e-3)
    assert [p.name for p in out.parent.iterdir()] == ["features.jsonl"]  # no temporary file


def test_replicas_keep_the_input_order(model, input_file, reference, tmp_path):
    """Two replicas (the CPU split in two): each takes half of every batch, and the rows come
    back in input order (the path a TPU's cores take)."""
    out = tmp_path / "features.jsonl"
    params = dict(input_file=str(input_file), output_file=str(out), init_checkpoint=str(model),
                  bert_config_file=None, vocab_file=None, layers=",".join(map(str, LAYERS)),
                  max_seq_length=MAX_SEQ, do_lower_case=True, batch_size=4, pooling=None,
                  distribution_strategy="mirrored")
    code = ("import types; from bert_tf.features import run_extract_features; "
            f"run_extract_features(types.SimpleNamespace(**{params!r}))")
    run = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), text=True,
                         capture_output=True, timeout=TIMEOUT_S,
                         env=script_env(BERT_TF_LOGICAL_CPUS="2"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "MirroredStrategy with 2 replica(s)" in run.stdout
    check_json_output(out, reference)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooled_vectors(pooling, model, input_file, reference, tmp_path):
    out = tmp_path / "vectors.npy"
    run = run_script(f"--input_file={input_file}", f"--output_file={out}",
                     f"--init_checkpoint={model}", f"--pooling={pooling}",
                     f"--max_seq_length={MAX_SEQ}", "--batch_size=3")
    assert run.returncode == 0, run.describe
    vectors = np.load(out)
    assert vectors.dtype == np.float32 and vectors.shape == (len(LINES), 32)
    mask, outputs = reference
    x = outputs["sequence_output"]
    if pooling == "mean":
        want = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    else:
        want = x[:, 0]
    np.testing.assert_allclose(vectors, want, rtol=0, atol=1e-6)


def _lines(text):
    return lambda path: path.write_text(text, encoding="utf-8")


# case: (write the input file, extra flags, exit status, parts of the error line)
BAD_INPUT = {
    "two_separators": (_lines("w1 w2\nw1 ||| w2 ||| w3\n"), [], 1,
                       ["input.txt, line 2", "2 '|||' separators"]),
    "empty_file": (_lines(""), [], 1, ["input.txt", "empty"]),
    "invalid_utf8": (lambda path: path.write_bytes(b"w1\nw2 \xff w3\n"), [], 1,
                     ["input.txt, line 2", "not valid UTF-8"]),
    "missing_file": (lambda path: None, [], 2, ["--input_file", "input.txt does not exist"]),
    "layer_out_of_range": (_lines("w1\n"), ["--layers=-9"], 2,
                           ["--layers=-9", "2-layer model", "-2..1"]),
    "layer_not_integer": (_lines("w1\n"), ["--layers=x"], 2, ["--layers=x", "'x'"]),
    "layers_with_pooling": (_lines("w1\n"), ["--pooling=mean", "--layers=-2"], 2,
                            ["--layers=-2", "--pooling=mean"]),
    "unknown_pooling": (_lines("w1\n"), ["--pooling=max"], 2, ["--pooling=max", "mean|cls"]),
    # Found on the second line, after the first was written: the partial file must go.
    "pair_longer_than_max_seq_length": (_lines("w1\nw2 ||| w3\n"),
                                        ["--max_seq_length=2", "--batch_size=1"], 2,
                                        ["--max_seq_length", "3 special tokens"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_error_line(case, model, tmp_path):
    write, flags, status, parts = BAD_INPUT[case]
    path = tmp_path / "input.txt"
    write(path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # The defaults (-1,-2,-3,-4 and 128) do not fit the 2-layer model with 64 positions.
    given = {f.split("=")[0] for f in flags}
    flags = [f for f in ("--layers=-1", f"--max_seq_length={MAX_SEQ}")
             if f.split("=")[0] not in given] + flags
    run = run_script(f"--input_file={path}", f"--output_file={out_dir / 'features.jsonl'}",
                     f"--init_checkpoint={model}", *flags)
    assert run.returncode == status, run.describe
    assert "Traceback" not in run.stderr, run.describe
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), run.describe
    assert sum(line.startswith("error:") for line in lines) == 1, run.describe
    for part in parts:
        assert part in lines[-1], (part, lines[-1])
    assert list(out_dir.iterdir()) == []  # no output file, no temporary file


def test_minilm_mean_pooling_matches_transformers(minilm_dir, tmp_path):
    """all-MiniLM-L6-v2's sentence vectors (its HF folder as --init_checkpoint) against HF
    transformers' BertModel with the sentence-transformers mean pooling, on CPU torch."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    long_text = " ".join(["The tablets helped with my migraines, but I was dizzy."] * 12)
    texts = [("I have been on this pill for six months and love it.", None),
             ("Terrible side effects: headaches, nausea and no sleep.", None),
             ("How do I stop smoking?", "Chantix helped me quit after 30 years."),
             (long_text, None)]  # longer than --max_seq_length: truncated by both
    path = tmp_path / "input.txt"
    path.write_text("".join(a + (f" ||| {b}" if b else "") + "\n" for a, b in texts), "utf-8")
    out = tmp_path / "vectors.npy"
    run = run_script(f"--input_file={path}", f"--output_file={out}",
                     f"--init_checkpoint={minilm_dir}", "--pooling=mean", "--max_seq_length=64")
    assert run.returncode == 0, run.describe
    vectors = np.load(out)

    tokenizer = transformers.BertTokenizer(str(minilm_dir / "vocab.txt"), do_lower_case=True)
    hf = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    for row, (a, b) in enumerate(texts):
        enc = tokenizer(a, b, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            hidden = hf(**enc).last_hidden_state
        mask = enc["attention_mask"][..., None].float()
        want = ((hidden * mask).sum(1) / mask.sum(1))[0].numpy()
        np.testing.assert_allclose(vectors[row], want, rtol=0, atol=1e-5)
