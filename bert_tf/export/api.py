"""`export_model`: everything a trained model deploys as, from one path.

PATH may be anything `from_pretrained` reads (Google folder, HF safetensors folder, TF Hub
encoder SavedModel) or a run_classifier / run_squad / run_ner / run_pretraining `--output_dir`
(its `final_model/` or `pretrained_model/` is used). Writes into OUTPUT:
  encoder/        TF Hub encoder SavedModel (with `.mlm` when the model has its MLM head)
  preprocessor/   TF Hub preprocessor SavedModel (strings -> encoder inputs)
  classifier/     raw-string classifier SavedModel (only for a fine-tuned classifier)
  question_answerer/   question + context -> answer SavedModel (only for a SQuAD model: a
                  folder with squad_info.json)
  tagger/         raw sentences -> word tags and entities SavedModel (only for a run_ner
                  model: a folder with ner_info.json)
  classifier.tflite, classifier_int8.tflite   (with tflite=True, classifiers only)
  export_report.json   sizes, and the TFLite agreement / accuracy figures
Each part is written into a staging folder inside OUTPUT and moved into place when complete,
so an interrupted export never leaves a part that looks whole but is not. PATH and OUTPUT may
be local or any `tf.io.gfile` URL (gs://). Locally a part moves as one folder rename (atomic).
Object stores have no folder rename, so there a part moves object by object with its
`saved_model.pb` last: a SavedModel without it does not load, so a reader never loads a
partly moved part.
"""

import json
import os
import tempfile
import time
import uuid
from typing import Optional

import numpy as np
import tensorflow as tf

from bert_tf.checkpoints import CheckpointError, load_pretrained
from bert_tf.checkpoints.classifier_info import ClassifierInfo, read_classifier_info
from bert_tf.checkpoints.ner_info import NerInfo, read_ner_info
from bert_tf.checkpoints.pretrained import model_folder, vocab_file_of
from bert_tf.checkpoints.squad_info import SquadInfo, read_squad_info
from bert_tf.modeling import (BertClassifier, BertPretrainer, BertQuestionAnswerer,
                              BertTokenClassifier)
from bert_tf.modeling.config import write_text_atomic
from bert_tf.tokenization import FullTokenizer, convert_single_example, infer_do_lower_case

RUN_SUBFOLDERS = ("final_model", "pretrained_model")
# Used to check the TFLite models against the SavedModel when no eval data is given.
PROBE_SENTENCES = [
    "The medicine worked well and I had no side effects at all.",
    "Terrible headaches every day; I stopped after a week.",
    "It is okay, nothing special, but it helps me sleep.",
    "I was skeptical at first, but three months later my skin is clear!",
]


class ExportError(ValueError):
    """A model path or option export cannot use; the message names it."""


def resolve_model_path(path: str) -> str:
    """A run's output_dir -> its final_model/ (or pretrained_model/); other paths unchanged."""
    path = os.fspath(path)
    gfile = tf.io.gfile
    if not gfile.exists(path) and not gfile.exists(path + ".index"):
        raise ExportError(f"--model: {path} does not exist")
    for name in RUN_SUBFOLDERS:
        candidate = os.path.join(path, name)
        if gfile.isdir(candidate) and not gfile.exists(os.path.join(path, "bert_config.json")):
            return candidate
    return path


def _load(path: str):
    """(model, ClassifierInfo, SquadInfo, NerInfo or None): a classifier, a question
    answerer, a tagger, a pretrainer with MLM head, or an encoder."""
    info = read_classifier_info(model_folder(path))
    if info is not None:
        model = load_pretrained(path, BertClassifier, num_labels=info.num_labels,
                                pooling=info.pooling, required_prefixes=("bert/", "output_"))
        return model, info
    squad = read_squad_info(model_folder(path))
    if squad is not None:
        model = load_pretrained(path, BertQuestionAnswerer,
                                required_prefixes=("bert/", "cls/squad/"))
        return model, squad
    ner = read_ner_info(model_folder(path))
    if ner is not None:
        model = load_pretrained(path, BertTokenClassifier, num_labels=ner.num_labels,
                                required_prefixes=("bert/", "output_"))
        return model, ner
    model = load_pretrained(path, BertPretrainer)
    if any(n.startswith("cls/predictions/") for n in model.load_report.missing):
        return model.encoder, None  # no trained MLM head: export the encoder alone
    return model, None


