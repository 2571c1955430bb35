"""Pretraining instances: tokenized documents -> `TrainingInstance`s, the original algorithm.

This is the instance generator of google-research/bert `create_pretraining_data.py` (with its
`do_whole_word_mask` option), call for call on the same `random.Random`, so that one stream of
random numbers over the same documents gives the original's instances exactly:

* `create_training_instances`: shuffle the documents, then `dupe_factor` passes over them, then
  shuffle the instances;
* `create_instances_from_document`: a target length (`short_seq_prob` of the time a random one in
  [2, max_seq_length - 3]), chunks of whole sentences split into A and B; B is a random span of
  another document when the chunk holds one sentence or with probability 0.5 (label 1, "random
  next"), and the chunk's unused sentences are put back;
* `truncate_seq_pair`: cut the longer segment, randomly from the front or the back;
* `create_masked_lm_predictions`: `num_to_predict = min(max_predictions_per_seq, max(1,
  round(len(tokens) * masked_lm_prob)))` positions, never [CLS]/[SEP]; 80% [MASK], 10% a random
  vocabulary token, 10% unchanged; whole-word masking groups a word with its "##" pieces.

Example:
    >>> import random
    >>> params = PretrainingParams(max_seq_length=16, max_predictions_per_seq=3, dupe_factor=1)
    >>> docs = [[["the", "cat"], ["sat", "down"]], [["a", "dog"], ["ran"]]]
    >>> vocab = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "down", "a", "dog",
    ...          "ran"]
    >>> first = create_training_instances(docs, params, vocab, random.Random(12345))[0]
    >>> first.tokens, first.masked_lm_labels, first.is_random_next
    (['[CLS]', '[MASK]', 'cat', '[SEP]', 'sat', 'down', '[SEP]'], ['the'], False)
"""

import collections
import dataclasses
import random
from typing import Callable, List, Sequence

from bert_tf.data.processors import DataFormatError

Document = List[List[str]]  # a document is a list of sentences, each a list of WordPiece tokens

MaskedLmInstance = collections.namedtuple("MaskedLmInstance", ["index", "label"])


class PretrainingDataError(DataFormatError):
    """Bad pretraining input, flags or records; the message is one line naming the file or flag."""


