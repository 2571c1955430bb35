"""tf.distribute strategies by flag name, with the original TPU flags mapped onto them."""

import os
import socket
from typing import Optional, Tuple
from urllib.parse import urlparse

import tensorflow as tf

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")


class StrategyError(ValueError):
    """A strategy that cannot be set up here; the message names the flag to change."""


def resolve_strategy_name(distribution_strategy: Optional[str], use_tpu: bool = False) -> str:
    """`--distribution_strategy`, or the legacy `--use_tpu` when the former is unset."""
    if distribution_strategy:
        if distribution_strategy not in STRATEGIES:
            raise StrategyError(f"--distribution_strategy={distribution_strategy!r}: expected one of "
                                f"{', '.join(STRATEGIES)}")
        if use_tpu and distribution_strategy != "tpu":
            raise StrategyError(f"--use_tpu contradicts --distribution_strategy={distribution_strategy}")
        return distribution_strategy
    return "tpu" if use_tpu else "one_device"


def tpu_address(tpu_name: Optional[str] = None, master: Optional[str] = None) -> Tuple[str, str]:
    """(the `tpu` argument of TPUClusterResolver, the setting it came from).

    `--tpu_name`, else `--master`, else the `TPU_NAME` environment variable: a Cloud TPU's name,
    a `grpc://host:port` address, or `local`. Without any of them, `local` where this machine
    has a TPU of its own (a Cloud TPU VM or Colab's TPU runtime), else a `StrategyError`.
    """
    for setting, value in (("--tpu_name", tpu_name), ("--master", master),
                           ("TPU_NAME", os.environ.get("TPU_NAME"))):
        if value:
            return value, f"{setting}={value}"
    if _local_tpu_present():
        return "local", "this TPU VM"
    raise StrategyError(
        "--distribution_strategy=tpu: no TPU found on this machine and no --tpu_name/--master "
        "given; run on a TPU VM/Colab TPU runtime or name the TPU")


def _tpu_strategy(tpu_name, tpu_zone, gcp_project, master):
    """The resolver, connection, TPU initialisation and strategy, in the order TF requires."""
    address, source = tpu_address(tpu_name, master)
    if address == "local" and not _local_tpu_present():
        raise StrategyError(f"--distribution_strategy=tpu: {source}: this machine has no TPU "
                            "(no /dev/accel* or /dev/vfio/* device); run on the TPU VM itself")
    _check_reachable(address)
    try:
        if address == "local":  # attached to this VM: no zone, project or Cloud TPU API
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        else:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=address, zone=tpu_zone, project=gcp_project)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    # OSError: a name that needs the GCE metadata server (urllib's URLError) off GCP.
    # RuntimeError: also a name looked up without the Cloud TPU API client installed.
    except (ValueError, tf.errors.OpError, RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StrategyError(f"--distribution_strategy=tpu: cannot reach TPU {address} "
                            f"({source}): {first}") from None


def _check_reachable(address, timeout_s: float = 10.0):
    """Fails fast on a grpc:// TPU address that does not accept connections: TF's own connect
    retries for minutes without a word."""
    if not address or not address.startswith("grpc://"):
        return
    parsed = urlparse(address)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 8470), timeout=timeout_s):
            pass
    except (OSError, ValueError) as e:
        raise StrategyError(f"--distribution_strategy=tpu: cannot reach TPU {address}: {e}") from None


def _local_tpu_present() -> bool:
    """Whether this machine has TPU chips attached (/dev/accel* on v2-v4, /dev/vfio/* on v5e and
    later)."""
    return os.path.exists("/dev/accel0") or os.path.exists("/dev/vfio/0")


def create_strategy(name: str, num_gpus: int = 0, tpu_name: Optional[str] = None,
                    tpu_zone: Optional[str] = None, gcp_project: Optional[str] = None,
                    master: Optional[str] = None) -> tf.distribute.Strategy:
    """Builds the strategy for `--distribution_strategy=name`.

    one_device: the first GPU, else the CPU. mirrored: `num_gpus` GPUs (all when 0 and some
    exist), else all logical CPU devices (useful for tests). multi_worker_mirrored: workers from
    TF_CONFIG. tpu: a TPU from --tpu_name/--master, the local TPU VM, or a clear error.
    """
    # These two must come before anything lists logical devices: that initialises TF's
    # context, after which collective ops (multi-worker) can no longer be configured.
    if name == "multi_worker_mirrored":
        if not os.environ.get("TF_CONFIG"):
            raise StrategyError("--distribution_strategy=multi_worker_mirrored needs the TF_CONFIG "
                                "environment variable (cluster and task) on every worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        return _tpu_strategy(tpu_name, tpu_zone, gcp_project, master)
    gpus = tf.config.list_logical_devices("GPU")
    if num_gpus and num_gpus > len(gpus):
        raise StrategyError(f"--num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            devices = [d.name for d in gpus[: num_gpus or len(gpus)]]
        else:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise StrategyError(f"--distribution_strategy={name!r}: expected one of {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes outputs (always, except non-chief multi-worker tasks)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                            and "chief" not in resolver.cluster_spec().as_dict())


def split_cpu_for_tests(count: int) -> None:
    """Makes `count` logical CPU devices (before TF initialises) so mirrored runs on one CPU."""
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