def _features(examples, info: ClassifierInfo, tokenizer):
    label_map = None if info.labels is None else {label: i for i, label in enumerate(info.labels)}
    rows = [convert_single_example(e, label_map, info.max_seq_length, tokenizer) for e in examples]
    return ({"input_word_ids": np.array([r.input_ids for r in rows], np.int32),
             "input_mask": np.array([r.input_mask for r in rows], np.int32),
             "input_type_ids": np.array([r.segment_ids for r in rows], np.int32)},
            np.array([r.label_id for r in rows]))


def _keras_probabilities(model, features, batch_size=32):
    out = []
    n = len(features["input_word_ids"])
    for start in range(0, n, batch_size):
        batch = {k: v[start:start + batch_size] for k, v in features.items()}
        out.append(tf.nn.softmax(model(batch, training=False), axis=-1).numpy())
    return np.concatenate(out, axis=0)


def _tflite_report(model, info, tokenizer, staging, eval_examples, log):
    from bert_tf.export.tflite import convert_classifier, run_tflite
    from bert_tf.tokenization import InputExample

    has_labels = eval_examples is not None
    examples = eval_examples or [
        InputExample(f"probe-{i}", s, s if info.num_segments == 2 else None, None)
        for i, s in enumerate(PROBE_SENTENCES)]
    features, labels = _features(examples, info, tokenizer)
    reference = _keras_probabilities(model, features)
    report = {"examples": len(examples)}
    if has_labels:
        report["keras_accuracy"] = float(np.mean(reference.argmax(-1) == labels))
    for name, quantize in (("classifier.tflite", False), ("classifier_int8.tflite", True)):
        started = time.time()
        flat = convert_classifier(model, info.max_seq_length, quantize=quantize)
        with tf.io.gfile.GFile(os.path.join(staging, name), "wb") as f:
            f.write(flat)
        probs = run_tflite(flat, features)
        entry = {"bytes": len(flat), "max_abs_diff_vs_keras": float(np.max(np.abs(probs - reference))),
                 "same_argmax": float(np.mean(probs.argmax(-1) == reference.argmax(-1))),
                 "seconds": round(time.time() - started, 1)}
        if has_labels:
            entry["accuracy"] = float(np.mean(probs.argmax(-1) == labels))
            entry["accuracy_change"] = entry["accuracy"] - report["keras_accuracy"]
        report[name] = entry
        log(f"  {name}: {len(flat) / 2**20:.1f} MiB, max |p - p_keras| = "
            f"{entry['max_abs_diff_vs_keras']:.2e}"
            + (f", accuracy {entry['accuracy']:.4f} ({entry['accuracy_change']:+.4f})"
               if has_labels else ""))
    return report


def _files_under(root):
    """Paths relative to `root` of the files below it (gs:// lists folders with a '/')."""
    found = []
    for folder, _, files in tf.io.gfile.walk(root):
        inner = folder[len(root):].strip("/")
        found += [f"{inner}/{name}" if inner else name for name in files]
    return found


def _bytes(path):
    if not tf.io.gfile.isdir(path):
        return tf.io.gfile.stat(path).length
    return sum(tf.io.gfile.stat(os.path.join(path, f)).length for f in _files_under(path))


def _move_into_place(staging, output, names):
    gfile = tf.io.gfile
    for name in names:
        src, dst = os.path.join(staging, name), os.path.join(output, name)
        if not gfile.exists(src):
            continue
        if gfile.isdir(dst):
            old_graph = os.path.join(dst, "saved_model.pb")
            if gfile.exists(old_graph):
                gfile.remove(old_graph)  # the old part stops loading before its files go
            gfile.rmtree(dst)
        elif gfile.exists(dst):
            gfile.remove(dst)
        if "://" not in output or not gfile.isdir(src):
            gfile.rename(src, dst, overwrite=True)
            continue
        for relative in sorted(_files_under(src), key=lambda f: f == "saved_model.pb"):
            target = os.path.join(dst, relative)
            gfile.makedirs(os.path.dirname(target))
            gfile.rename(os.path.join(src, relative), target, overwrite=True)


def _make_staging(output_dir):
    if "://" not in output_dir:
        os.makedirs(output_dir, exist_ok=True)
        return tempfile.mkdtemp(dir=output_dir, prefix=".staging-")
    staging = os.path.join(output_dir, f".staging-{uuid.uuid4().hex[:12]}")
    tf.io.gfile.makedirs(staging)
    return staging


def _remove(staging):
    try:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
    except tf.errors.OpError:
        pass  # never hides the export's own error; a staging folder is never read as a part


