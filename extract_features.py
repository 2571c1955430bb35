"""BERT as a feature extractor: the original extract_features.py flags and JSON-lines output,
plus sentence vectors as .npy (`--pooling`). Guide: docs/features.md.

    echo 'Who was Jim Henson ? ||| Jim Henson was a puppeteer' > /tmp/input.txt
    python extract_features.py --input_file=/tmp/input.txt --output_file=/tmp/output.jsonl \
      --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 \
      --max_seq_length=128 --batch_size=8
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from bert_tf import cli  # noqa: E402
from bert_tf.training import flags as common_flags  # noqa: E402

FLAGS = flags.FLAGS

# The original flags, with their names and defaults.
flags.DEFINE_string("input_file", None, "Text file: one example a line, `text_a ||| text_b` "
                    "for a pair.")
flags.DEFINE_string("output_file", None, "Where the JSON lines (or, with --pooling, the .npy "
                    "array) are written.")
flags.DEFINE_string("layers", "-1,-2,-3,-4", "Comma-separated transformer block indices; -1 is "
                    "the last block's output.")
flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT "
                    "model (default: the one beside --init_checkpoint).")
flags.DEFINE_integer("max_seq_length", 128, "Maximum total input sequence length after "
                     "WordPiece; longer inputs are truncated.")
flags.DEFINE_string("init_checkpoint", None, "The model: a Google bert_model.ckpt prefix or "
                    "folder, an HF safetensors folder or a TF Hub encoder SavedModel.")
flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on "
                    "(default: vocab.txt beside --init_checkpoint).")
flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text (uncased models).")
flags.DEFINE_integer("batch_size", 32, "Batch size for predictions.")
common_flags.define_tpu_flags()

# bert_tf addition.
flags.DEFINE_enum("pooling", None, ["mean", "cls"], "Write one sentence vector per line instead, "
                  "as a float32 .npy array [lines, hidden_size]: mean of the last layer over the "
                  "real tokens, or the [CLS] token's last-layer vector.")


def main(argv):
    del argv
    # Imported after flag parsing so --help is fast.
    from bert_tf.features import run_extract_features
    # One `error:` line: exit status 2 for a bad command line, 1 for bad data or model files.
    cli.run_or_exit(run_extract_features, FLAGS)


if __name__ == "__main__":
    cli.run_absl(main)
