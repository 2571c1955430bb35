"""run_ner.py end to end on CoNLL files the tests write: training, the entity scores (checked
against seqeval from the written predictions), predictions files, the Google folder it saves,
tag schemes, resuming, and bad input (one `error:` line, nothing written)."""

import shutil

import numpy as np
import pytest
from ner.conftest import (MAX_SEQ, STEPS, make_sentences, ner_args, run_ner_script,
                          write_conll)

from bert_tf.data.conll import read_conll


def _read_predictions(path):
    """(gold tags, predicted tags, words) per sentence of a WORD GOLD PRED file."""
    gold = read_conll(str(path), tag_column=1)
    predicted = read_conll(str(path))
    assert [s.words for s in gold] == [s.words for s in predicted]
    return [list(s.tags) for s in gold], [list(s.tags) for s in predicted], gold


def test_trains_and_scores_with_conllevals_numbers(ner_run, ner_data):
    out = ner_run.output_dir
    for split, source, prefix in (("eval", "dev.txt", "eval_"), ("test", "test.txt", "test_")):
        gold, predicted, sentences = _read_predictions(out / f"{split}_predictions.txt")
        source_sentences = read_conll(str(ner_data / source))
        # Every word of the file, in order, with its gold tag: long sentences were windowed,
        # not cut.
        assert [s.words for s in sentences] == [s.words for s in source_sentences]
        assert gold == [list(s.tags) for s in source_sentences]
        results_file = "eval_results.txt" if split == "eval" else "test_results.txt"
        from bert_tf.training.results import read_eval_results
        results = read_eval_results(out / results_file)
        seqeval = pytest.importorskip("seqeval.metrics")
        assert results[f"{prefix}f1"] == pytest.approx(seqeval.f1_score(gold, predicted))
        assert results[f"{prefix}precision"] == pytest.approx(
            seqeval.precision_score(gold, predicted))
        assert results[f"{prefix}recall"] == pytest.approx(seqeval.recall_score(gold, predicted))
        report = seqeval.classification_report(gold, predicted, output_dict=True)
        for entity_type in ("PER", "LOC", "ORG"):
            assert results[f"{prefix}{entity_type}_f1"] == pytest.approx(
                report[entity_type]["f1-score"])
            assert results[f"{prefix}{entity_type}_support"] == report[entity_type]["support"]
        accuracy = np.mean([g == p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps)])
        assert results[f"{prefix}token_accuracy"] == pytest.approx(accuracy)
        assert results["global_step"] == STEPS
        assert 0 < results[f"{prefix}loss"] < 1.0
        # The templates are learnable: the tiny model gets most entities right.
        assert results[f"{prefix}f1"] >= 0.8, ner_run.describe()
    assert "processed " in ner_run.stdout and "FB1:" in ner_run.stdout  # conlleval's report


def test_final_model_tags_as_the_run_did(ner_run, ner_data):
    import tensorflow as tf

    from bert_tf.checkpoints import load_pretrained
    from bert_tf.checkpoints.ner_info import read_ner_info
    from bert_tf.data.ner_features import convert_sentences_to_features, words_from_tokens
    from bert_tf.modeling import BertTokenClassifier
    from bert_tf.tokenization import FullTokenizer

    folder = ner_run.output_dir / "final_model"
    info = read_ner_info(str(folder))
    assert info.labels == ["O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"]
    assert info.max_seq_length == MAX_SEQ and info.stride == (MAX_SEQ - 2) // 2
    names = dict(tf.train.list_variables(str(folder / "bert_model.ckpt")))
    assert names["output_weights"] == [len(info.labels), 32] and names["output_bias"] == [7]
    model = load_pretrained(str(folder), BertTokenClassifier, num_labels=len(info.labels))
    assert not [n for n in model.load_report.missing if not n.startswith("bert/pooler")]
    sentences = read_conll(str(ner_data / "dev.txt"))
    tokenizer = FullTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    features = convert_sentences_to_features(sentences, info.labels, MAX_SEQ, tokenizer)
    inputs = {"input_word_ids": np.array([f.input_ids for f in features], np.int32),
              "input_mask": np.array([f.input_mask for f in features], np.int32),
              "input_type_ids": np.array([f.segment_ids for f in features], np.int32)}
    ids = words_from_tokens([f.sentence_index for f in features],
                            [f.word_ids for f in features],
                            np.argmax(np.asarray(model(inputs)), -1),
                            [len(s.words) for s in sentences])
    _, predicted, _ = _read_predictions(ner_run.output_dir / "eval_predictions.txt")
    assert [[info.labels[i] for i in s] for s in ids] == predicted


