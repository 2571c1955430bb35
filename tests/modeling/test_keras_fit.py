"""The plain Keras workflow on bert_tf models: raw strings through `BertPreprocessor` in a
`tf.data` pipeline into a `BertClassifier`, then `compile`/`fit`/`evaluate`/`predict` with a
stock Keras optimizer and loss, and the docs/keras-api.md example run as written."""

import math
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf

import keras
from bert_tf import BertClassifier, BertConfig, BertPreprocessor

GUIDE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "keras-api.md"

# Words of the original tokenization test vocab (tests/support/builders.py): "want" sentences
# are class 1, "low" sentences class 0; WordPiece splits several into pieces.
TEXTS = ["want wanted", "unwanted , want", "wanting", "Wanted unwanted",
         "low lowest", "lowest", "low , low running", "Lowest low"]
LABELS = [1, 1, 1, 1, 0, 0, 0, 0]


def string_dataset(pre, batch_size=4):
    ds = tf.data.Dataset.from_tensor_slices((TEXTS * 2, LABELS * 2)).shuffle(16, seed=0)
    return ds.batch(batch_size).map(lambda s, y: (pre(s), y)).prefetch(2)


@pytest.fixture
def classifier(tiny_config_dict):
    keras.utils.set_random_seed(0)
    return BertClassifier(BertConfig.from_dict(tiny_config_dict), num_labels=2)


def test_pipeline_gives_encoder_inputs(original_test_vocab_file):
    pre = BertPreprocessor(original_test_vocab_file, do_lower_case=True, seq_length=10)
    features, labels = next(iter(string_dataset(pre)))
    assert sorted(features) == ["input_mask", "input_type_ids", "input_word_ids"]
    assert all(t.shape == (4, 10) and t.dtype == tf.int32 for t in features.values())
    assert labels.shape == (4,)


def test_fit_evaluate_predict_on_strings(classifier, original_test_vocab_file):
    pre = BertPreprocessor(original_test_vocab_file, do_lower_case=True, seq_length=10)
    ds = string_dataset(pre)
    classifier.compile(optimizer=keras.optimizers.Adam(3e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    classifier.ensure_built()
    before = [w.numpy().copy() for w in classifier.trainable_weights]

    history = classifier.fit(ds, epochs=6, verbose=0)

    losses = history.history["loss"]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.95 * losses[0]  # from about ln 2 (0.70 to 0.59 on x86 CPUs)
    changed = [not np.array_equal(w.numpy(), b) for w, b in zip(classifier.trainable_weights,
                                                                 before)]
    assert all(changed), [w.path for w, c in zip(classifier.trainable_weights, changed) if not c]

    loss, accuracy = classifier.evaluate(ds, verbose=0)
    assert math.isfinite(loss) and accuracy >= 0.75  # "want" and "low" words tell the classes apart
    logits = classifier.predict(ds.map(lambda x, y: x), verbose=0)
    assert logits.shape == (16, 2) and logits.dtype == np.float32
    assert np.isfinite(logits).all()


def test_guide_example_runs(make_google_folder, tiny_config_dict, tmp_path, monkeypatch):
    """The fit example of docs/keras-api.md, on a tiny random model in place of BERT-Base."""
    text = GUIDE.read_text(encoding="utf-8")
    marker = text.index("<!-- example: fit -->")
    code = re.search(r"```python\n(.*?)```", text[marker:], re.S).group(1)
    assert '"uncased_L-12_H-768_A-12"' in code
    tiny_config_dict["max_position_embeddings"] = 128  # the example's seq_length
    folder, _ = make_google_folder(tiny_config_dict)
    code = code.replace('"uncased_L-12_H-768_A-12"', repr(str(folder)))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, str(GUIDE), "exec"), namespace)
    assert (tmp_path / "review_classifier.keras").exists()
    assert isinstance(namespace["reloaded"], BertClassifier)
