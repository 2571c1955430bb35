"""bert_tf.training.runtime and strategies: the CPU's bfloat16 support read from /proc/cpuinfo, and
the TPU set-up (resolver, connection, initialisation, strategy) and its errors, without a TPU."""

import types
from unittest import mock

import pytest
import tensorflow as tf

from bert_tf.training import strategies
from bert_tf.training.runtime import configure_runtime, cpu_has_bfloat16
from bert_tf.training.strategies import StrategyError, create_strategy

AVX2 = "fpu vme sse sse2 avx avx2 fma"


@pytest.mark.parametrize("text, expected", [
    (f"processor\t: 0\nflags\t\t: {AVX2}\n\nprocessor\t: 1\nflags\t\t: {AVX2}\n", False),
    (f"flags\t\t: {AVX2} avx512f avx512_bf16 avx512_vnni\n", True),  # Cooper Lake, Zen 4
    (f"flags\t\t: {AVX2} avx512f amx_bf16 amx_tile amx_int8\n", True),  # Sapphire Rapids
    (f"flags\t\t: {AVX2} avx512f avx512_vnni\n", False),  # AVX512 without BF16: emulated
    ("processor\t: 0\nFeatures\t: fp asimd evtstrm bf16\n", None),  # aarch64: no x86 flags
    ("", None),
])
def test_cpu_has_bfloat16_reads_the_flags(tmp_path, text, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    assert cpu_has_bfloat16(str(path)) is expected


def test_cpu_has_bfloat16_without_cpuinfo(tmp_path):
    assert cpu_has_bfloat16(str(tmp_path / "missing")) is None


# ---- the TPU strategy, without a TPU: the TF calls are replaced and recorded ----------------

@pytest.fixture
def tpu_calls(monkeypatch):
    """Replaces the resolver, connect, initialise and TPUStrategy with mocks attached to one
    parent, whose `mock_calls` then list them in the order they were made."""
    monkeypatch.delenv("TPU_NAME", raising=False)
    calls = mock.Mock()
    calls.TPUStrategy.return_value = "the strategy"
    for owner, name in ((tf.distribute.cluster_resolver, "TPUClusterResolver"),
                        (tf.config, "experimental_connect_to_cluster"),
                        (tf.tpu.experimental, "initialize_tpu_system"),
                        (tf.distribute, "TPUStrategy")):
        monkeypatch.setattr(owner, name, getattr(calls, name))
    return calls


def _names(calls):
    return [c[0] for c in calls.mock_calls]


ORDER = ["TPUClusterResolver", "experimental_connect_to_cluster", "initialize_tpu_system",
         "TPUStrategy"]


def test_a_named_cloud_tpu_gets_its_zone_and_project(tpu_calls, monkeypatch):
    monkeypatch.setattr(strategies, "_local_tpu_present", lambda: False)
    strategy = create_strategy("tpu", tpu_name="bert-tpu", tpu_zone="us-central1-f",
                               gcp_project="my-project")
    assert strategy == "the strategy"
    assert _names(tpu_calls) == ORDER
    tpu_calls.TPUClusterResolver.assert_called_once_with(
        tpu="bert-tpu", zone="us-central1-f", project="my-project")
    resolver = tpu_calls.TPUClusterResolver.return_value
    for name in ORDER[1:]:
        getattr(tpu_calls, name).assert_called_once_with(resolver)


@pytest.mark.parametrize("tpu_name, master, env", [
    ("local", None, None),     # --tpu_name=local on a TPU VM
    (None, None, None),        # no name on a TPU VM
    (None, None, "local"),     # TPU_NAME=local
])
def test_a_tpu_vm_uses_its_own_tpu(tpu_calls, monkeypatch, tpu_name, master, env):
    monkeypatch.setattr(strategies, "_local_tpu_present", lambda: True)
    if env:
        monkeypatch.setenv("TPU_NAME", env)
    create_strategy("tpu", tpu_name=tpu_name, tpu_zone="us-central1-f", master=master)
    assert _names(tpu_calls) == ORDER
    tpu_calls.TPUClusterResolver.assert_called_once_with(tpu="local")


@pytest.mark.parametrize("tpu_name, master, env, expected", [
    (None, "grpc-less-name", None, "grpc-less-name"),   # the original's --master
    (None, None, "env-tpu", "env-tpu"),                 # TPU_NAME
    ("flag-tpu", "master-tpu", "env-tpu", "flag-tpu"),  # --tpu_name first
])
def test_where_the_tpu_name_comes_from(tpu_calls, monkeypatch, tpu_name, master, env, expected):
    monkeypatch.setattr(strategies, "_local_tpu_present", lambda: True)
    if env:
        monkeypatch.setenv("TPU_NAME", env)
    create_strategy("tpu", tpu_name=tpu_name, master=master)
    tpu_calls.TPUClusterResolver.assert_called_once_with(tpu=expected, zone=None, project=None)


@pytest.mark.parametrize("tpu_name, match", [
    (None, r"^--distribution_strategy=tpu: no TPU found on this machine and no --tpu_name"),
    ("local", r"^--distribution_strategy=tpu: --tpu_name=local: this machine has no TPU"),
])
def test_no_tpu_here_is_one_line_before_any_tf_call(tpu_calls, monkeypatch, tpu_name, match):
    monkeypatch.setattr(strategies, "_local_tpu_present", lambda: False)
    with pytest.raises(StrategyError, match=match) as error:
        create_strategy("tpu", tpu_name=tpu_name)
    assert "\n" not in str(error.value)
    assert tpu_calls.mock_calls == []


@pytest.mark.parametrize("failing, error", [
    ("TPUClusterResolver", RuntimeError("Missing runtime dependency on the Google API client.\n"
                                        "Run `pip install cloud-tpu-client` to fix.")),
    ("TPUClusterResolver", OSError("<urlopen error [Errno -2] Name or service not known>")),
    ("initialize_tpu_system", tf.errors.UnavailableError(None, None, "Socket closed\nmore")),
])
def test_an_unreachable_tpu_is_one_line(tpu_calls, monkeypatch, failing, error):
    monkeypatch.setattr(strategies, "_local_tpu_present", lambda: False)
    getattr(tpu_calls, failing).side_effect = error
    with pytest.raises(StrategyError) as raised:
        create_strategy("tpu", tpu_name="bert-tpu", tpu_zone="us-central1-f")
    message = str(raised.value)
    assert message.startswith("--distribution_strategy=tpu: cannot reach TPU bert-tpu "
                              "(--tpu_name=bert-tpu): ")
    assert "\n" not in message
    assert _names(tpu_calls)[-1] == failing  # nothing after the failing call
    assert "TPUStrategy" not in _names(tpu_calls)


def _flags(**values):
    defaults = dict(distribution_strategy=None, use_tpu=False, tpu_checks=False,
                    enable_xla=False, dtype="float32", seed=1)
    return types.SimpleNamespace(**dict(defaults, **values))


def test_tpu_runs_and_tpu_checks_have_static_shapes_and_xla(tpu_calls, monkeypatch):
    monkeypatch.setattr(strategies, "_local_tpu_present", lambda: True)
    tpu = configure_runtime(_flags(use_tpu=True, tpu_name="local"))
    assert tpu.strategy == "the strategy"
    assert tpu.static_shapes and tpu.enable_xla
    checks = configure_runtime(_flags(tpu_checks=True))
    assert isinstance(checks.strategy, tf.distribute.OneDeviceStrategy)
    assert checks.static_shapes and checks.enable_xla
    plain = configure_runtime(_flags())
    assert not plain.static_shapes and not plain.enable_xla
    assert configure_runtime(_flags(enable_xla=True)).enable_xla
    assert _names(tpu_calls) == ORDER  # only the TPU run touched the TPU calls
