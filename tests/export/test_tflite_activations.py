"""Every hidden activation a config can name converts to TFLite builtins and agrees with Keras.

The run_classifier export test uses the tiny config's tanh GELU; MiniLM (and every HF-converted
model) uses the exact erf GELU, whose ops must also be TFLite builtins (a `tf.Erfc` is not).
"""

import numpy as np
import pytest

from bert_tf.export.tflite import convert_classifier, run_tflite
from bert_tf.modeling import BertClassifier, BertConfig
from bert_tf.modeling.activations import ACTIVATIONS
from support.builders import TINY_CONFIG

from .conftest import encoder_inputs


@pytest.mark.parametrize("hidden_act", sorted(ACTIVATIONS))
def test_tflite_converts_and_agrees(hidden_act):
    config = BertConfig.from_dict(dict(TINY_CONFIG, hidden_act=hidden_act))
    model = BertClassifier(config, num_labels=3).ensure_built()
    features = {k: np.asarray(v, np.int32) for k, v in encoder_inputs(vocab=config.vocab_size).items()}
    seq = features["input_word_ids"].shape[1]
    want = np.asarray(model(features, training=False))
    want = np.exp(want - want.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    got = run_tflite(convert_classifier(model, seq_length=seq), features)
    np.testing.assert_allclose(got, want, atol=1e-5)
