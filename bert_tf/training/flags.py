"""absl flags shared by the entry scripts (run_classifier.py, run_pretraining.py).

The original scripts' flags keep their names and defaults; the flags below are bert_tf's
additions for distribution, precision and optimisation, defined once here.
"""

from absl import flags


def define_tpu_flags():
    """The original TPU flags; `--use_tpu` maps onto `--distribution_strategy=tpu`."""
    flags.DEFINE_bool("use_tpu", False, "Whether to use TPU (legacy; same as --distribution_strategy=tpu).")
    flags.DEFINE_string("tpu_name", None, "The Cloud TPU to use for training (name or grpc:// address).")
    flags.DEFINE_string("tpu_zone", None, "GCE zone where the Cloud TPU is located.")
    flags.DEFINE_string("gcp_project", None, "Project name for the Cloud TPU-enabled project.")
    flags.DEFINE_string("master", None, "[Optional] TensorFlow master URL.")
    flags.DEFINE_integer("num_tpu_cores", 8, "With --tpu_checks: the TPU cores --train_batch_size "
                         "must split over (a TPU run uses the cores it finds).")
    flags.DEFINE_integer("iterations_per_loop", 1000, "Steps run inside one tf.function call.")
    flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")


def define_runtime_flags():
    """Distribution, precision, optimizer and bookkeeping flags (bert_tf additions)."""
    flags.DEFINE_enum("distribution_strategy", None,
                      ["one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                      "tf.distribute strategy (default: one_device, or tpu with --use_tpu).")
    flags.DEFINE_integer("num_gpus", 0, "GPUs for --distribution_strategy=mirrored (0: all).")
    flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16", "float16"],
                      "Compute precision: bfloat16/float16 are mixed precision (float32 weights); "
                      "float16 adds dynamic loss scaling.")
    flags.DEFINE_bool("enable_xla", False, "Compile the training and prediction steps with XLA.")
    flags.DEFINE_bool("tpu_checks", False, "Run on CPU/GPU with TPU's constraints: every input "
                      "shape static and the training and prediction steps compiled with XLA "
                      "(docs/tpu.md). A TPU run always has them.")
    flags.DEFINE_enum("optimizer", "adamw_google", ["adamw_google", "adamw", "lamb"],
                      "adamw_google: the original's exact update; adamw: Keras AdamW; lamb: Keras Lamb.")
    flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (LayerNorm and biases excluded).")
    flags.DEFINE_float("clip_norm", 1.0, "Clip the gradient to this global norm (0: no clipping).")
    flags.DEFINE_integer("gradient_accumulation_steps", 1,
                         "Split each batch into this many micro-batches (same update, less memory).")
    flags.DEFINE_integer("keep_checkpoint_max", 5, "Checkpoints kept in output_dir.")
    flags.DEFINE_integer("log_every_steps", 10, "Progress line and TensorBoard interval.")
    flags.DEFINE_integer("seed", 12345, "Random seed (initialisation, dropout, shuffling).")
    flags.DEFINE_bool("deterministic", False, "Enable TF op determinism (reproducible runs; slower).")
    flags.DEFINE_string("export_dir", None, "After training, export the model here as TF Hub "
                        "SavedModels (encoder/, preprocessor/, and classifier/ for "
                        "run_classifier); see `python -m bert_tf.export`.")
    flags.DEFINE_bool("export_tflite", False, "With --export_dir (run_classifier): also write "
                      "classifier.tflite and classifier_int8.tflite.")


def define_glue_flags():
    """GLUE additions of run_classifier.py (docs/glue.md)."""
    flags.DEFINE_string("diagnostic_file", None, "MNLI with --do_predict: GLUE's diagnostic.tsv, "
                        "predicted into AX.tsv (default: diagnostic.tsv in --data_dir or in "
                        "GLUE's diagnostic/ folder beside it, when present).")