@dataclasses.dataclass(frozen=True)
class PretrainingParams:
    """The generation flags of the original script (same names and defaults).

    Args:
        max_seq_length: length of every sequence, [CLS] A [SEP] B [SEP] plus padding (>= 5).
        max_predictions_per_seq: masked positions stored per sequence.
        masked_lm_prob: share of a sequence's tokens (specials included, as the original counts
            them) that are chosen for prediction.
        short_seq_prob: probability of a random, shorter target length.
        dupe_factor: passes over the documents, each with fresh masks and splits.
        do_whole_word_mask: mask a word's "##" pieces together with it.
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    do_whole_word_mask: bool = False

    def validate(self):
        """Raises `PretrainingDataError` naming the flag for values the algorithm cannot use.

        `max_predictions_per_seq` below `round(max_seq_length * masked_lm_prob)` is an error, not
        the original's silent cap: full-length sequences would get fewer predictions than
        `masked_lm_prob` asks for, and the records cannot be fixed afterwards.
        """
        if self.max_seq_length < 5:
            # [CLS] a [SEP] b [SEP] needs 5; with fewer, truncation empties a segment.
            raise PretrainingDataError(
                f"--max_seq_length={self.max_seq_length}: must be at least 5 "
                "([CLS], one token of A, [SEP], one token of B, [SEP])")
        if not 0.0 < self.masked_lm_prob <= 1.0:
            raise PretrainingDataError(
                f"--masked_lm_prob={self.masked_lm_prob}: must be in (0, 1]")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise PretrainingDataError(
                f"--short_seq_prob={self.short_seq_prob}: must be in [0, 1]")
        if self.dupe_factor < 1:
            raise PretrainingDataError(f"--dupe_factor={self.dupe_factor}: must be at least 1")
        needed = int(round(self.max_seq_length * self.masked_lm_prob))
        if self.max_predictions_per_seq < max(1, needed):
            raise PretrainingDataError(
                f"--max_predictions_per_seq={self.max_predictions_per_seq} is too small for "
                f"--masked_lm_prob={self.masked_lm_prob} * --max_seq_length={self.max_seq_length}"
                f" (= {needed} predictions for a full sequence): raise --max_predictions_per_seq"
                f" to at least {max(1, needed)} or lower --masked_lm_prob")


@dataclasses.dataclass
class TrainingInstance:
    """One sentence pair: masked tokens, segment ids, the masked positions and their labels."""

    tokens: List[str]
    segment_ids: List[int]
    masked_lm_positions: List[int]
    masked_lm_labels: List[str]
    is_random_next: bool


def create_training_instances(documents: List[Document], params: PretrainingParams,
                              vocab_words: Sequence[str], rng: random.Random,
                              convert: Callable = None) -> list:
    """Instances from `documents` (shuffled in place first, as the original does).

    Args:
        documents: non-empty documents; random next sentences are drawn among them.
        params: `PretrainingParams`.
        vocab_words: the vocabulary in id order (random replacement tokens are drawn from it).
        rng: the one `random.Random` every draw comes from.
        convert: optional function applied to each instance as soon as it is made (e.g. its
            serialization), so that only the converted form is held; the final shuffle only
            depends on the number of instances, so it is the same either way.

    Returns:
        The (converted) instances, shuffled with `rng`.
    """
    rng.shuffle(documents)
    instances = []
    for _ in range(params.dupe_factor):
        for document_index in range(len(documents)):
            for instance in create_instances_from_document(
                    documents, document_index, params, vocab_words, rng):
                instances.append(convert(instance) if convert else instance)
    rng.shuffle(instances)
    return instances


def create_instances_from_document(all_documents: List[Document], document_index: int,
                                   params: PretrainingParams, vocab_words: Sequence[str],
                                   rng: random.Random) -> List[TrainingInstance]:
    """The instances of one document (see the module docstring for the algorithm)."""
    document = all_documents[document_index]
    max_num_tokens = params.max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    # Mostly fill the sequence (padding is wasted compute) but sometimes train on shorter ones to
    # match fine-tuning inputs; the target is a soft limit, max_num_tokens the hard one.
    target_seq_length = max_num_tokens
    if rng.random() < params.short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances = []
    current_chunk = []
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        if i == len(document) - 1 or current_length >= target_seq_length:
            if current_chunk:
                # a_end: how many of the chunk's sentences go into A.
                a_end = 1
                if len(current_chunk) >= 2:
                    a_end = rng.randint(1, len(current_chunk) - 1)
                tokens_a = [token for sentence in current_chunk[:a_end] for token in sentence]

                tokens_b = []
                if len(current_chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    # Up to 10 tries for another document; a one-document corpus uses itself.
                    for _ in range(10):
                        random_document_index = rng.randint(0, len(all_documents) - 1)
                        if random_document_index != document_index:
                            break
                    random_document = all_documents[random_document_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for j in range(random_start, len(random_document)):
                        tokens_b.extend(random_document[j])
                        if len(tokens_b) >= target_b_length:
                            break
                    # The chunk's sentences after A were not used: put them back.
                    i -= len(current_chunk) - a_end
                else:
                    is_random_next = False
                    for j in range(a_end, len(current_chunk)):
                        tokens_b.extend(current_chunk[j])
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)

                tokens = ["[CLS]", *tokens_a, "[SEP]", *tokens_b, "[SEP]"]
                segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                tokens, positions, labels = create_masked_lm_predictions(
                    tokens, params.masked_lm_prob, params.max_predictions_per_seq, vocab_words,
                    rng, params.do_whole_word_mask)
                instances.append(TrainingInstance(tokens, segment_ids, positions, labels,
                                                  is_random_next))
            current_chunk = []
            current_length = 0
        i += 1
    return instances


def create_masked_lm_predictions(tokens: List[str], masked_lm_prob: float,
                                 max_predictions_per_seq: int, vocab_words: Sequence[str],
                                 rng: random.Random, do_whole_word_mask: bool = False):
    """Chooses and replaces the masked positions.

    Returns:
        (output_tokens, masked_lm_positions (ascending), masked_lm_labels (original tokens)).
    """
    cand_indexes = []
    for i, token in enumerate(tokens):
        if token == "[CLS]" or token == "[SEP]":
            continue
        # Whole-word masking: a "##" piece joins the candidate of the piece before it. Training
        # is unchanged: each piece is still predicted on its own.
        if do_whole_word_mask and cand_indexes and token.startswith("##"):
            cand_indexes[-1].append(i)
        else:
            cand_indexes.append([i])
    rng.shuffle(cand_indexes)

    output_tokens = list(tokens)
    num_to_predict = min(max_predictions_per_seq,
                         max(1, int(round(len(tokens) * masked_lm_prob))))
    masked_lms = []
    covered_indexes = set()
    for index_set in cand_indexes:
        if len(masked_lms) >= num_to_predict:
            break
        # A whole word that would overshoot num_to_predict is skipped, not cut.
        if len(masked_lms) + len(index_set) > num_to_predict:
            continue
        if any(index in covered_indexes for index in index_set):
            continue
        for index in index_set:
            covered_indexes.add(index)
            if rng.random() < 0.8:
                masked_token = "[MASK]"
            elif rng.random() < 0.5:
                masked_token = tokens[index]
            else:
                masked_token = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            output_tokens[index] = masked_token
            masked_lms.append(MaskedLmInstance(index=index, label=tokens[index]))
    masked_lms.sort(key=lambda x: x.index)
    return (output_tokens, [m.index for m in masked_lms], [m.label for m in masked_lms])


def truncate_seq_pair(tokens_a: List[str], tokens_b: List[str], max_num_tokens: int,
                      rng: random.Random) -> None:
    """Shortens the longer list (B on a tie) in place, one token at a time, until the pair fits;
    each cut is at the front or the back with equal probability, to avoid a bias."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()
