"""Python packing: the original truncation rule, segment ids, padding and label handling."""

import itertools

import pytest

from bert_tf.tokenization import (FullTokenizer, InputExample, convert_single_example,
                                  pack_tokens, truncate_seq_pair, truncated_lengths)


def literal_truncate(len_a, len_b, max_length):
    a, b = list(range(len_a)), list(range(len_b))
    while len(a) + len(b) > max_length:
        (a if len(a) > len(b) else b).pop()
    return len(a), len(b)


@pytest.mark.parametrize(
    "len_a, len_b, max_length, expected",
    [
        (3, 2, 5, (3, 2)),  # fits
        (10, 2, 8, (6, 2)),  # only the longer one is cut
        (2, 10, 8, (2, 6)),
        (5, 5, 7, (4, 3)),  # tie: b first, then alternate
        (5, 5, 8, (4, 4)),
        (4, 5, 5, (3, 2)),
        (0, 9, 4, (0, 4)),
        (9, 0, 4, (4, 0)),
    ],
)
def test_truncation_table(len_a, len_b, max_length, expected):
    a, b = list("a" * len_a), list("b" * len_b)
    truncate_seq_pair(a, b, max_length)
    assert (len(a), len(b)) == expected
    assert truncated_lengths(len_a, len_b, max_length) == expected


def test_closed_form_equals_popping():
    for len_a, len_b, m in itertools.product(range(25), range(25), range(30)):
        assert truncated_lengths(len_a, len_b, m) == literal_truncate(len_a, len_b, m)


def test_truncation_keeps_prefixes():
    a, b = list("abcdefgh"), list("uvwxyz")
    truncate_seq_pair(a, b, 7)
    assert a == list("abcd") and b == list("uvw")


@pytest.fixture
def tokenizer(original_test_vocab_file):
    return FullTokenizer(original_test_vocab_file, do_lower_case=True)


def test_pack_single(tokenizer):
    f = pack_tokens(["want", "##ed", "low"], None, 6, tokenizer)
    assert f.input_ids == [2, 5, 7, 13, 3, 0]
    assert f.input_mask == [1, 1, 1, 1, 1, 0]
    assert f.segment_ids == [0] * 6


def test_pack_single_truncated(tokenizer):
    f = pack_tokens(["want", "##ed", "low", "lowest"], [], 4, tokenizer)
    assert f.input_ids == [2, 5, 7, 3]
    assert f.input_mask == [1] * 4


def test_pack_pair_segments_and_padding(tokenizer):
    f = pack_tokens(["want"], ["low", "lowest"], 8, tokenizer)
    assert f.input_ids == [2, 5, 3, 13, 14, 3, 0, 0]
    assert f.segment_ids == [0, 0, 0, 1, 1, 1, 0, 0]
    assert f.input_mask == [1, 1, 1, 1, 1, 1, 0, 0]


def test_pack_pair_truncated(tokenizer):
    f = pack_tokens(["want"] * 5, ["low"] * 5, 10, tokenizer)  # 7 tokens for 10: (4, 3)
    assert f.input_ids == [2, 5, 5, 5, 5, 3, 13, 13, 13, 3]
    assert f.segment_ids == [0] * 6 + [1] * 4


def test_pack_does_not_modify_inputs(tokenizer):
    a, b = ["want"] * 5, ["low"] * 5
    pack_tokens(a, b, 6, tokenizer)
    assert len(a) == len(b) == 5


def test_pack_too_short(tokenizer):
    with pytest.raises(ValueError, match="max_seq_length=2 leaves no room for 3 special tokens"):
        pack_tokens(["want"], ["low"], 2, tokenizer)


def test_convert_single_example_classification(tokenizer):
    ex = InputExample("train-1", "UNwant\u00e9d", "running,", label="b")
    f = convert_single_example(ex, {"a": 0, "b": 1}, 12, tokenizer)
    assert f.input_ids == [2, 9, 6, 7, 3, 10, 11, 12, 3, 0, 0, 0]
    assert f.segment_ids == [0] * 5 + [1] * 4 + [0] * 3
    assert f.label_id == 1 and f.is_real_example is True


def test_convert_single_example_regression_and_unlabelled(tokenizer):
    regression = InputExample("d-1", "want", label="3.5")
    assert convert_single_example(regression, None, 4, tokenizer).label_id == 3.5
    assert convert_single_example(InputExample("t-1", "want"), {"a": 0}, 4, tokenizer).label_id == 0
    with pytest.raises(ValueError, match="example d-2: regression label 'high' is not a number"):
        convert_single_example(InputExample("d-2", "want", label="high"), None, 4, tokenizer)


def test_unknown_label_names_guid_label_and_known_labels(tokenizer):
    expected = r"example dev-7: label 'maybe' is not one of the task's labels \['0', '1'\]"
    with pytest.raises(ValueError, match=expected):
        convert_single_example(InputExample("dev-7", "want", label="maybe"), {"0": 0, "1": 1}, 8,
                               tokenizer)


def test_unknown_label_error_stays_one_short_line_for_long_labels(tokenizer):
    """A text column given as the label: the label and the label list are cut, with counts."""
    label_map = {f"review {i}: " + "very long text " * 20: i for i in range(500)}
    with pytest.raises(ValueError) as error:
        convert_single_example(InputExample("train-3", "want", label="x" * 5000), label_map, 8,
                               tokenizer)
    message = str(error.value)
    assert "\n" not in message and len(message) < 600, message
    assert "(5000 chars)" in message and "the 500 labels [" in message


@pytest.mark.parametrize("text_b", ["", "   ", "\x00\u200b"])
def test_empty_second_text_packs_as_single(tokenizer, text_b):
    # The original checks `if example.text_b:` and then `if tokens_b:`: no second [SEP].
    f = convert_single_example(InputExample("x", "want want", text_b), None, 4, tokenizer)
    assert f.input_ids == [2, 5, 5, 3]
    assert f.segment_ids == [0, 0, 0, 0]


def test_second_segment_truncated_to_nothing_loses_its_sep(tokenizer):
    # budget 4 - 3 = 1: "want" stays, "low" is popped; the original then sees an empty tokens_b.
    f = pack_tokens(["want"], ["low"], 4, tokenizer)
    assert f.input_ids == [2, 5, 3, 0]
    assert f.segment_ids == [0, 0, 0, 0]
