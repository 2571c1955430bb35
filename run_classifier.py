"""BERT fine-tuning for sequence (pair) classification: the original run_classifier.py flags,
on TF 2 / Keras 3 and any tf.distribute strategy.

    python run_classifier.py --task_name=MRPC --do_train=true --do_eval=true \
      --data_dir=$GLUE_DIR/MRPC --vocab_file=$BERT_BASE_DIR/vocab.txt \
      --bert_config_file=$BERT_BASE_DIR/bert_config.json \
      --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 \
      --train_batch_size=32 --learning_rate=2e-5 --num_train_epochs=3.0 --output_dir=/tmp/mrpc_output/
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from bert_tf import cli  # noqa: E402
from bert_tf.training import flags as common_flags  # noqa: E402

FLAGS = flags.FLAGS

# The original flags, with their names and defaults.
flags.DEFINE_string("data_dir", None, "The input data dir. Should contain the .tsv files for the task.")
flags.DEFINE_string("bert_config_file", None, "The config json file of the pre-trained BERT model.")
flags.DEFINE_string("task_name", None, "The name of the task to train (MRPC, CoLA, ..., tsv, csv, imdb).")
flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")
flags.DEFINE_string("output_dir", None, "Where checkpoints, features and results are written.")
flags.DEFINE_string("init_checkpoint", None,
                    "Initial weights: a Google bert_model.ckpt prefix/folder or an HF safetensors folder.")
flags.DEFINE_bool("do_lower_case", True, "Whether to lower case the input text (uncased models).")
flags.DEFINE_integer("max_seq_length", 128, "Maximum total input sequence length after WordPiece.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_bool("do_predict", False, "Whether to run the model in inference mode on the test set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval.")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning rate warmup.")
common_flags.define_tpu_flags()
common_flags.define_runtime_flags()
common_flags.define_glue_flags()

# bert_tf additions for classification.
flags.DEFINE_enum("pooling", "cls", ["cls", "mean"],
                  "cls: the pooler's [CLS] vector (original); mean: mean of the real tokens' states.")
flags.DEFINE_float("classifier_dropout", 0.1, "Dropout on the pooled vector before the output "
                   "layer (the original's fixed 0.1; 0 makes runs comparable across strategies).")
flags.DEFINE_integer("eval_every_steps", 0, "Evaluate every N steps during training; keep the best "
                     "model in output_dir/best (0: only at the end).")
flags.DEFINE_string("text_a_column", None, "tsv/csv tasks: column (index or header name) of text a.")
flags.DEFINE_string("text_b_column", None, "tsv/csv tasks: column of text b (pair tasks).")
flags.DEFINE_string("label_column", None, "tsv/csv tasks: column of the label.")
flags.DEFINE_string("label_list", None, "tsv/csv tasks: comma-separated labels in id order "
                    "(default: sorted train labels).")
flags.DEFINE_bool("has_header", False, "tsv/csv tasks: files start with a header line.")
flags.DEFINE_string("class_weights", "none", "Training loss weight per class: none (original), "
                    "balanced (n / (k * n_c)), sqrt_balanced, or one comma-separated number per label.")
flags.DEFINE_bool("bucket_by_length", False, "Group training examples of similar length, sort "
                  "eval/predict rows by length (results still in input order), and cut every "
                  "batch to its longest sequence (same results, less padding work).")
flags.DEFINE_bool("use_tfds", False, "Read the GLUE task through tensorflow-datasets (prepared data).")


def main(argv):
    del argv
    # Imported after flag parsing so --help is fast.
    from bert_tf.training.fine_tune import run_classifier
    cli.run_or_exit(run_classifier, FLAGS)


if __name__ == "__main__":
    cli.run_absl(main)
