"""create_pretraining_data: text files -> the original BERT pretraining TFRecords, streamed.

Input: UTF-8 text, one sentence per line, a blank line between documents (the end of a file also
ends a document). Output: `pretraining_records.FEATURES` records, written round-robin over the
output files as the original does, each through a temp file and `os.replace` at the end, so a run
that fails leaves no output.

Differences from the original, which reads the whole corpus into memory:
* Shards: documents are processed in shards of `documents_per_shard` (in input order). Random
  next sentences are drawn from the same shard, and instances are shuffled within their shard;
  memory holds a few shards, never the corpus.
* Seeds: each shard has its own `random.Random`: shard 0 uses `random_seed` itself, shard k
  a seed derived from (random_seed, k). A corpus that fits in one shard (one input file, or
  files that end with a blank line) is therefore generated exactly as the original generates it:
  same instances in the same order in the same files (checked against the original's code on the
  drug-review corpus, with and without whole-word masking).
* Parallel: with several shards, `num_workers` processes tokenize and generate shards while
  the main process writes them in shard order: the output depends on the seed and
  `documents_per_shard` only, not on the number of workers.
* File ends: the original glues the last document of a file to the first of the next one when
  the file does not end with a blank line; here a file's end always ends its document.

Example:
    >>> stats = create_pretraining_data(["drugreview.txt"], ["out.tfrecord"], "vocab.txt",
    ...                                 params=PretrainingParams(dupe_factor=2))  # doctest: +SKIP
    >>> stats.summary()  # doctest: +SKIP
    '600 documents, 2503 instances, 61.5% random next, 14.9% of tokens masked (...)'
"""

import collections
import concurrent.futures
import dataclasses
import glob
import hashlib
import itertools
import multiprocessing
import os
import random
import tempfile
from typing import Callable, Iterator, List, Optional, Sequence

from bert_tf.atomic_files import file_mode
from bert_tf.data.pretraining_instances import (PretrainingDataError, PretrainingParams,
                                                create_training_instances)
from bert_tf.data.pretraining_records import serialize_instance
from bert_tf.tokenization import FullTokenizer, VocabError, convert_to_unicode

DEFAULT_DOCUMENTS_PER_SHARD = 10000


@dataclasses.dataclass
class PretrainingDataStats:
    """Counts over everything written (`add` merges a shard's counts)."""

    documents: int = 0
    instances: int = 0
    random_next: int = 0
    tokens: int = 0          # real tokens, [CLS]/[SEP] included (the masking rate's base)
    masked: int = 0          # positions chosen for prediction
    masked_as_mask: int = 0  # ... replaced by [MASK]
    masked_kept: int = 0     # ... left unchanged (a random token equal to it counts here too)

    def add(self, other: "PretrainingDataStats") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    @property
    def random_next_fraction(self) -> float:
        return self.random_next / max(1, self.instances)

    @property
    def masked_fraction(self) -> float:
        return self.masked / max(1, self.tokens)

    def summary(self) -> str:
        masked = max(1, self.masked)
        return (f"{self.documents} documents, {self.instances} instances, "
                f"{self.random_next_fraction:.1%} random next, {self.masked_fraction:.1%} of "
                f"tokens masked ({self.masked_as_mask / masked:.1%} [MASK], "
                f"{(self.masked - self.masked_as_mask - self.masked_kept) / masked:.1%} random, "
                f"{self.masked_kept / masked:.1%} kept)")


