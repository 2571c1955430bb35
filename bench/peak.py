"""Measured matmul peak of this machine (GFLOP/s) in float32 and bfloat16.

Each framework is measured in its own subprocess with its default CPU settings (TensorFlow:
oneDNN, intra-op threads = cores; PyTorch: `torch.set_num_threads(cores)`, MKL / oneDNN, both
`torch.mm` and `nn.functional.linear`, whose bfloat16 kernels differ) on square 1024 and 2048
matmuls and on BERT's largest shape at batch 16 x 128 tokens ([2048, 768] x [768, 3072]).
A shape is repeated for `--seconds` (best of 5 rounds); a shape whose first call already takes
over 2 s (e.g. bfloat16 without hardware support) is timed from that call and the larger
shapes are skipped. The machine peak of a dtype is the best over shapes and frameworks: the
MFU of every system divides by the same number.

Phase peaks: `bench.run_all --phase_peaks` also runs a worker per framework (`--turn_labels`)
beside the systems of each model, taking turns with them (`bench.turns`). Its operands are made and its
products run once while the workers load; then in each turn it times the turn's dtype at every
shape again (`--seconds` a shape), so every case has a peak measured within its own turns, in
the same phase of this machine's drifting speed as its steps.

    python -m bench.peak [--seconds 2]
"""

import argparse
import json
import subprocess
import sys
import time

from bench.common import RESULT_PREFIX, await_turn, cores, load_average

SHAPES = ((1024, 1024, 1024), (2048, 768, 3072), (2048, 2048, 2048))
SLOW_CALL_S = 2.0
ROUNDS = 5  # short rounds, best counts: the machine is shared


def best_rate(run, flops, seconds):
    """GFLOP/s of `run` (one product of `flops`), the best of ROUNDS rounds of `seconds` in all."""
    best = 0.0
    for _ in range(ROUNDS):
        calls, start = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / ROUNDS:
                break
        best = max(best, flops * calls / elapsed / 1e9)
    return best


def first_calls(matmul, shapes=SHAPES):
    """(label "MxKxN", run, flops, seconds of its first call) for each shape, its product made by
    `matmul(shape)` and run once; none after a first call over SLOW_CALL_S (e.g. bfloat16
    without hardware support: the larger shapes would be slower still)."""
    for m, k, n in shapes:
        run = matmul((m, k, n))
        start = time.perf_counter()
        run()
        first = time.perf_counter() - start
        yield f"{m}x{k}x{n}", run, 2.0 * m * k * n, first
        if first > SLOW_CALL_S:
            return


def time_shapes(matmul, seconds, shapes=SHAPES):
    """{"MxKxN": GFLOP/s} for `matmul(shape)` -> callable running one product to completion; a
    slow shape is timed from its first call."""
    return {label: flops / first / 1e9 if first > SLOW_CALL_S else best_rate(run, flops, seconds)
            for label, run, flops, first in first_calls(matmul, shapes)}


def tf_products(dtype):
    """({label prefix: matmul(shape) -> run}, version) for TensorFlow."""
    import tensorflow as tf

    tf_dtype = {"float32": tf.float32, "bfloat16": tf.bfloat16}[dtype]

    def matmul(shape):
        m, k, n = shape
        a = tf.cast(tf.random.normal((m, k)), tf_dtype)
        b = tf.cast(tf.random.normal((k, n)), tf_dtype)
        fn = tf.function(lambda a, b: tf.matmul(a, b)[0, 0])
        return lambda: fn(a, b).numpy()

    return {"": matmul}, f"tensorflow {tf.__version__} (oneDNN)"


def torch_products(dtype):
    """({label prefix: matmul(shape) -> run}, version) for PyTorch: `torch.mm`, and
    `nn.functional.linear`, whose bfloat16 kernels differ."""
    import torch

    torch.set_num_threads(cores())
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]

    def matmul(shape):
        m, k, n = shape
        a, b = torch.randn(m, k, dtype=torch_dtype), torch.randn(k, n, dtype=torch_dtype)
        return lambda: torch.mm(a, b)

    def linear(shape):  # nn.Linear's layout (weight [n, k])
        m, k, n = shape
        a, w = torch.randn(m, k, dtype=torch_dtype), torch.randn(n, k, dtype=torch_dtype)
        return lambda: torch.nn.functional.linear(a, w)

    return ({"": matmul, "linear ": linear},
            f"torch {torch.__version__}, {torch.get_num_threads()} threads")


PRODUCTS = {"tensorflow": tf_products, "torch": torch_products}


