"""AdamWeightDecay / WarmupLinearDecay / create_optimizer against NumPy references."""

import contextlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from bert_tf.training.optimization import (
    AdamWeightDecay,
    WarmupLinearDecay,
    create_optimizer,
)

PATHS = (
    "bert/encoder/layer_0/output/dense/kernel",  # decayed
    "bert/encoder/layer_0/output/dense/bias",  # excluded: "bias"
    "bert/encoder/layer_0/attention_layer_norm/gamma",  # excluded: "layer_norm"
)
SHAPES = ((3, 2), (2,), (2,))


def make_variable(path, value):
    """A keras.Variable whose `path` is exactly `path`."""
    *scopes, leaf = path.split("/")
    with contextlib.ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(keras.name_scope(scope))
        variable = keras.Variable(np.asarray(value, np.float32), name=leaf)
    assert variable.path == path
    return variable


def make_variables(seed=0):
    rng = np.random.RandomState(seed)
    return [make_variable(p, rng.randn(*s)) for p, s in zip(PATHS, SHAPES)]


def gradient_sequence(steps, scale=3.0, seed=1):
    """Per step, one gradient per variable; the global norm is well above 1."""
    rng = np.random.RandomState(seed)
    return [[(scale * rng.randn(*s)).astype(np.float32) for s in SHAPES] for _ in range(steps)]


def numpy_schedule(step, init_lr, num_train_steps, num_warmup_steps):
    if num_warmup_steps and step < num_warmup_steps:
        return init_lr * step / num_warmup_steps
    return init_lr * (1.0 - min(step, num_train_steps) / num_train_steps)


def numpy_adam_weight_decay(weights, grads_per_step, lr_per_step, decayed, wd=0.01,
                            b1=0.9, b2=0.999, eps=1e-6, clip=1.0):
    """The original optimization.py update, in float64 NumPy."""
    w = [np.asarray(x, np.float64) for x in weights]
    m = [np.zeros_like(x) for x in w]
    v = [np.zeros_like(x) for x in w]
    for grads, lr in zip(grads_per_step, lr_per_step):
        grads = [np.asarray(g, np.float64) for g in grads]
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        grads = [g * clip / max(norm, clip) for g in grads]  # tf.clip_by_global_norm
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            update = m[i] / (np.sqrt(v[i]) + eps)
            if decayed[i]:
                update = update + wd * w[i]
            w[i] = w[i] - lr * update
    return w


def values(variables):
    return [np.array(v.numpy()) for v in variables]


