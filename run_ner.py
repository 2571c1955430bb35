"""BERT fine-tuning for token classification (named-entity recognition) on CoNLL files, in the
style of run_classifier.py, on TF 2 / Keras 3 and any tf.distribute strategy.

    python run_ner.py --data_dir=$CONLL_DIR --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_lower_case=False \
      --do_train=true --do_eval=true --max_seq_length=128 --train_batch_size=32 \
      --learning_rate=5e-5 --num_train_epochs=3.0 --output_dir=/tmp/ner_output/
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from bert_tf import cli  # noqa: E402
from bert_tf.training import flags as common_flags  # noqa: E402

FLAGS = flags.FLAGS

# run_classifier's flags, with their names and defaults.
flags.DEFINE_string("data_dir", None, "Folder with train.txt, dev.txt and test.txt (CoNLL columns).")
flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT model.")
flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")
flags.DEFINE_string("output_dir", None, "Where checkpoints, predictions and results are written.")
flags.DEFINE_string("init_checkpoint", None,
                    "Initial weights: a Google bert_model.ckpt prefix/folder or an HF safetensors folder.")
flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text (uncased models; "
                  "NER usually does better with a cased model and --do_lower_case=false).")
flags.DEFINE_integer("max_seq_length", 128, "WordPieces per window, [CLS] and [SEP] included; "
                     "longer sentences are split into overlapping windows.")
flags.DEFINE_bool("do_train", False, "Whether to run training on train.txt.")
flags.DEFINE_bool("do_eval", False, "Whether to evaluate on dev.txt.")
flags.DEFINE_bool("do_predict", False, "Whether to tag and score test.txt.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training (sentences).")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval (windows).")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict (windows).")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning rate warmup.")
common_flags.define_tpu_flags()
common_flags.define_runtime_flags()

# Token classification.
flags.DEFINE_string("label_list", None, "Comma-separated tags in id order, in --tag_scheme "
                    "(default: O, then the training file's tags sorted, with each type's B-/I-).")
flags.DEFINE_enum("tag_scheme", "IOB2", ["IOB1", "IOB2", "BIO", "BIOES", "IOBES", "iob1",
                                         "iob2", "bio", "bioes", "iobes"],
                  "How the files' tags are written; they are converted to IOB2.")
flags.DEFINE_integer("tag_column", -1, "The tag's column: -1 the last (default), 1 the second, ...")
flags.DEFINE_integer("window_stride", None, "At most how many WordPieces a window of a long "
                     "sentence starts after the previous one (default: half a window).")
flags.DEFINE_float("classifier_dropout", 0.1, "Dropout before the tagging layer.")


def main(argv):
    del argv
    # Imported after flag parsing so --help is fast.
    from bert_tf.ner.task import run_ner
    cli.run_or_exit(run_ner, FLAGS)


if __name__ == "__main__":
    cli.run_absl(main)
