"""Knowledge distillation: a fine-tuned classifier (run_classifier's final_model/, or an export
of it) teaches a smaller, faster one, on run_classifier's tasks, data formats and flags.

    python run_distillation.py --teacher_model=output/drugreview --student_layers=3 \
      --task_name=tsv --data_dir=data/drugreview --has_header --text_a_column=review \
      --label_column=label --label_list=negative,neutral,positive \
      --do_train --do_eval --do_predict --output_dir=output/drugreview_student

docs/distillation.md describes every flag and output.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from bert_tf import cli  # noqa: E402
from bert_tf.training import flags as common_flags  # noqa: E402

FLAGS = flags.FLAGS

# The teacher, the student and the loss.
flags.DEFINE_string("teacher_model", None, "The fine-tuned classifier to learn from: "
                    "run_classifier's final_model/ (or its --output_dir), or an export of it.")
flags.DEFINE_integer("student_layers", None, "Student = the teacher cut to this many layers "
                     "(its embeddings, kept layers, pooler and output layer).")
flags.DEFINE_string("student_layer_map", None, "With --student_layers: the teacher layers kept, "
                    "0-based and comma-separated (default: evenly spaced from the bottom layer "
                    "to the top one, e.g. 0,3,5 for 6 -> 3).")
flags.DEFINE_string("student_config", None, "Student = a model of this bert_config.json "
                    "(random weights unless --student_init gives them).")
flags.DEFINE_string("student_init", None, "Student weights (and config, unless "
                    "--student_config): any model --init_checkpoint takes, e.g. a small BERT.")
flags.DEFINE_float("temperature", 2.0, "Softmax temperature T of the soft targets.")
flags.DEFINE_float("alpha", 0.9, "Weight of the soft (teacher) loss; 1 - alpha weighs the "
                   "cross-entropy with the true labels.")
flags.DEFINE_float("intermediate_loss_weight", 0.0, "Weight of hidden-state and attention "
                   "transfer between mapped layers (0: off).")
flags.DEFINE_string("unlabeled_file", None, "Extra training text, one per line (pair tasks: "
                    "two tab-separated texts); the teacher labels it.")

# run_classifier's flags, with the same names and defaults.
flags.DEFINE_string("data_dir", None, "The input data dir. Should contain the .tsv files for the task.")
flags.DEFINE_string("task_name", None, "The name of the task to train (MRPC, CoLA, ..., tsv, csv, imdb).")
flags.DEFINE_string("output_dir", None, "Where checkpoints, features and results are written.")
flags.DEFINE_bool("do_lower_case", None, "Lower-case the input text (default: as the teacher).")
flags.DEFINE_integer("max_seq_length", None, "Maximum total input sequence length after "
                     "WordPiece (default: the teacher's).")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_bool("do_predict", False, "Whether to run the model in inference mode on the test set.")
flags.DEFINE_integer("train_batch_size", 32, "Total batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total batch size for eval (and the teacher's pass).")
flags.DEFINE_integer("predict_batch_size", 8, "Total batch size for predict.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_float("num_train_epochs", 3.0, "Total number of training epochs to perform.")
flags.DEFINE_float("warmup_proportion", 0.1, "Proportion of training for linear learning rate warmup.")
common_flags.define_tpu_flags()
common_flags.define_runtime_flags()
common_flags.define_glue_flags()
flags.DEFINE_enum("pooling", None, ["cls", "mean"], "cls: the pooler's [CLS] vector; mean: mean "
                  "of the real tokens' states (default: as the teacher).")
flags.DEFINE_float("classifier_dropout", 0.1, "Dropout on the pooled vector before the output layer.")
flags.DEFINE_integer("eval_every_steps", 0, "Evaluate every N steps during training; keep the best "
                     "model in output_dir/best (0: only at the end).")
flags.DEFINE_string("text_a_column", None, "tsv/csv tasks: column (index or header name) of text a.")
flags.DEFINE_string("text_b_column", None, "tsv/csv tasks: column of text b (pair tasks).")
flags.DEFINE_string("label_column", None, "tsv/csv tasks: column of the label.")
flags.DEFINE_string("label_list", None, "tsv/csv tasks: comma-separated labels in id order "
                    "(default: sorted train labels).")
flags.DEFINE_bool("has_header", False, "tsv/csv tasks: files start with a header line.")
flags.DEFINE_string("class_weights", "none", "Weight per class of the cross-entropy term: none, "
                    "balanced, sqrt_balanced, or one comma-separated number per label.")
flags.DEFINE_bool("bucket_by_length", False, "Group training examples of similar length, sort "
                  "eval/predict rows by length, and cut every batch to its longest sequence.")
flags.DEFINE_bool("use_tfds", False, "Read the GLUE task through tensorflow-datasets (prepared data).")


def main(argv):
    del argv
    # Imported after flag parsing so --help is fast.
    from bert_tf.distillation.task import run_distillation
    cli.run_or_exit(run_distillation, FLAGS)


if __name__ == "__main__":
    cli.run_absl(main)