def test_schedule_matches_numpy_table():
    schedule = WarmupLinearDecay(2e-3, num_train_steps=10, num_warmup_steps=4)
    got = [float(schedule(s)) for s in range(15)]
    want = [numpy_schedule(s, 2e-3, 10, 4) for s in range(15)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
    # Spot values: warmup ramps from 0, peak right after warmup, 0 at and after the end.
    assert got[0] == 0.0 and got[2] == pytest.approx(1e-3)
    assert got[4] == pytest.approx(2e-3 * 0.6) and got[10] == 0.0 and got[14] == 0.0


def test_schedule_without_warmup_and_with_accumulation():
    plain = WarmupLinearDecay(1.0, num_train_steps=8, num_warmup_steps=0)
    np.testing.assert_allclose([float(plain(s)) for s in range(10)],
                               [1 - min(s, 8) / 8 for s in range(10)], rtol=1e-6)
    # Keras passes micro-batch counts; with 3-step accumulation they map to updates.
    acc = WarmupLinearDecay(1.0, num_train_steps=8, num_warmup_steps=2, accumulation_steps=3)
    np.testing.assert_allclose([float(acc(s)) for s in range(9)],
                               [numpy_schedule(s // 3, 1.0, 8, 2) for s in range(9)], rtol=1e-6)
    restored = WarmupLinearDecay.from_config(acc.get_config())
    assert restored.get_config() == acc.get_config()
    with pytest.raises(ValueError, match="num_train_steps"):
        WarmupLinearDecay(1.0, num_train_steps=0)


def test_adam_weight_decay_matches_numpy_step_by_step():
    steps, init_lr, total, warmup = 10, 0.05, 12, 3
    variables = make_variables()
    initial = values(variables)
    grads = gradient_sequence(steps)
    assert all(np.sqrt(sum(np.sum(g * g) for g in step)) > 1.0 for step in grads)
    schedule = WarmupLinearDecay(init_lr, total, warmup)
    optimizer = AdamWeightDecay(learning_rate=schedule)
    lrs = [numpy_schedule(s, init_lr, total, warmup) for s in range(steps)]
    for step in range(steps):
        optimizer.apply(grads[step], variables)
        want = numpy_adam_weight_decay(initial, grads[: step + 1], lrs[: step + 1],
                                       decayed=[True, False, False])
        for got, ref, path in zip(values(variables), want, PATHS):
            np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7,
                                       err_msg=f"{path} after step {step + 1}")
    assert int(optimizer.iterations) == steps
    # The exclusion matters: decaying every variable gives a measurably different bias/gamma.
    all_decayed = numpy_adam_weight_decay(initial, grads, lrs, decayed=[True, True, True])
    final = values(variables)
    for i in (1, 2):
        assert np.max(np.abs(final[i] - all_decayed[i])) > 1e-5


def test_no_bias_correction_unlike_keras_adam():
    ours = [make_variable("x/kernel", [0.5, -2.0])]
    theirs = [make_variable("y/kernel", [0.5, -2.0])]
    grad = [np.array([0.3, -0.7], np.float32)]
    AdamWeightDecay(learning_rate=0.01, weight_decay_rate=0.0).apply(grad, ours)
    keras.optimizers.Adam(learning_rate=0.01, epsilon=1e-6).apply(grad, theirs)
    # First step, no correction: m = 0.1 g, v = 0.001 g^2 -> update = g/|g| * 0.1/sqrt(0.001).
    expected = np.array([0.5, -2.0]) - 0.01 * np.sign(grad[0]) * 0.1 / np.sqrt(0.001)
    np.testing.assert_allclose(ours[0].numpy(), expected, rtol=1e-5)
    # Keras Adam divides by (1 - beta^t): its first step is ~lr * sign(g), 3.16x smaller.
    np.testing.assert_allclose(theirs[0].numpy(), np.array([0.5, -2.0]) - 0.01 * np.sign(grad[0]),
                               rtol=1e-4)
    assert np.max(np.abs(ours[0].numpy() - theirs[0].numpy())) > 0.01


@pytest.mark.parametrize("name", ["adamw_google", "adamw", "lamb"])
def test_accumulating_k_steps_equals_one_step_on_the_mean(name):
    k, updates = 3, 3
    micro = gradient_sequence(k * updates, seed=7)
    accumulated, single = make_variables(3), make_variables(3)
    opt_acc = create_optimizer(name, 0.02, 10, 1, gradient_accumulation_steps=k)
    opt_one = create_optimizer(name, 0.02, 10, 1)
    for u in range(updates):
        before = values(accumulated)
        for j in range(k):
            if j == k - 1:
                assert all(np.array_equal(a, b) for a, b in zip(values(accumulated), before))
            opt_acc.apply(micro[u * k + j], accumulated)
        group = micro[u * k:(u + 1) * k]
        mean = [np.mean([g[i] for g in group], axis=0) for i in range(len(SHAPES))]
        opt_one.apply(mean, single)
        for a, b in zip(values(accumulated), values(single)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(opt_acc.iterations) == updates and int(opt_one.iterations) == updates
    # Warmup of one update: the first update used lr 0, later ones did move the weights.
    assert not all(np.array_equal(a, b) for a, b in zip(values(single), values(make_variables(3))))


@pytest.mark.parametrize("name", ["adamw_google", "adamw", "lamb"])
def test_create_optimizer_decays_only_non_excluded_paths(name):
    # Zero gradients: the Adam/Lamb step is 0, so only weight decay moves a variable.
    variables = make_variables()
    initial = values(variables)
    optimizer = create_optimizer(name, 0.1, num_train_steps=10, num_warmup_steps=0,
                                 weight_decay=0.01)
    optimizer.apply([np.zeros(s, np.float32) for s in SHAPES], variables)
    final = values(variables)
    np.testing.assert_allclose(final[0], initial[0] * (1 - 0.1 * 0.01), rtol=1e-6)
    np.testing.assert_array_equal(final[1], initial[1])
    np.testing.assert_array_equal(final[2], initial[2])


@pytest.mark.parametrize("name", ["adamw_google", "adamw", "lamb"])
def test_create_optimizer_trains_a_model_and_round_trips_config(name):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense"),
                              keras.layers.LayerNormalization(name="out_layer_norm"),
                              keras.layers.Dense(1, name="head")])
    optimizer = create_optimizer(name, 1e-2, num_train_steps=20, num_warmup_steps=2)
    model.compile(optimizer=optimizer, loss="mse")
    x = np.random.RandomState(0).randn(32, 4).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert int(optimizer.iterations) == 12
    assert history.history["loss"][-1] < history.history["loss"][0]
    # Through JSON, as a saved model's compile config would go.
    serialized = json.loads(json.dumps(keras.optimizers.serialize(optimizer)))
    restored = keras.optimizers.deserialize(serialized)
    assert type(restored) is type(optimizer)
    assert restored._learning_rate.get_config() == WarmupLinearDecay(1e-2, 20, 2).get_config()
    assert restored.global_clipnorm == 1.0
    if name == "adamw_google":
        assert restored.exclude_patterns == ["LayerNorm", "layer_norm", "bias"]
        assert restored.weight_decay_rate == 0.01
    else:
        assert restored._path_exclude_patterns == ["LayerNorm", "layer_norm", "bias"]
        assert restored.weight_decay == 0.01


def test_unknown_optimizer_names_the_flag_and_choices():
    with pytest.raises(ValueError, match=r"--optimizer.*adamw_google.*adamw.*lamb"):
        create_optimizer("sgd", 1e-3, 10, 1)


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, keras, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from bert_tf.training.optimization import create_optimizer

    rng = np.random.RandomState(0)
    x = rng.randn(16, 4).astype("float32")
    y = 5 * rng.randn(16, 3).astype("float32")  # large errors: clipping is active

    def train(strategy, name, accumulation):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense"),
                                      keras.layers.LayerNormalization(name="out_layer_norm")])
            opt = create_optimizer(name, 1e-2, 10, 2, gradient_accumulation_steps=accumulation)
            model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return [v.numpy() for v in model.trainable_variables]

    out = {}
    for name in ("adamw_google", "adamw", "lamb"):
        for accumulation in (None, 2):
            one = train(tf.distribute.get_strategy(), name, accumulation)
            two = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), name, accumulation)
            moved = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
            out[f"{name}/{accumulation}"] = moved
    print("RESULT " + json.dumps(out))
    """
)


def test_mirrored_strategy_matches_single_device_with_clipping_and_accumulation(tmp_path):
    # A fresh process: logical devices must be set before TF initialises its runtime.
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED_SCRIPT)
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pythonpath = os.pathsep.join(p for p in (repo_root, os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", PYTHONPATH=pythonpath)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=600)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    diffs = json.loads(lines[0][len("RESULT "):])
    assert len(diffs) == 6
    for key, diff in diffs.items():
        assert diff < 1e-5, f"{key}: 2 replicas differ from 1 device by {diff}"


@pytest.mark.parametrize("name", ["adamw_google", "adamw"])
def test_fused_update_matches_the_op_by_op_update(name):
    """The XLA-fused update (the default) follows the op-by-op formulas to float32 rounding,
    through warmup, clipping, decay and exclusions, and the bias correction of Keras' AdamW."""
    steps = 8
    grads = gradient_sequence(steps, seed=11)
    fused, plain = make_variables(5), make_variables(5)
    opt_fused = create_optimizer(name, 0.05, 10, 2)
    opt_plain = create_optimizer(name, 0.05, 10, 2, fused_update=False)
    assert opt_fused.fused_update and opt_fused.get_config()["fused_update"]
    for step in range(steps):
        opt_fused.apply(grads[step], fused)
        opt_plain.apply(grads[step], plain)
        for a, b, path in zip(values(fused), values(plain), PATHS):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7, err_msg=f"{path} step {step}")
    assert not all(np.array_equal(a, b) for a, b in zip(values(fused), values(make_variables(5))))
    assert opt_fused._fused_step is not None and getattr(opt_plain, "_fused_step", None) is None
    restored = type(opt_fused).from_config(opt_fused.get_config())
    assert restored.fused_update


