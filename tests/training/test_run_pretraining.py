"""run_pretraining.py end to end: continued pretraining of the real MiniLM (converted to Google
format, heads fresh) on the drug-review corpus, its output files, resume, fill-mask on the result,
and one-line errors for bad records.

The MiniLM run is one subprocess shared by the module (about 4 CPU-minutes): seq 32, batch 8,
200 steps of bias-corrected AdamW at 5e-4, trained on the 600 training reviews and evaluated on
records made from the 379 held-out test reviews (--eval_input_file). Measured here: held-out
masked-LM accuracy 0 -> 0.154 and loss 11.0 -> 5.7, where always predicting the most frequent
masked token scores 0.048; at 3x that, the model uses context, not only token frequencies.
The "before" figures come from evaluating the converted model in this process on the same
eval batches (heads random, as the run starts).
"""

import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from training.conftest import REPO_ROOT, SCRIPT_TIMEOUT_S, ScriptRun, script_env

SCRIPT = REPO_ROOT / "run_pretraining.py"
SEQ, PRED, BATCH, STEPS, EVAL_BATCH, EVAL_STEPS = 32, 5, 8, 200, 64, 5
EVAL_KEYS = ["global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
             "next_sentence_accuracy", "next_sentence_loss"]


def run_pretraining_script(args, timeout=SCRIPT_TIMEOUT_S, env=None) -> ScriptRun:
    started = time.time()
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=str(REPO_ROOT),
                          env=env or script_env(), text=True, capture_output=True,
                          timeout=timeout)
    output_dir = next(Path(a.split("=", 1)[1]) for a in args if a.startswith("--output_dir="))
    return ScriptRun(list(args), proc.returncode, proc.stdout, proc.stderr, output_dir,
                     time.time() - started)


def pretraining_args(model_dir, records, output_dir, **overrides):
    flags = dict(input_file=records, output_dir=output_dir,
                 init_checkpoint=f"{model_dir}/bert_model.ckpt", do_train="true", do_eval="true",
                 max_seq_length=SEQ, max_predictions_per_seq=PRED, train_batch_size=BATCH,
                 eval_batch_size=EVAL_BATCH, learning_rate=5e-4, num_train_steps=STEPS,
                 num_warmup_steps=20, save_checkpoints_steps=100, max_eval_steps=EVAL_STEPS,
                 optimizer="adamw")
    flags.update(overrides)
    return [f"--{k}={v}" for k, v in flags.items() if v is not None]


def make_records(text_file, vocab_file, output, seq=SEQ, pred=PRED):
    from bert_tf.data.pretraining import create_pretraining_data
    from bert_tf.data.pretraining_instances import PretrainingParams

    params = PretrainingParams(max_seq_length=seq, max_predictions_per_seq=pred, dupe_factor=1)
    create_pretraining_data([str(text_file)], [str(output)], str(vocab_file), True, params,
                            num_workers=1)
    return str(output)


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory, minilm_dir, drugreview_zip):
    """(converted MiniLM folder, records, eval before training, the ScriptRun)."""
    from bert_tf.convert import convert_hf_to_google
    from bert_tf.data.pretraining_dataset import pretraining_dataset
    from bert_tf.data.pretraining_text import drugreview_corpus
    from bert_tf.modeling.pretrainer import BertPretrainer
    from bert_tf.training.pretrain import evaluate_pretraining

    root = tmp_path_factory.mktemp("pretraining")
    model_dir = root / "minilm_google"
    convert_hf_to_google(str(minilm_dir), str(model_dir))
    drugreview_corpus(str(root / "corpus.txt"), zip_path=str(drugreview_zip))
    drugreview_corpus(str(root / "heldout.txt"), splits=("test",), zip_path=str(drugreview_zip))
    records = make_records(root / "corpus.txt", model_dir / "vocab.txt", root / "train.tfrecord")
    heldout = make_records(root / "heldout.txt", model_dir / "vocab.txt", root / "eval.tfrecord")
    before = evaluate_pretraining(
        BertPretrainer.from_pretrained(str(model_dir)),
        pretraining_dataset(heldout, SEQ, PRED, EVAL_BATCH, is_training=False), EVAL_STEPS)
    # About 2 minutes on 2 idle cores; the limit leaves room for a busy machine.
    run = run_pretraining_script(pretraining_args(model_dir, records, root / "out",
                                                  eval_input_file=heldout), timeout=900)
    assert run.returncode == 0, run.describe()
    return types.SimpleNamespace(model_dir=model_dir, records=records, heldout=heldout,
                                 before=before, run=run)