def export_model(model_path: str, output_dir: str, tflite: bool = False,
                 do_lower_case: Optional[bool] = None, seq_length: Optional[int] = None,
                 eval_examples=None, log=None) -> dict:
    """Exports the model at `model_path` into `output_dir`; returns the report (also saved).

    Args:
        model_path: see the module docstring.
        output_dir: created if needed; parts already there are replaced.
        tflite: also write the TFLite classifier (float32 and int8) and compare it.
        do_lower_case: tokenizer casing (default: the classifier's, question answerer's or
            tagger's, else inferred from the vocab folder name, else True).
        seq_length: the preprocessor's default packed length (default: the classifier's,
            question answerer's or tagger's max_seq_length, else 128).
        eval_examples: labelled `InputExample`s on which to report TFLite accuracy.
    """
    from bert_tf.export.classifier import save_classifier
    from bert_tf.export.encoder import save_encoder
    from bert_tf.export.preprocessor import save_preprocessor
    from bert_tf.export.question_answerer import save_question_answerer
    from bert_tf.export.tagger import label_codes, save_tagger

    log = log or (lambda text: print(text, flush=True))
    path = resolve_model_path(model_path)
    try:
        model, info = _load(path)
    except CheckpointError as e:
        raise ExportError(f"--model: {e}") from None
    vocab = vocab_file_of(path)
    if vocab is None:
        raise ExportError(f"--model: {path} has no vocab.txt; the preprocessor needs one")
    if do_lower_case is None:
        do_lower_case = info.do_lower_case if info else infer_do_lower_case(vocab)
        do_lower_case = True if do_lower_case is None else do_lower_case
    if info is not None:
        info.do_lower_case = bool(do_lower_case)
    classifier = isinstance(info, ClassifierInfo)
    if tflite and not classifier:
        raise ExportError("--tflite: only a fine-tuned classifier (a run_classifier output) "
                          "has a TFLite export")
    config = model.config
    if isinstance(info, NerInfo):
        try:
            label_codes(info.labels)
        except ValueError as e:
            raise ExportError(f"--model: {path}: ner_info.json: {e}") from None
    if isinstance(info, (SquadInfo, NerInfo)) and \
            info.max_seq_length > config.max_position_embeddings:
        name = "squad_info.json" if isinstance(info, SquadInfo) else "ner_info.json"
        raise ExportError(f"--model: {path}: {name}'s max_seq_length "
                          f"{info.max_seq_length} is longer than the model's "
                          f"max_position_embeddings={config.max_position_embeddings}")
    if seq_length and seq_length > config.max_position_embeddings:
        raise ExportError(f"--seq_length={seq_length} is longer than the model's "
                          f"max_position_embeddings={config.max_position_embeddings}")
    seq_length = seq_length or (info.max_seq_length if info else
                                min(128, config.max_position_embeddings))
    output_dir = os.fspath(output_dir)
    staging = _make_staging(output_dir)
    kind = ("classifier" if classifier else "question_answerer" if isinstance(info, SquadInfo)
            else "tagger" if isinstance(info, NerInfo) else
            "pretrainer" if isinstance(model, BertPretrainer) else "encoder")
    report = {"model": path if "://" in path else os.path.abspath(path), "kind": kind}
    try:
        encoder_source = model.encoder if info is not None else model
        save_encoder(encoder_source, os.path.join(staging, "encoder"), vocab, do_lower_case)
        log(f"encoder: {'with .mlm' if isinstance(model, BertPretrainer) else 'no MLM head'}")
        save_preprocessor(vocab, os.path.join(staging, "preprocessor"), do_lower_case,
                          seq_length, config.max_position_embeddings)
        names = ["encoder", "preprocessor"]
        if isinstance(info, SquadInfo):
            save_question_answerer(model, info, os.path.join(staging, "question_answerer"),
                                   vocab)
            names.append("question_answerer")
        if isinstance(info, NerInfo):
            save_tagger(model, info, os.path.join(staging, "tagger"), vocab)
            names.append("tagger")
        if classifier:
            save_classifier(model, info, os.path.join(staging, "classifier"), vocab)
            names.append("classifier")
            if tflite:
                tokenizer = FullTokenizer(vocab, do_lower_case=do_lower_case)
                report["tflite"] = _tflite_report(model, info, tokenizer, staging, eval_examples,
                                                  log)
                names += ["classifier.tflite", "classifier_int8.tflite"]
        report["bytes"] = {n: _bytes(os.path.join(staging, n)) for n in names}
        _move_into_place(staging, output_dir, names)
    finally:
        _remove(staging)
    write_text_atomic(os.path.join(output_dir, "export_report.json"),
                      json.dumps(report, indent=2, sort_keys=True) + "\n")
    for name in report["bytes"]:
        log(f"wrote {os.path.join(output_dir, name)} ({report['bytes'][name] / 2**20:.1f} MiB)")
    return report
