"""bert_tf.training.runtime: reading the CPU's bfloat16 support from /proc/cpuinfo."""

import pytest

from bert_tf.training.runtime import cpu_has_bfloat16

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
