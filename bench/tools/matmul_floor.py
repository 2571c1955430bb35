"""The matmul floor of a bert_tf step: its matmuls timed alone, beside the whole step.

Lists every matrix product that a bert_tf training step (or inference batch) executes, with
its shape, operand transposes and count, as the model runs it: Dense layers as 2-D products
over batch x seq rows, the forward, input-gradient (dY W^T) and weight-gradient (X^T dY)
products of each, the four batched attention products, and a [CLS]-pooled classifier's last
block for [CLS] alone (`bench.flops`, "Executed FLOPs"; the list's FLOPs equal that count,
tested). Then, in one process and in interleaved rounds, it runs the whole Trainer step once
(as `bench.bert_tf_step` builds it) and every distinct product once, with TensorFlow's own
kernels on random operands of the step's dtype, plus a 2048^3 product as a reference and a call without a product (its time, the
Python-to-TF call and fetch, is taken off each product's: small products are mostly call).

The medians give the step's matmul time alone (the floor), the whole step's time and the
share of it the matmuls explain. With `--peak_gflops` (the bench's measured peak) it also
prints the MFU the floor allows: no change outside the matmuls can lift a step above it.

    python -m bench.tools.matmul_floor --model bert_base --mode train --batch 16 --dtype float32
"""

import collections
import statistics
import tempfile
import time

from bench.common import peak_of, worker_parser
from bench.flops import step_flops

Product = collections.namedtuple("Product", "label batch m k n transpose_a transpose_b count")


def _dense(label, rows, fan_in, fan_out, count, train):
    # y[rows, out] = x[rows, in] W[in, out]; backward dX = dY W^T, dW = X^T dY.
    out = [Product(f"{label} fwd", 1, rows, fan_in, fan_out, False, False, count)]
    if train:
        out += [Product(f"{label} dX", 1, rows, fan_out, fan_in, False, True, count),
                Product(f"{label} dW", 1, fan_in, rows, fan_out, True, False, count)]
    return out


def _attention(label, groups, q_len, k_len, head, count, train):
    # scores[g, q, k] = Q[g, q, d] K^T[g, d, k]; context[g, q, d] = P[g, q, k] V[g, k, d]
    out = [Product(f"{label} QK^T", groups, q_len, head, k_len, False, False, count),
           Product(f"{label} PV", groups, q_len, k_len, head, False, False, count)]
    if train:  # dQ = dS K, dK^T = Q^T dS, dP = dC V^T, dV = P^T dC
        out += [Product(f"{label} dQ", groups, q_len, k_len, head, False, True, count),
                Product(f"{label} dK^T", groups, head, q_len, k_len, True, False, count),
                Product(f"{label} dP", groups, q_len, head, k_len, False, True, count),
                Product(f"{label} dV", groups, k_len, q_len, head, True, False, count)]
    return out