def measure(framework, dtype, seconds):
    """({shape label: GFLOP/s}, version) of `framework`'s products in `dtype`."""
    makers, version = PRODUCTS[framework](dtype)
    results = {}
    for prefix, matmul in makers.items():
        results.update({prefix + s: g for s, g in time_shapes(matmul, seconds).items()})
    return results, version


def prepared_products(framework, dtype, shapes=SHAPES):
    """{shape label: (run, flops)}: every product made and run once; a shape whose first call
    is over SLOW_CALL_S is left out (it would not fit a turn)."""
    makers, _ = PRODUCTS[framework](dtype)
    return {prefix + label: (run, flops) for prefix, matmul in makers.items()
            for label, run, flops, first in first_calls(matmul, shapes) if first <= SLOW_CALL_S}


def turn_dtype(label):
    """The dtype of a turn label of bench.run_all ("mode:batch:dtype #chunk")."""
    return label.split()[0].split(":")[2]


def turn_worker(framework, labels, seconds, shapes=SHAPES):
    """A phase-peak worker: in each turn, the turn's dtype timed at every prepared shape; one
    JSON line a turn ({"framework", "turn", "dtype", "gflops", "shapes"})."""
    products = {d: prepared_products(framework, d, shapes)
                for d in sorted({turn_dtype(l) for l in labels})}
    turns = argparse.Namespace(turns=True)
    for label in labels:
        await_turn(turns)
        dtype = turn_dtype(label)
        rates = {name: best_rate(run, flops, seconds)
                 for name, (run, flops) in products[dtype].items()}
        if rates:  # none when every product of the dtype is too slow for a turn
            print(RESULT_PREFIX + json.dumps({"framework": framework, "turn": label, "dtype": dtype,
                                              "gflops": max(rates.values()), "shapes": rates}),
                  flush=True)


def worker(framework, seconds):
    """Both dtypes in this process; prints one JSON line."""
    out = {}
    for dtype in ("float32", "bfloat16"):
        shapes, version = measure(framework, dtype, seconds)
        out[dtype] = {"gflops": max(shapes.values()), "shapes": shapes, "version": version}
    print(RESULT_PREFIX + json.dumps({"framework": framework, "results": out}), flush=True)


def measure_all(seconds=2.0, frameworks=("tensorflow", "torch"), env=None) -> dict:
    """Runs one subprocess per framework; returns the results.json `peak_gflops` and details."""
    details = {}
    for framework in frameworks:
        cmd = [sys.executable, "-m", "bench.peak", "--worker", framework, "--seconds", str(seconds)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        lines = [l for l in proc.stdout.splitlines() if l.startswith(RESULT_PREFIX)]
        if proc.returncode or not lines:
            print(f"peak: {framework} failed (rc {proc.returncode}): {proc.stderr[-800:]}",
                  file=sys.stderr)
            continue
        details[framework] = json.loads(lines[-1][len(RESULT_PREFIX):])["results"]
    peak, source = {}, {}
    for dtype in ("float32", "bfloat16"):
        best = max(details, key=lambda f: details[f][dtype]["gflops"], default=None)
        peak[dtype] = details[best][dtype]["gflops"] if best else None
        source[dtype] = best
    return {"peak_gflops": peak, "peak_source": source, "peak_details": details,
            "load_average": load_average()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per shape")
    parser.add_argument("--worker", choices=("tensorflow", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--turn_labels", help=argparse.SUPPRESS)  # with --worker: phase peaks
    parser.add_argument("--shapes", default=",".join("x".join(map(str, s)) for s in SHAPES),
                        help="a phase-peak worker's MxKxN products, comma-separated")
    args = parser.parse_args(argv)
    if args.worker and args.turn_labels:
        shapes = [tuple(int(d) for d in s.split("x")) for s in args.shapes.split(",")]
        turn_worker(args.worker, args.turn_labels.split(","), args.seconds, shapes)
        return 0
    if args.worker:
        worker(args.worker, args.seconds)
        return 0
    result = measure_all(args.seconds)
    print(f"matmul peak on {cores()} cores (load {result['load_average']}):")
    for framework, by_dtype in result["peak_details"].items():
        for dtype, r in by_dtype.items():
            shapes = ", ".join(f"{s} {g:.1f}" for s, g in r["shapes"].items())
            print(f"  {framework:<10} {dtype:<8} {r['gflops']:8.1f} GFLOP/s  ({shapes})")
    for dtype, gflops in result["peak_gflops"].items():
        print(f"  peak {dtype}: {gflops:.1f} GFLOP/s ({result['peak_source'][dtype]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
