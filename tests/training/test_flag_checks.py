"""bert_tf.training.flag_checks: every range, NaN, infinity and list rule, without a run."""

import types

import pytest

from bert_tf.training.flag_checks import (check_classifier_params, check_number,
                                          check_pretraining_params, parse_label_list)
from bert_tf.training.model_files import UsageError

CLASSIFIER_DEFAULTS = dict(
    train_batch_size=32, eval_batch_size=8, predict_batch_size=8, max_seq_length=128,
    learning_rate=5e-5, num_train_epochs=3.0, warmup_proportion=0.1, classifier_dropout=0.1,
    eval_every_steps=0, label_list=None, text_a_column=None, text_b_column=None,
    label_column=None, iterations_per_loop=1000, save_checkpoints_steps=1000,
    keep_checkpoint_max=5, log_every_steps=10, gradient_accumulation_steps=1, num_gpus=0,
    num_tpu_cores=8, weight_decay=0.01, clip_norm=1.0, do_train=True)


def _params(**overrides):
    return types.SimpleNamespace(**{**CLASSIFIER_DEFAULTS, **overrides})


def test_the_defaults_pass():
    check_classifier_params(_params())


@pytest.mark.parametrize("flag, value, says", [
    ("train_batch_size", 0, "an integer >= 1"),
    ("eval_batch_size", 0, "an integer >= 1"),
    ("predict_batch_size", -1, "an integer >= 1"),
    ("max_seq_length", 0, "an integer >= 3"),
    ("max_seq_length", -5, "an integer >= 3"),
    ("num_train_epochs", float("nan"), "a finite number > 0"),
    ("num_train_epochs", float("inf"), "a finite number > 0"),
    ("num_train_epochs", 0.0, "a finite number > 0"),
    ("learning_rate", -1.0, "a finite number > 0"),
    ("learning_rate", float("nan"), "a finite number > 0"),
    ("warmup_proportion", -3.0, ">= 0 and <= 1"),
    ("warmup_proportion", 1.5, ">= 0 and <= 1"),
    ("classifier_dropout", 1.0, ">= 0 and < 1"),
    ("weight_decay", float("-inf"), "a finite number >= 0"),
    ("clip_norm", float("nan"), "a finite number >= 0"),
    ("iterations_per_loop", 0, "an integer >= 1"),
    ("save_checkpoints_steps", 0, "an integer >= 1"),
    ("keep_checkpoint_max", 0, "an integer >= 1"),
    ("log_every_steps", 0, "an integer >= 1"),
    ("gradient_accumulation_steps", 0, "an integer >= 1"),
    ("eval_every_steps", -1, "an integer >= 0"),
    ("text_a_column", "-1", "counts from 0"),
])
def test_each_bad_value_names_its_flag(flag, value, says):
    with pytest.raises(UsageError) as error:
        check_classifier_params(_params(**{flag: value}))
    message = str(error.value)
    assert message.startswith(f"--{flag}={value}") and says in message


def test_epochs_are_only_checked_when_training():
    check_classifier_params(_params(do_train=False, num_train_epochs=float("nan")))


@pytest.mark.parametrize("text, says", [
    ("pos,neg,pos", "'pos' is listed twice"),
    ("pos,neg,", "an empty label"),
    (",pos,neg", "an empty label"),
    ("pos,,neg", "an empty label"),
    ("pos", "at least two labels"),
])
def test_label_lists_without_repeats_or_gaps(text, says):
    with pytest.raises(UsageError, match=says):
        parse_label_list(text)
    with pytest.raises(UsageError, match="--label_list"):
        check_classifier_params(_params(label_list=text))


def test_label_list_parsing():
    assert parse_label_list(" pos , neg ") == ["pos", "neg"]
    assert parse_label_list(None) is None and parse_label_list("") is None


def test_number_rules():
    p = types.SimpleNamespace(x=2.5, n=3, b=True, unset=None)
    check_number(p, "x", low=0, high=2.5)
    check_number(p, "unset", low=1)
    with pytest.raises(UsageError, match="an integer"):
        check_number(p, "x", integer=True)
    with pytest.raises(UsageError):
        check_number(p, "b", low=0)  # a bool is not a number here
    with pytest.raises(UsageError, match="< 2.5"):
        check_number(p, "x", high=2.5, high_open=True)
    check_number(p, "n", low=3, integer=True)


def test_pretraining_params():
    good = dict(train_batch_size=32, eval_batch_size=8, max_predictions_per_seq=20,
                max_seq_length=128, learning_rate=5e-5, num_warmup_steps=10, max_eval_steps=100,
                num_train_steps=100, do_train=True)
    check_pretraining_params(types.SimpleNamespace(**good))
    for flag, value in [("max_predictions_per_seq", 0), ("num_train_steps", 0),
                        ("num_warmup_steps", -1), ("learning_rate", float("nan"))]:
        with pytest.raises(UsageError, match=f"--{flag}="):
            check_pretraining_params(types.SimpleNamespace(**{**good, flag: value}))