def test_eval_from_final_model_and_other_tag_schemes(ner_run, ner_model, ner_data, tmp_path):
    """Labels come from final_model's ner_info.json; a BIOES or IOB1 copy of dev.txt scores
    exactly as the IOB2 file does."""
    from bert_tf.training.results import read_eval_results

    expected = read_eval_results(ner_run.output_dir / "eval_results.txt")
    expected["global_step"] = 0  # a model loaded with --init_checkpoint starts a new count
    sentences = [list(zip(s.words, s.tags)) for s in read_conll(str(ner_data / "dev.txt"))]
    for scheme in ("IOB2", "BIOES", "IOB1"):
        data = tmp_path / scheme
        data.mkdir()
        write_conll(data / "dev.txt", [_convert(s, scheme) for s in sentences])
        out = tmp_path / f"out_{scheme}"
        run = run_ner_script(ner_args(
            ner_model, data, out, do_train="false", do_predict="false", vocab_file=None,
            bert_config_file=None, init_checkpoint=ner_run.output_dir / "final_model",
            tag_scheme=scheme))
        assert run.returncode == 0, run.describe()
        assert read_eval_results(out / "eval_results.txt") == pytest.approx(expected), scheme


def _convert(sentence, scheme):
    """IOB2 (word, tag) pairs -> the same entities written in `scheme`."""
    if scheme == "IOB2":
        return sentence
    tags = [t for _, t in sentence]
    out = []
    for i, (word, tag) in enumerate(sentence):
        nxt = tags[i + 1] if i + 1 < len(tags) else "O"
        prefix, _, entity = tag.partition("-")
        if scheme == "BIOES" and tag != "O":
            last = nxt != f"I-{entity}"
            prefix = {("B", True): "S", ("B", False): "B", ("I", True): "E",
                      ("I", False): "I"}[prefix, last]
        if scheme == "IOB1" and tag != "O":
            previous = tags[i - 1] if i else "O"
            follows_same = previous.partition("-")[2] == entity
            prefix = "B" if prefix == "B" and follows_same else "I"
        out.append((word, tag if tag == "O" else f"{prefix}-{entity}"))
    return out


def test_rerun_resumes_and_gives_the_same_results(ner_run, ner_model, ner_data, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(ner_run.output_dir, out)
    (out / "eval_results.txt").write_text("stale\n")
    run = run_ner_script(ner_args(ner_model, ner_data, out))
    assert run.returncode == 0, run.describe()
    assert f"(global step {STEPS})" in run.stdout and "Resuming from" in run.stdout
    for name in ("eval_results.txt", "test_results.txt", "eval_predictions.txt",
                 "test_predictions.txt"):
        assert (out / name).read_text() == (ner_run.output_dir / name).read_text(), name


def _bad(ner_model, data, tmp_path, **flags):
    out = tmp_path / "out"
    run = run_ner_script(ner_args(ner_model, data, out, **flags), timeout=120)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode != 0 and lines and lines[-1].startswith("error: "), run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    assert not out.exists(), "bad input must leave nothing behind"
    return run.returncode, lines[-1]


@pytest.mark.parametrize("case", ["short_line", "tag_outside", "empty", "scheme", "bioes_tag"])
def test_bad_input_is_one_line_and_writes_nothing(case, ner_model, ner_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ner_data, data)
    flags = {}
    if case == "short_line":
        text = (data / "train.txt").read_text().splitlines()
        text[4] = text[4].split()[0]  # a word without its tag
        (data / "train.txt").write_text("\n".join(text) + "\n")
        expect = (1, "train.txt, line 5")
    elif case == "tag_outside":
        flags["label_list"] = "O,B-PER,I-PER,B-LOC,I-LOC"  # no ORG
        expect = (1, "B-ORG")
    elif case == "empty":
        (data / "test.txt").write_text("")
        expect = (1, "test.txt: no sentences")
    elif case == "scheme":
        flags["tag_scheme"] = "IOX"
        expect = (2, "--tag_scheme")
    else:  # an S- tag is not IOB2
        write_conll(data / "dev.txt", [[("paris", "S-LOC"), (".", "O")]])
        expect = (1, "dev.txt, line 3")
    status, line = _bad(ner_model, data, tmp_path, **flags)
    assert status == expect[0] and expect[1] in line, line


def test_long_sentences_need_several_windows():
    """The fixture's premise: some sentences do not fit in one window of MAX_SEQ pieces."""
    assert max(len(s) for s in make_sentences(20, 1)) > MAX_SEQ - 2
