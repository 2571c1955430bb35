"""Process set-up shared by the entry scripts: seeds, determinism, precision, XLA, strategy."""

import dataclasses
import os
import sys
from typing import Callable, List, Optional

import keras
import tensorflow as tf

from bert_tf.training.strategies import (StrategyError, create_strategy, is_chief,
                                         resolve_strategy_name, split_cpu_for_tests)

# Test hook: split the one physical CPU into N logical devices so that
# --distribution_strategy=mirrored has several replicas on a machine without GPUs.
LOGICAL_CPUS_ENV = "BERT_TF_LOGICAL_CPUS"

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# x86 CPU flags (Linux /proc/cpuinfo) of bfloat16 instructions that oneDNN uses.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclasses.dataclass
class Runtime:
    """What `configure_runtime` set up.

    Args:
        strategy: the tf.distribute strategy of the flags.
        dtype: `--dtype` (float32, bfloat16 or float16).
        enable_xla: compile the training and prediction steps with XLA (`--enable_xla`; always
            with `static_shapes`).
        chief: this process writes the outputs.
        static_shapes: TPU's constraints hold (`--tpu_checks`, or the tpu strategy): every input
            shape must be fixed (`LoopConfig.static_shapes`) and the steps are XLA-compiled.
    """

    strategy: tf.distribute.Strategy
    dtype: str
    enable_xla: bool
    chief: bool
    static_shapes: bool = False
    cleanups: List[Callable] = dataclasses.field(default_factory=list)

    def cleanup(self):
        for fn in self.cleanups:
            fn()
        self.cleanups.clear()


def configure_runtime(p) -> Runtime:
    """Seeds everything, sets the Keras dtype policy and builds the strategy from the flags."""
    logical_cpus = os.environ.get(LOGICAL_CPUS_ENV)
    if logical_cpus:
        if not logical_cpus.isdigit() or int(logical_cpus) < 1:
            raise StrategyError(f"{LOGICAL_CPUS_ENV}={logical_cpus!r}: expected a positive integer")
        # Must run before anything initialises TF's devices.
        split_cpu_for_tests(int(logical_cpus))
    # The strategy comes first: seeding initialises TF's context, and a multi-worker strategy
    # must configure collective ops before that happens.
    name = resolve_strategy_name(getattr(p, "distribution_strategy", None), getattr(p, "use_tpu", False))
    strategy = create_strategy(
        name, num_gpus=getattr(p, "num_gpus", 0) or 0, tpu_name=getattr(p, "tpu_name", None),
        tpu_zone=getattr(p, "tpu_zone", None), gcp_project=getattr(p, "gcp_project", None),
        master=getattr(p, "master", None))
    seed = getattr(p, "seed", 12345)
    keras.utils.set_random_seed(seed)
    if getattr(p, "deterministic", False):
        tf.config.experimental.enable_op_determinism()
    dtype = getattr(p, "dtype", "float32") or "float32"
    keras.config.set_dtype_policy(POLICIES[dtype])
    if dtype == "bfloat16" and not _has_accelerator(strategy) and cpu_has_bfloat16() is False:
        # On a 2-core AMD EPYC with AVX2 only, bfloat16 training ran 20-22% (BERT-base) and
        # 31% (MiniLM) slower than float32.
        print("warning: --dtype=bfloat16: this CPU has no bfloat16 instructions (AVX512_BF16 "
              "or AMX), so bfloat16 is emulated and training is usually slower than with "
              "--dtype=float32", file=sys.stderr, flush=True)
    static_shapes = name == "tpu" or bool(getattr(p, "tpu_checks", False))
    enable_xla = bool(getattr(p, "enable_xla", False)) or static_shapes
    return Runtime(strategy, dtype, enable_xla, is_chief(strategy), static_shapes=static_shapes)


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> Optional[bool]:
    """Whether the CPU has bfloat16 instructions (`BFLOAT16_CPU_FLAGS`), from the `flags` lines
    of `cpuinfo`; None where that file is missing or names no flags (not Linux on x86)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            flags = set()
            for line in f:
                if line.startswith("flags"):
                    flags.update(line.partition(":")[2].split())
    except OSError:
        return None
    if not flags:
        return None
    return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)


def _has_accelerator(strategy) -> bool:
    """Whether a strategy from `create_strategy` computes on GPUs or TPUs."""
    return any(":GPU:" in d.upper() or ":TPU:" in d.upper()
               for d in strategy.extended.worker_devices)


def worker_dirs(output_dir: str, strategy):
    """(work_dir, checkpoint_dir): the chief uses output_dir; other workers a private temp dir,
    since every worker must take part in saving but only the chief's files are kept."""
    if is_chief(strategy):
        return output_dir, output_dir
    task_id = strategy.cluster_resolver.task_id
    private = os.path.join(output_dir, f".worker_{task_id}")
    tf.io.gfile.makedirs(private)  # output_dir may be gs://
    return private, private


def remove_worker_dir(path: str):
    try:
        if tf.io.gfile.exists(path):
            tf.io.gfile.rmtree(path)
    except tf.errors.OpError:
        pass  # a leftover private folder is harmless; the chief's files are what count