def step_products(config: dict, batch: int, seq: int, mode: str, num_labels: int = 2) -> list:
    """[Product] of one bert_tf step of a [CLS]-pooled classifier (last block for [CLS] only)."""
    train = mode == "train"
    h, inner = config["hidden_size"], config["intermediate_size"]
    layers, heads = config["num_hidden_layers"], config["num_attention_heads"]
    rows, full = batch * seq, layers - 1
    products = []
    # Every block but the last: Q, K, V, attention output (H -> H), feed-forward in and out.
    products += _dense("H->H", rows, h, h, 4 * full, train)
    products += _dense("H->I", rows, h, inner, full, train)
    products += _dense("I->H", rows, inner, h, full, train)
    products += _attention("attention", batch * heads, seq, seq, h // heads, full, train)
    # The last block: keys and values from every token; the rest for [CLS] (one row an example).
    products += _dense("last K,V", rows, h, h, 2, train)
    products += _dense("last Q,out", batch, h, h, 2, train)
    products += _dense("last H->I", batch, h, inner, 1, train)
    products += _dense("last I->H", batch, inner, h, 1, train)
    products += _attention("last attention", batch * heads, 1, seq, h // heads, 1, train)
    # Pooler and classifier: one vector an example.
    products += _dense("pooler", batch, h, h, 1, train)
    products += _dense("classifier", batch, h, num_labels, 1, train)
    return products


def flops(product: Product) -> float:
    return 2.0 * product.batch * product.m * product.k * product.n * product.count


def _runner(product: Product, dtype, multiply=True):
    """A callable that runs `product` once (operands fixed) and waits for it; with
    `multiply=False` it only passes the same operands and fetches one element (the call's
    own cost, taken off the products' times)."""
    import tensorflow as tf

    def operand(rows, cols, transpose):
        shape = (cols, rows) if transpose else (rows, cols)
        return tf.cast(tf.random.normal((product.batch,) + shape), dtype)

    a = operand(product.m, product.k, product.transpose_a)
    b = operand(product.k, product.n, product.transpose_b)
    if product.batch == 1:  # a plain 2-D MatMul, as Dense runs it
        a, b = a[0], b[0]
    if multiply:
        fn = tf.function(lambda a, b: tf.matmul(a, b, transpose_a=product.transpose_a,
                                                transpose_b=product.transpose_b), autograph=False)
    else:
        fn = tf.function(lambda a, b: a[..., :1, :1] + b[..., :1, :1], autograph=False)
    return lambda: fn(a, b).numpy().flat[0]


def _shape(product: Product):
    return product[1:7]  # batch, m, k, n, transpose_a, transpose_b


def measure(args, batch):
    """{"step_s", "products": [(Product, median seconds of one product)], "reference_gflops",
    "call_s"}: medians over the rounds; a product's time is its call's less `call_s`."""
    import tensorflow as tf

    from bench.bert_tf_step import build_trainer, infer_stepper, model_setup, train_stepper

    config, weights = model_setup(args.model)
    dtype = tf.bfloat16 if args.dtype == "bfloat16" else tf.float32
    products = step_products(config, batch, args.seq, args.mode)
    # Each shape is timed once, whatever label it stands under (e.g. "H->H" and "last K,V").
    distinct = list(dict.fromkeys(_shape(p) for p in products))
    with tempfile.TemporaryDirectory(prefix="bench-matmul-floor-") as work:
        trainer, _ = build_trainer(args, batch, config, work, weights)
        stepper = train_stepper if args.mode == "train" else infer_stepper
        step = stepper(trainer, config, batch, args.seq)
        runners = {key: _runner(Product("", *key, 1), dtype) for key in distinct}
        reference = _runner(Product("reference", 1, 2048, 2048, 2048, False, False, 1), dtype)
        call = _runner(Product("call", 1, 16, 16, 16, False, False, 1), dtype, multiply=False)
        for _ in range(max(1, args.warmup)):
            step(1)
        for run in list(runners.values()) + [reference, call]:
            run()
        times = collections.defaultdict(list)
        for _ in range(args.rounds):
            timed = [("step", lambda: step(1)), ("reference", reference), ("call", call)]
            for key, run in timed + list(runners.items()):
                start = time.perf_counter()
                run()
                times[key].append(time.perf_counter() - start)
    median = {key: statistics.median(values) for key, values in times.items()}
    call_s = median["call"]
    return {"step_s": median["step"], "config": config, "call_s": call_s,
            "products": [(p, max(median[_shape(p)] - call_s, 1e-6)) for p in products],
            "reference_gflops": 2.0 * 2048 ** 3 / median["reference"] / 1e9}


def report(args, batch, result, peak=None):
    """The table and summary lines (a list of strings)."""
    lines = [f"{'product':22s} {'[batch] m x k x n':>24s} {'count':>5s} {'ms':>8s} {'GFLOP/s':>8s}"]
    floor = 0.0
    for p, seconds in result["products"]:
        floor += seconds * p.count
        shape = (f"[{p.batch}] " if p.batch > 1 else "") + f"{p.m}x{p.k}x{p.n}"
        gflops = flops(p) / p.count / seconds / 1e9
        lines.append(f"{p.label:22s} {shape:>24s} {p.count:5d} {seconds * 1e3:8.2f} {gflops:8.1f}")
    executed = sum(flops(p) for p, _ in result["products"])
    model = step_flops(result["config"], args.seq, batch, args.mode)
    step = result["step_s"]
    lines += [
        f"{args.model} {args.mode} b{batch} s{args.seq} {args.dtype}: matmuls alone "
        f"{floor:.3f} s/step ({executed / floor / 1e9:.1f} GFLOP/s executed); whole step "
        f"{step:.3f} s; the matmuls alone are {floor / step:.0%} of the step",
        f"(each product's time is its call's median less {result['call_s'] * 1e3:.2f} ms, the "
        f"median of a call that only passes operands and fetches one element)",
        f"reference 2048^3 product in the same rounds: {result['reference_gflops']:.1f} GFLOP/s; "
        f"the step's products alone run at {executed / floor / 1e9 / result['reference_gflops']:.0%} of it"]
    if peak:
        lines.append(f"MFU against {peak:.1f} GFLOP/s: whole step {model / step / 1e9 / peak:.1%}; "
                     f"at most {model / floor / 1e9 / peak:.1%} with nothing but the matmuls")
    return lines


def main(argv=None):
    parser = worker_parser(__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians count")
    parser.add_argument("--optimizer", default="adamw_google")
    parser.add_argument("--pooling", default="cls", choices=("cls",))
    parser.set_defaults(warmup=2, xla=False)
    args = parser.parse_args(argv)
    if args.mode not in ("train", "infer") or args.dtype not in ("float32", "bfloat16"):
        parser.error("--mode is train or infer, --dtype float32 or bfloat16 (one of each)")
    batch = int(args.batch.split(",")[0])
    peak = peak_of(args, args.dtype)
    print("\n".join(report(args, batch, measure(args, batch), peak)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
