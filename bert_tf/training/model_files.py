"""Which config and vocab a run uses: from --bert_config_file/--vocab_file, or from the
folder of --init_checkpoint (local or any tf.io.gfile URL, such as gs://). Shared by
run_classifier and run_pretraining."""

import os

import tensorflow as tf

from bert_tf.checkpoints import VOCAB_NAME, CheckpointError, detect_format, read_pretrained_config
from bert_tf.checkpoints.pretrained import check_vocab_size, vocab_file_of
from bert_tf.modeling import BertConfig


class UsageError(ValueError):
    """A flag combination that cannot run; the message names the flag."""


def resolve_model_files(p, vocab_required: bool = True):
    """(BertConfig, vocab_file or None) for the flags in `p`.

    The vocab defaults to vocab.txt beside the checkpoint, else beside the config file. A vocab
    whose size disagrees with the config, or a --max_seq_length beyond the position table, is a
    UsageError/CheckpointError naming the flag or file.
    """
    init = getattr(p, "init_checkpoint", None)
    if init:
        try:
            detect_format(init)
        except CheckpointError as e:
            raise UsageError(f"--init_checkpoint: {e}") from None
    config_file = getattr(p, "bert_config_file", None)
    if config_file:
        if not tf.io.gfile.exists(config_file):
            raise UsageError(f"--bert_config_file: {config_file} does not exist")
        config = BertConfig.from_json_file(config_file)
    elif init:
        config = read_pretrained_config(init)
    else:
        raise UsageError("--bert_config_file is required (or an --init_checkpoint folder holding one)")
    vocab = getattr(p, "vocab_file", None)
    if vocab:
        if not tf.io.gfile.exists(vocab):
            raise UsageError(f"--vocab_file: {vocab} does not exist")
    else:
        candidates = [c for c in [vocab_file_of(init) if init else None] if c]
        if config_file:
            folder = os.path.dirname(config_file if "://" in config_file
                                     else os.path.abspath(config_file))
            candidates.append(os.path.join(folder, VOCAB_NAME))
        vocab = next((c for c in candidates if tf.io.gfile.exists(c)), None)
    if vocab:
        check_vocab_size(vocab, config)
    elif vocab_required:
        raise UsageError("--vocab_file: not set, and no vocab.txt beside --init_checkpoint or "
                         "--bert_config_file")
    if p.max_seq_length > config.max_position_embeddings:
        raise UsageError(f"--max_seq_length={p.max_seq_length} is longer than the model's "
                         f"max_position_embeddings={config.max_position_embeddings}")
    return config, vocab