def most_frequent_token_accuracy(train_records, eval_records):
    """Held-out accuracy of always predicting the training set's most frequent masked token."""
    from bert_tf.data.pretraining_dataset import pretraining_dataset

    def masked(records, batches=None):
        ds = pretraining_dataset(records, SEQ, PRED, EVAL_BATCH, is_training=False)
        ids, weights = [], []
        for i, (_, labels, _) in enumerate(ds):
            if batches is not None and i >= batches:
                break
            ids.append(labels["masked_lm_ids"].numpy().ravel())
            weights.append(labels["masked_lm_weights"].numpy().ravel())
        return np.concatenate(ids), np.concatenate(weights)

    ids, weights = masked(train_records)
    top = np.bincount(ids[weights > 0]).argmax()
    ids, weights = masked(eval_records, EVAL_STEPS)  # the batches the run evaluates on
    return float(np.sum((ids == top) * weights) / np.sum(weights))


def _train_losses(stdout):
    return [float(line.split("loss ")[1].split()[0]) for line in stdout.splitlines()
            if line.startswith("step ")]


def test_continued_pretraining_learns_the_masked_lm(minilm_run):
    after = minilm_run.run.eval_results()
    before = minilm_run.before
    print(f"before: {before}\nafter: {after}\nrun: {minilm_run.run.seconds:.0f} s")
    baseline = most_frequent_token_accuracy(minilm_run.records, minilm_run.heldout)
    print(f"most-frequent-token accuracy on the held-out batches: {baseline:.3f}")
    # Random heads predict ~nothing. Trained ones must beat token frequencies clearly on text
    # they never saw: that takes context.
    assert before["masked_lm_accuracy"] < 0.02
    assert after["masked_lm_accuracy"] > max(2 * baseline, before["masked_lm_accuracy"] + 0.05)
    assert after["masked_lm_loss"] < before["masked_lm_loss"] - 3.0
    losses = _train_losses(minilm_run.run.stdout)
    assert len(losses) == STEPS // 10 and losses[-1] < losses[0] - 0.5, losses


def test_run_says_the_heads_were_fresh(minilm_run):
    out = minilm_run.run.stdout
    assert "loaded 103 variables" in out
    assert "Pretraining heads (cls/*): freshly initialised (7 variables" in out
    assert "cls/predictions/output_bias" in out


def test_eval_results_have_the_original_keys(minilm_run):
    text = (minilm_run.run.output_dir / "eval_results.txt").read_text()
    assert [line.split(" = ")[0] for line in text.splitlines()] == EVAL_KEYS
    results = minilm_run.run.eval_results()
    assert results["global_step"] == STEPS
    for key in ("masked_lm_accuracy", "next_sentence_accuracy"):
        assert 0.0 <= results[key] <= 1.0
    # The eval loss is the mean of per-batch training losses: near the sum of the two means.
    total = results["masked_lm_loss"] + results["next_sentence_loss"]
    assert abs(results["loss"] - total) < 0.1 * total


def test_pretrained_model_folder_is_a_complete_google_folder(minilm_run):
    from bert_tf.checkpoints import GoogleCheckpointReader
    from bert_tf.modeling import BertClassifier
    from bert_tf.modeling.pretrainer import BertPretrainer

    folder = minilm_run.run.output_dir / "pretrained_model"
    names = set(GoogleCheckpointReader(str(folder)).names())
    assert {"cls/predictions/output_bias", "cls/seq_relationship/output_weights",
            "bert/encoder/layer_5/output/dense/kernel"} <= names
    model = BertPretrainer.from_pretrained(str(folder))
    assert model.load_report.missing == []
    assert (folder / "vocab.txt").read_bytes() == (minilm_run.model_dir / "vocab.txt").read_bytes()
    # What run_classifier's --init_checkpoint does with it: the encoder loads, only the
    # classifier's own head is new.
    classifier = BertClassifier.from_pretrained(str(folder), num_labels=2)
    assert classifier.load_report.missing
    assert all(not n.startswith("bert/") for n in classifier.load_report.missing)
    # Training moved the encoder too (not only the heads).
    trained = GoogleCheckpointReader(str(folder)).get("bert/encoder/layer_0/output/dense/kernel")
    start = GoogleCheckpointReader(str(minilm_run.model_dir)).get(
        "bert/encoder/layer_0/output/dense/kernel")
    assert not np.allclose(trained, start)


def test_rerun_with_more_steps_resumes(minilm_run, tmp_path):
    output_dir = tmp_path / "out"
    shutil.copytree(minilm_run.run.output_dir, output_dir)
    # The same command with more steps (and a shorter eval, to save test time).
    run = run_pretraining_script(pretraining_args(
        minilm_run.model_dir, minilm_run.records, output_dir, num_train_steps=STEPS + 4,
        max_eval_steps=1))
    assert run.returncode == 0, run.describe()
    assert f"Resuming from {output_dir}/model.ckpt-{STEPS} (global step {STEPS})" in run.stdout
    assert "freshly initialised" not in run.stdout
    assert f"step {STEPS + 4}/{STEPS + 4}" in run.stdout
    assert run.eval_results()["global_step"] == STEPS + 4


