"""BERT pretraining (masked LM + next sentence prediction): the original run_pretraining.py
flags, on TF 2 / Keras 3 and any tf.distribute strategy.

    python run_pretraining.py --input_file=/tmp/tf_examples.tfrecord \
      --output_dir=/tmp/pretraining_output --do_train=True --do_eval=True \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt \
      --train_batch_size=32 --max_seq_length=128 --max_predictions_per_seq=20 \
      --num_train_steps=20 --num_warmup_steps=10 --learning_rate=2e-5

A rerun with the same --output_dir resumes from its newest checkpoint. After training,
output_dir/pretrained_model/ is a Google folder (bert_config.json, vocab.txt, bert_model.ckpt.*
incl. cls/*) for run_classifier's --init_checkpoint or `python -m bert_tf.fill_mask --model`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from bert_tf import cli  # noqa: E402
from bert_tf.training import flags as common_flags  # noqa: E402

FLAGS = flags.FLAGS

# The original flags, with their names and defaults.
flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT model "
                    "(default: the one beside --init_checkpoint).")
flags.DEFINE_string("input_file", None, "Input TF example files (can be a glob or comma separated).")
flags.DEFINE_string("output_dir", None, "The output directory where the model checkpoints will "
                    "be written.")
flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint: a Google bert_model.ckpt "
                    "prefix/folder or an HF safetensors folder (cls/* heads used when present).")
flags.DEFINE_integer("max_seq_length", 128, "The maximum total input sequence length after "
                     "WordPiece tokenization; must match the data.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per "
                     "sequence; must match the data.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval steps.")
common_flags.define_tpu_flags()
common_flags.define_runtime_flags()

# bert_tf additions for pretraining.
flags.DEFINE_string("vocab_file", None, "vocab.txt of the model (default: beside --init_checkpoint "
                    "or --bert_config_file); copied into pretrained_model/ and used by "
                    "--dynamic_masking.")
flags.DEFINE_string("eval_input_file", None, "TF example files to evaluate on (glob or comma "
                    "separated; default: --input_file, as the original, which evaluates on its "
                    "training data).")
flags.DEFINE_bool("dynamic_masking", False, "Draw new masked positions each time a sequence is "
                  "read (RoBERTa-style) instead of the masks stored in the records.")
flags.DEFINE_bool("no_nsp", False, "Train on the masked-LM loss only (next-sentence loss weight 0).")


def main(argv):
    del argv
    # Imported after flag parsing so --help is fast.
    from bert_tf.training.pretrain import run_pretraining
    cli.run_or_exit(run_pretraining, FLAGS)


if __name__ == "__main__":
    cli.run_absl(main)
