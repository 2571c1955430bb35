"""python -m bert_tf.export --model PATH --output DIR [--tflite] [--task_name T --data_dir D]

PATH: a Google / HF safetensors / TF Hub model folder, or a run_classifier / run_squad /
run_ner / run_pretraining output_dir (a SQuAD model also gets question_answerer/, a run_ner
model tagger/). With --task_name and --data_dir, the TFLite accuracy is measured on that task's
dev examples (e.g. --task_name=tsv --data_dir=data/drugreview for the demo).
"""

import argparse
import sys

from bert_tf import cli


def parse_args(argv):
    parser = cli.ArgumentParser(prog="python -m bert_tf.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model folder or run output_dir")
    parser.add_argument("--output", required=True, help="export folder")
    parser.add_argument("--tflite", action="store_true",
                        help="also write classifier.tflite and classifier_int8.tflite")
    parser.add_argument("--seq_length", type=cli.bounded(int, 3), default=None,
                        help="preprocessor's packed length (default: the classifier's)")
    case = parser.add_mutually_exclusive_group()
    case.add_argument("--do_lower_case", dest="do_lower_case", action="store_true", default=None)
    case.add_argument("--nodo_lower_case", dest="do_lower_case", action="store_false")
    parser.add_argument("--task_name", default=None,
                        help="processor whose dev examples measure TFLite accuracy")
    parser.add_argument("--data_dir", default=None, help="data folder for --task_name")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if bool(args.task_name) != bool(args.data_dir):
        cli.fail("--task_name and --data_dir go together")
    from bert_tf.errors import USER_ERRORS
    from bert_tf.export.api import ExportError, export_model
    try:
        examples = None
        if args.task_name:
            from bert_tf.data.processors import get_processor
            examples = get_processor(args.task_name).get_dev_examples(args.data_dir)
        export_model(args.model, args.output, tflite=args.tflite, do_lower_case=args.do_lower_case,
                     seq_length=args.seq_length, eval_examples=examples)
    except (ExportError, *USER_ERRORS) as e:
        cli.fail(str(e), cli.exit_status(e))
    except Exception as e:  # a full disk or an unreachable bucket: one line; bugs keep their traceback
        line = cli.storage_failure(e)
        if line is None:
            raise
        cli.fail(line, cli.DATA)


if __name__ == "__main__":
    main()