def test_fill_mask_on_the_pretrained_model(minilm_run):
    from bert_tf.fill_mask import Predictor

    predictor = Predictor.load(str(minilm_run.run.output_dir / "pretrained_model"))
    assert predictor.warning() is None
    masks = predictor.fill_mask("i took this [MASK] for my back pain and it [MASK] .", top_k=5)
    assert len(masks) == 2
    for candidates in masks:
        assert len(candidates) == 5
        assert all(token in predictor.tokenizer.vocab for token, _ in candidates)
        probs = [p for _, p in candidates]
        assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) <= 1.0 + 1e-6
        assert probs == sorted(probs, reverse=True)
    p_next = predictor.next_sentence("i took it daily .", "it helped with the pain .")
    assert 0.0 <= p_next <= 1.0


def test_fill_mask_command_line_on_the_pretrained_model(minilm_run):
    proc = subprocess.run(
        [sys.executable, "-m", "bert_tf.fill_mask",
         f"--model={minilm_run.run.output_dir / 'pretrained_model'}",
         "--text=the [MASK] helped my pain .", "--top_k=3",
         "--text_a=i took it daily .", "--text_b=it helped ."],
        cwd=str(REPO_ROOT), env=script_env(), text=True, capture_output=True,
        timeout=SCRIPT_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "meaningless" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("[MASK] 1: ") and len(lines[0].split()) == 2 + 2 * 3
    assert lines[1].startswith("P(is next) = ")
    assert 0.0 <= float(lines[1].split(" = ")[1]) <= 1.0


# ---- a tiny model: other optimizers and options, bad inputs ----------------------------------

@pytest.fixture
def tiny_pretraining(make_google_folder, tiny_config_dict, tmp_path):
    """A random tiny Google folder and pretraining records in its vocabulary."""
    folder, _ = make_google_folder(tiny_config_dict, with_pretraining_heads=False, name="tiny")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(tiny_config_dict["vocab_size"] - 5)]
    documents = ["\n".join(" ".join(rng.choice(words, 6)) for _ in range(4))
                 for _ in range(12)]
    (tmp_path / "tiny.txt").write_text("\n\n".join(documents) + "\n")
    records = make_records(tmp_path / "tiny.txt", folder / "vocab.txt", tmp_path / "tiny.tfrecord",
                           seq=16, pred=3)
    return folder, records


def test_lamb_dynamic_masking_and_no_nsp_run(tiny_pretraining, tmp_path):
    from bert_tf.modeling.pretrainer import BertPretrainer
    from bert_tf.training.pretrain import run_pretraining

    folder, records = tiny_pretraining
    p = types.SimpleNamespace(
        input_file=records, output_dir=str(tmp_path / "out"), init_checkpoint=str(folder),
        bert_config_file=None, vocab_file=None, max_seq_length=16, max_predictions_per_seq=3,
        do_train=True, do_eval=True, train_batch_size=4, eval_batch_size=4, learning_rate=1e-3,
        num_train_steps=4, num_warmup_steps=1, max_eval_steps=2, iterations_per_loop=1000,
        save_checkpoints_steps=1000, optimizer="lamb", dynamic_masking=True, no_nsp=True,
        log_every_steps=2, seed=1, export_dir=str(tmp_path / "export"))
    lines = []
    results = run_pretraining(p, log=lines.append)
    assert results["global_step"] == 4
    assert (tmp_path / "out" / "eval_results.txt").exists()
    assert BertPretrainer.from_pretrained(str(tmp_path / "out" / "pretrained_model")
                                          ).load_report.missing == []
    # --export_dir: the TF Hub encoder, with the trained MLM head as `.mlm`.
    import tensorflow as tf

    encoder = tf.saved_model.load(str(tmp_path / "export" / "encoder"))
    assert hasattr(encoder, "mlm") and (tmp_path / "export" / "preprocessor").is_dir()