def shard_seed(random_seed: int, shard_index: int) -> int:
    """Shard 0 keeps `random_seed` (the original's stream); others get a hash-derived seed."""
    if shard_index == 0:
        return random_seed
    digest = hashlib.sha256(f"bert_tf-pretraining:{random_seed}:{shard_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def resolve_input_files(input_file: str) -> List[str]:
    """Comma-separated globs -> files (sorted within each glob); a glob matching nothing fails."""
    files = []
    for pattern in (p.strip() for p in input_file.split(",")):
        if not pattern:
            continue
        if "://" in pattern:
            import tensorflow as tf  # remote file systems (gs://) need TF's gfile
            matches = sorted(tf.io.gfile.glob(pattern))
        else:
            matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not matches:
            raise PretrainingDataError(f"--input_file: {pattern!r} matches no file")
        files.extend(matches)
    if not files:
        raise PretrainingDataError("--input_file: no input file given")
    return files


def _open_binary(path: str):
    if "://" in path:
        import tensorflow as tf
        return tf.io.gfile.GFile(path, "rb")
    return open(path, "rb")


def read_documents(input_files: Sequence[str]) -> Iterator[List[str]]:
    """Yields each document as its list of stripped, non-blank lines.

    Lines end at "\\n" only and are stripped with `str.strip()`, as the original's readline.
    """
    for path in input_files:
        document = []
        with _open_binary(path) as f:
            for line_number, raw in enumerate(f, start=1):
                line = convert_to_unicode(raw, source=f"{path}:{line_number}").strip()
                if line:
                    document.append(line)
                elif document:
                    yield document
                    document = []
        if document:
            yield document


def shard_documents(documents: Iterator[List[str]], documents_per_shard: int):
    """Groups documents into lists of at most `documents_per_shard`."""
    while True:
        shard = list(itertools.islice(documents, documents_per_shard))
        if not shard:
            return
        yield shard


class ShardProcessor:
    """Raw documents of one shard -> (serialized records in final order, stats).

    Args:
        vocab_file, do_lower_case: the `FullTokenizer`.
        params: `PretrainingParams`.
    """

    def __init__(self, vocab_file: str, do_lower_case: bool, params: PretrainingParams):
        self.tokenizer = FullTokenizer(vocab_file, do_lower_case=do_lower_case)
        self.params = params
        self.vocab_words = list(self.tokenizer.vocab.keys())
        # Tokens are replaced by the vocabulary's own string objects: a shard then holds one
        # pointer per token instead of one string object per token.
        self._canonical = {token: token for token in self.vocab_words}

    def tokenize_document(self, lines: List[str]) -> List[List[str]]:
        sentences = []
        for line in lines:
            tokens = self.tokenizer.tokenize(line)
            if tokens:  # a line with no tokens (e.g. only control characters) is dropped
                sentences.append([self._canonical.get(t, t) for t in tokens])
        return sentences

    def __call__(self, shard_index: int, seed: int, raw_documents: List[List[str]]):
        documents = [d for d in map(self.tokenize_document, raw_documents) if d]
        stats = PretrainingDataStats(documents=len(documents))
        if not documents:
            return [], stats
        vocab, params = self.tokenizer.vocab, self.params

        def convert(instance):
            stats.instances += 1
            stats.random_next += instance.is_random_next
            stats.tokens += len(instance.tokens)
            stats.masked += len(instance.masked_lm_positions)
            for position, label in zip(instance.masked_lm_positions, instance.masked_lm_labels):
                token = instance.tokens[position]
                stats.masked_as_mask += token == "[MASK]"
                stats.masked_kept += token == label
            return serialize_instance(instance, vocab, params.max_seq_length,
                                      params.max_predictions_per_seq)

        records = create_training_instances(documents, params, self.vocab_words,
                                            random.Random(seed), convert)
        return records, stats


_WORKER: Optional[ShardProcessor] = None


def _init_worker(vocab_file, do_lower_case, params):
    global _WORKER
    _WORKER = ShardProcessor(vocab_file, do_lower_case, params)


def _run_worker(task):
    return _WORKER(*task)


class AtomicRecordWriters:
    """TFRecord writers for `output_files`, round-robin; files appear only on `commit()`."""

    def __init__(self, output_files: Sequence[str]):
        import tensorflow as tf  # only the main process writes; workers stay TF-free

        self._final = [os.fspath(p) for p in output_files]
        self._temps, self._writers = [], []
        self._next = 0
        self._gfile = tf.io.gfile
        try:
            for path in self._final:
                if "://" in path:  # gs:// etc.: TF's file system, renamed with gfile on commit
                    tmp = f"{path}.tmp-{os.getpid()}"
                else:
                    folder = os.path.dirname(os.path.abspath(path))
                    os.makedirs(folder, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-",
                                               suffix=os.path.basename(path))
                    os.close(fd)
                self._temps.append(tmp)
                self._writers.append(tf.io.TFRecordWriter(tmp))
        except BaseException:
            self.abort()
            raise

    def write(self, record: bytes) -> None:
        self._writers[self._next].write(record)
        self._next = (self._next + 1) % len(self._writers)

    def commit(self) -> None:
        for writer in self._writers:
            writer.close()
        for tmp, path in zip(self._temps, self._final):
            if "://" in path:
                self._gfile.rename(tmp, path, overwrite=True)
            else:
                os.chmod(tmp, file_mode())  # mkstemp makes 0600; the umask decides
                os.replace(tmp, path)
        self._temps = []

    def abort(self) -> None:
        for writer in self._writers:
            writer.close()
        for tmp in self._temps:
            if self._gfile.exists(tmp):
                self._gfile.remove(tmp)
        self._temps = []


def _check_outputs(output_files: Sequence[str]) -> List[str]:
    outputs = [os.fspath(p) for p in output_files if str(p).strip()]
    if not outputs:
        raise PretrainingDataError("--output_file: no output file given")
    duplicates = sorted({p for p in outputs if outputs.count(p) > 1})
    if duplicates:
        raise PretrainingDataError(f"--output_file: {duplicates[0]} is listed twice")
    return outputs


def create_pretraining_data(input_files: Sequence[str], output_files: Sequence[str],
                            vocab_file: str, do_lower_case: bool = True,
                            params: PretrainingParams = PretrainingParams(),
                            random_seed: int = 12345,
                            documents_per_shard: int = DEFAULT_DOCUMENTS_PER_SHARD,
                            num_workers: int = 2,
                            progress: Callable[[PretrainingDataStats], None] = None
                            ) -> PretrainingDataStats:
    """Writes the pretraining TFRecords; returns the counts.

    Args:
        input_files: text files (already resolved; see `resolve_input_files` for globs).
        output_files: TFRecord paths; instances are dealt round-robin over them.
        vocab_file, do_lower_case: the tokenizer (the vocabulary needs [MASK]).
        params: `PretrainingParams` (validated here).
        random_seed: seed of shard 0's `random.Random` (see the module docstring).
        documents_per_shard: documents per shard (memory bound, random-next pool).
        num_workers: processes for a corpus of several shards (1: all in this process).
        progress: called with the running totals after each shard is written.

    Raises:
        PretrainingDataError: bad flags or an empty corpus (no output is left behind).
        VocabError, TextDecodeError: an unusable vocabulary or input that is not UTF-8.
    """
    params.validate()
    if documents_per_shard < 1:
        raise PretrainingDataError(
            f"--documents_per_shard={documents_per_shard}: must be at least 1")
    outputs = _check_outputs(output_files)
    processor = ShardProcessor(vocab_file, do_lower_case, params)
    if "[MASK]" not in processor.tokenizer.vocab:
        raise VocabError(f"{vocab_file}: vocabulary lacks the token [MASK], which masking needs")

    shards = shard_documents(read_documents(list(input_files)), documents_per_shard)
    first = next(shards, None)
    second = next(shards, None)
    head = [shard for shard in (first, second) if shard is not None]
    tasks = ((index, shard_seed(random_seed, index), shard)
             for index, shard in enumerate(itertools.chain(head, shards)))

    totals = PretrainingDataStats()
    writers = AtomicRecordWriters(outputs)
    try:
        for records, stats in _generate(tasks, processor, vocab_file, do_lower_case, params,
                                        num_workers if second is not None else 1):
            for record in records:
                writers.write(record)
            totals.add(stats)
            if progress:
                progress(totals)
        if totals.documents == 0:  # any document gives at least one instance
            raise PretrainingDataError(
                f"--input_file: {', '.join(input_files)} holds no documents (one sentence per "
                "line, blank lines between documents)")
        writers.commit()
    except BaseException:
        writers.abort()
        raise
    return totals


def _generate(tasks, processor, vocab_file, do_lower_case, params, num_workers):
    """Yields each shard's (records, stats) in shard order, from worker processes if several."""
    if num_workers <= 1:
        for task in tasks:
            yield processor(*task)
        return
    # spawn: the main process may already run TensorFlow threads, which fork does not survive.
    # An executor (not multiprocessing.Pool) because a worker that dies (out of memory, say)
    # then fails the run with BrokenProcessPool instead of hanging it.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(num_workers, context, _init_worker,
                                                (vocab_file, do_lower_case, params)) as pool:
        pending = collections.deque()
        try:
            for task in tasks:
                pending.append(pool.submit(_run_worker, task))
                # At most one shard queued beyond the busy workers: memory stays a few shards.
                while len(pending) > num_workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # on an error, do not wait for shards nobody will write
                future.cancel()
