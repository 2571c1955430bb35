"""Converts a Hugging Face BERT folder into a Google BERT folder.

    python -m bert_tf.convert --input HF_DIR --output GOOGLE_DIR

writes `bert_config.json`, `vocab.txt` and `bert_model.ckpt.*` with Google's TF1 variable
names. HF's erf GELU is recorded as `"hidden_act": "gelu_exact"` (Google's "gelu" means the
tanh form), so the activation never changes silently.
"""

import os

from absl import flags

from bert_tf import cli

from bert_tf.checkpoints import (VOCAB_NAME, CheckpointError, load_pretrained, read_hf_config,
                                 read_hf_weights, save_google_folder)
from bert_tf.modeling import BertEncoder, ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "HF folder: config.json + model.safetensors (+ vocab.txt).")
flags.DEFINE_string("output", None, "Google folder to write.")


def convert_hf_to_google(input_dir: str, output_dir: str) -> str:
    """Converts and then reloads the result as a check; returns the checkpoint prefix."""
    config = read_hf_config(input_dir)
    tensors = read_hf_weights(input_dir)
    vocab = os.path.join(input_dir, VOCAB_NAME)
    prefix = save_google_folder(output_dir, tensors, config,
                                vocab if os.path.exists(vocab) else None)
    load_pretrained(output_dir, BertEncoder)  # Fails loudly if anything is off.
    return prefix


def main(argv):
    del argv
    if not FLAGS.input or not FLAGS.output:
        cli.fail("--input and --output are required")
    try:
        prefix = convert_hf_to_google(FLAGS.input, FLAGS.output)
    except (CheckpointError, ConfigError, OSError) as e:
        cli.fail(str(e), cli.DATA)
    print(f"wrote {prefix}")


if __name__ == "__main__":
    cli.run_absl(main)