def test_mirrored_pretraining_matches_one_device(make_google_folder, tiny_config_dict,
                                                 tiny_pretraining, tmp_path):
    # Two replicas each read the one-pipeline stream (dynamic masks included) and keep their
    # share of the batches: without dropout, the same run as on one device.
    nodrop = dict(tiny_config_dict, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    folder, _ = make_google_folder(nodrop, with_pretraining_heads=False, name="tiny_nodrop")
    _, records = tiny_pretraining
    runs = {}
    for strategy, env in (("one_device", script_env()),
                          ("mirrored", script_env(BERT_TF_LOGICAL_CPUS="2"))):
        args = pretraining_args(folder, records, tmp_path / strategy, max_seq_length=16,
                                max_predictions_per_seq=3, train_batch_size=4, eval_batch_size=4,
                                num_train_steps=6, num_warmup_steps=1, max_eval_steps=2,
                                learning_rate=1e-3, log_every_steps=1, dynamic_masking="true",
                                distribution_strategy=strategy)
        runs[strategy] = run_pretraining_script(args, env=env)
        assert runs[strategy].returncode == 0, runs[strategy].describe()
    assert "MirroredStrategy with 2 replica(s)" in runs["mirrored"].stdout
    one, two = (_train_losses(runs[s].stdout) for s in ("one_device", "mirrored"))
    assert len(one) == 6 and two == pytest.approx(one, abs=1e-5), (one, two)
    ours, theirs = runs["mirrored"].eval_results(), runs["one_device"].eval_results()
    assert ours == pytest.approx(theirs, abs=1e-5)


def _classifier_record(path):
    import tensorflow as tf

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    example = tf.train.Example(features=tf.train.Features(feature={
        "input_ids": ints([2] * SEQ), "input_mask": ints([1] * SEQ), "segment_ids": ints([0] * SEQ),
        "label_ids": ints([1]), "is_real_example": ints([1])}))
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(example.SerializeToString())
    return str(path)


@pytest.mark.parametrize("case", ["wrong_features", "wrong_max_seq_length", "empty_glob",
                                  "eval_empty_glob"])
def test_bad_records_give_one_error_line_and_write_nothing(case, tiny_pretraining, tmp_path):
    folder, records = tiny_pretraining
    nothing = str(tmp_path / "nothing" / "*.tfrecord")
    inputs = {"wrong_features": _classifier_record(tmp_path / "classifier.tf_record"),
              "wrong_max_seq_length": records, "empty_glob": nothing,
              "eval_empty_glob": records}[case]
    expected = {"wrong_features": "records lack the feature 'masked_lm_positions'",
                "wrong_max_seq_length": "expected --max_seq_length=32",
                "empty_glob": "--input_file: ",
                "eval_empty_glob": "--eval_input_file: "}[case]
    output_dir = tmp_path / "out"
    extra = dict(max_seq_length=16, eval_input_file=nothing) if case == "eval_empty_glob" else {}
    run = run_pretraining_script(pretraining_args(folder, inputs, output_dir,
                                                  max_predictions_per_seq=3, **extra))
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and expected in lines[-1], run.describe()
    if case.endswith("empty_glob"):
        assert "matches no file" in lines[-1]
    assert "Traceback" not in run.stderr
    assert not output_dir.exists()


def test_pretraining_loss_is_the_original_total_loss():
    """Per-example losses summed over the batch / batch = the original's
    sum(w * ce) / (sum(w) + 1e-5) + mean(nsp ce * nsp weight)."""
    import tensorflow as tf

    from bert_tf.training.metrics import log_softmax
    from bert_tf.training.pretrain import pretraining_loss

    rng = np.random.default_rng(3)
    batch, pred, vocab = 4, 3, 11
    outputs = {"mlm_logits": rng.normal(size=(batch, pred, vocab)).astype(np.float32),
               "nsp_logits": rng.normal(size=(batch, 2)).astype(np.float32)}
    weights = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]], np.float32)
    labels = {"masked_lm_ids": rng.integers(0, vocab, (batch, pred)).astype(np.int32),
              "masked_lm_weights": weights,
              "next_sentence_labels": np.array([0, 1, 1, 0], np.int32),
              "next_sentence_weights": np.ones(batch, np.float32)}
    mlm_ce = -np.take_along_axis(log_softmax(outputs["mlm_logits"]),
                                 labels["masked_lm_ids"][..., None], -1)[..., 0]
    nsp_ce = -log_softmax(outputs["nsp_logits"])[np.arange(batch), labels["next_sentence_labels"]]
    expected = (weights * mlm_ce).sum() / (weights.sum() + 1e-5) + nsp_ce.mean()
    per_example = pretraining_loss({k: tf.constant(v) for k, v in outputs.items()},
                                   {k: tf.constant(v) for k, v in labels.items()}).numpy()
    assert per_example.shape == (batch,)
    assert per_example.sum() / batch == pytest.approx(expected, rel=1e-5)
    # --no_nsp: next_sentence_weights 0 leaves the masked-LM mean alone.
    labels["next_sentence_weights"] = np.zeros(batch, np.float32)
    no_nsp = pretraining_loss({k: tf.constant(v) for k, v in outputs.items()},
                              {k: tf.constant(v) for k, v in labels.items()}).numpy()
    assert no_nsp.sum() / batch == pytest.approx(expected - nsp_ce.mean(), rel=1e-5)