@pytest.mark.parametrize("name,fused", [("adamw_google", True), ("adamw", True),
                                        ("adamw_google", False), ("lamb", False)])
def test_apply_scaled_equals_clip_by_global_norm_then_apply(name, fused):
    """The Trainer's clipping path: the factor goes into the fused update (or one multiply on
    the other paths). Same bits as clipping the gradients first, as the Trainer did before."""
    import tensorflow as tf

    from bert_tf.training.trainer import clip_factor

    steps = 4
    grads = gradient_sequence(steps, seed=12)
    scaled, clipped = make_variables(6), make_variables(6)
    kwargs = {} if name == "lamb" else {"fused_update": fused}
    opt_scaled = create_optimizer(name, 0.05, 10, 2, clip_norm=None, **kwargs)
    opt_clipped = create_optimizer(name, 0.05, 10, 2, clip_norm=None, **kwargs)
    for step in range(steps):
        g = [tf.constant(x) for x in grads[step]]
        norm = tf.linalg.global_norm(g)
        clip = 1.0 if step % 2 else 100.0  # clipping active, then not
        opt_scaled.apply_scaled(g, scaled, clip_factor(norm, clip))
        opt_clipped.apply(tf.clip_by_global_norm(g, clip, use_norm=norm)[0], clipped)
        for a, b, path in zip(values(scaled), values(clipped), PATHS):
            np.testing.assert_array_equal(a, b, err_msg=f"{path} step {step}")
    assert opt_scaled.__dict__.get("_gradient_scale") is None  # not kept past the call


def test_clip_factor_is_the_factor_of_clip_by_global_norm():
    import tensorflow as tf

    from bert_tf.training.trainer import clip_factor

    g = tf.constant([3.0, 4.0, 0.1234567])
    for clip in (1.0, 0.3, 7.0, 1e6):
        norm = tf.linalg.global_norm([g])
        want = tf.clip_by_global_norm([g], clip, use_norm=norm)[0][0]
        np.testing.assert_array_equal((g * clip_factor(norm, clip)).numpy(), want.numpy())
    for bad in (float("inf"), float("nan")):
        assert np.isnan(clip_factor(tf.constant(bad), 1.0).numpy())
