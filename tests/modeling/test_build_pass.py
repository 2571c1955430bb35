"""`ensure_built` builds with plain ops: no XLA kernel compiles for the dummy inputs' shape.

The models' build pass runs on [1, 2] dummy inputs that no later call uses, so compiling the
GELU and LayerNorm kernels for them only cost start-up time. Calls after the build must use the
kernels again.
"""

import numpy as np
import pytest

from bert_tf.modeling import BertClassifier, BertConfig, BertEncoder, BertPretrainer
from support.kernels import KernelCalled

from .test_numerics import random_inputs


@pytest.mark.parametrize("make", [
    lambda config: BertEncoder(config),
    lambda config: BertClassifier(config, num_labels=3),
    lambda config: BertPretrainer(config),
], ids=["encoder", "classifier", "pretrainer"])
def test_ensure_built_calls_no_xla_kernel_and_later_calls_do(make, tiny_config_dict,
                                                             kernels_forbidden):
    model = make(BertConfig.from_dict(tiny_config_dict))
    assert model.ensure_built() is model
    assert model.weights and kernels_forbidden == []
    encoder = getattr(model, "encoder", model)
    # Outside the build pass the kernels are back in use.
    with pytest.raises(KernelCalled):
        encoder(random_inputs(tiny_config_dict))
    assert kernels_forbidden


def test_a_model_built_plainly_has_the_weights_of_one_built_by_a_call(tiny_config_dict):
    config = BertConfig.from_dict(tiny_config_dict)
    inputs = random_inputs(tiny_config_dict)
    built = BertClassifier(config, num_labels=3).ensure_built()
    called = BertClassifier(config, num_labels=3)
    called(inputs)
    assert [w.path for w in built.weights] == [w.path for w in called.weights]
    assert [tuple(w.shape) for w in built.weights] == [tuple(w.shape) for w in called.weights]
    called.set_weights(built.get_weights())
    np.testing.assert_array_equal(built(inputs).numpy(), called(inputs).numpy())
