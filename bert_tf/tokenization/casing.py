"""Guessing `do_lower_case` from a Google model folder name, and checking a flag against it.

`bert_config.json` does not record the casing; the original guesses it from the released folder
names (`uncased_L-12_H-768_A-12`, `multi_cased_L-12_H-768_A-12`, ...). Prefixes are matched, so
the later small BERTs (`uncased_L-4_H-256_A-4`) are recognised too.

Example:
    >>> infer_do_lower_case("models/cased_L-12_H-768_A-12/vocab.txt")
    False
    >>> infer_do_lower_case("models/my_bert/vocab.txt") is None
    True
"""

import os

# Checked in this order: "multi_cased_" must win over the "multi..." lower-cased prefix.
_CASE_BY_PREFIX = (
    ("multi_cased_", False),
    ("cased_", False),
    ("uncased_", True),
    ("multilingual_L", True),
    ("chinese_L", True),
)


def model_name(path):
    """The released-model folder name for a vocab file, checkpoint prefix or model folder."""
    path = os.fspath(path).rstrip("/\\")
    if "://" in path:
        import tensorflow as tf  # only remote paths (gs://...) need TF's file system

        is_dir = tf.io.gfile.isdir(path)
    else:
        is_dir = os.path.isdir(path)
    if is_dir:
        return os.path.basename(path)
    return os.path.basename(os.path.dirname(path))


def case_of_model_name(name):
    """True (uncased), False (cased) or None (name says nothing) for a model folder name."""
    for prefix, lower in _CASE_BY_PREFIX:
        if name.startswith(prefix):
            return lower
    return None


def infer_do_lower_case(path):
    """`do_lower_case` implied by the folder holding `path`, or None if its name is not a
    Google model name (callers then default to True, the original flag's default)."""
    return case_of_model_name(model_name(path))


def validate_case_matches_checkpoint(do_lower_case, init_checkpoint):
    """Raises ValueError if `do_lower_case` contradicts the checkpoint's folder name.

    Same check and same outcome as the original (it raises rather than warns, so a cased model
    is never fine-tuned on lower-cased ids by accident). Unknown names and an empty
    `init_checkpoint` pass.

    Args:
        do_lower_case: the flag value the caller is about to use.
        init_checkpoint: checkpoint prefix, e.g. `.../uncased_L-12_H-768_A-12/bert_model.ckpt`.
    """
    if not init_checkpoint:
        return
    name = model_name(init_checkpoint)
    expected = case_of_model_name(name)
    if expected is None or bool(do_lower_case) == expected:
        return
    kind = "lower-cased" if expected else "cased"
    raise ValueError(
        f"--do_lower_case={bool(do_lower_case)} contradicts --init_checkpoint={init_checkpoint}: "
        f"`{name}` is a {kind} model, pass --do_lower_case={expected}"
    )


def mismatch_message(do_lower_case, path):
    """A one-line warning text if `do_lower_case` contradicts the folder of `path`, else None."""
    expected = infer_do_lower_case(path)
    if expected is None or bool(do_lower_case) == expected:
        return None
    kind = "lower-cased" if expected else "cased"
    return (
        f"do_lower_case={bool(do_lower_case)} but {path} belongs to `{model_name(path)}`, "
        f"a {kind} model: ids will not match its pretraining"
    )
