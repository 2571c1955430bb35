"""The whole benchmark (`make bench`) or its quick part (`make bench-quick`): a table on stdout
and `bench/results.json`.

Order: the matmul peak (`bench.peak`, TF and torch; TF's measured again at the end, and the
better of the two counts, since the machine may be shared); then, per model, one subprocess
per system -- bert_tf (`bench.bert_tf_step`), keras-hub (`bench.peers_keras_hub`), HF torch
(`bench.peers_hf_torch`) -- all loaded at once and taking turns, timed chunk by timed chunk
(`bench.turns`: one runs at a time, the three systems of a case back to back, the first one
rotating), each case a training step or inference at batch 16 or 32, seq 128, float32 then
bfloat16; then length bucketing (`bench.bucketing`) and the drug-review end-to-end fine-tune
(`bench.end_to_end`). With `--phase_peaks`, a phase-peak worker per framework (`bench.peak
--turn_labels`) also takes every turn beside the systems and measures the matmul peak of the
turn's dtype there, so each case has a peak of its own phase as well (this machine's speed
drifts within a run). Off by default: the two workers take about 1 GB more, and the BERT-base
turns of the full bench already use up to 22 GB on a 24 GB machine. `--quick`:
the peak and BERT-base float32 training at batch 16 for the three systems only.

Steps (few, for 2 cores; see `bench.common.measure`): 1 warm-up step (it traces) then 2 timed
steps, best counts, each timed step a turn of its own (the systems alternate: A B C, B C A);
BERT-base 2 timed steps in training and 1 in inference (2 everywhere took the full bench to
18.2 min on a 2-core Xeon, too near 20; with 1 everywhere one slow step decided a training
ratio). A case
whose estimated time (its FLOPs at half its framework's slowest measured matmul shape for that
dtype, over its steps) exceeds `--max_case_s` is not run but listed under `skipped` with that estimate
(PyTorch bfloat16 on a CPU without AVX512-BF16/AMX: its matmuls run at a few GFLOP/s).
Environment: bert_tf runs as it ships: importing it turns on TF's BFC CPU allocator and oneDNN
(bert_tf/__init__.py). keras-hub runs with TF's documented CPU switch `TF_ENABLE_ONEDNN_OPTS=1`
and TF's default allocator; HF torch with its defaults. `--tf_defaults` also times keras-hub's
BERT-base fp32 training once more at TF's defaults (`keras_hub_tf_defaults`: on CPUs without
AVX512-VNNI/BF16 or AMX that means no oneDNN), which is what a keras-hub user gets unless they
set the switch (off by default: its steps alone took 64 s of a 24-minute run on a 2-core AMD
EPYC). `--jemalloc` preloads
jemalloc for every system (measured here: it slows HF torch and gains TF less than the BFC
allocator, so it is off by default).

results.json: {"peak_gflops": {"float32", "bfloat16"}, "runs": [{"system", "model", "mode",
"batch", "seq", "dtype", "examples_per_s", "mfu", ...}], "skipped": [...], "bucketing": {...},
"end_to_end": {...}, "targets": [...], "machine": {...}, "phase_seconds": [{"phase",
"seconds"}] (where the run's time went), "phase_peaks": [{"framework", "model", "turn", "dtype",
"gflops", "shapes"}] with `--phase_peaks`}; written atomically. `mfu` divides by the run's best
peak (phase peaks included); `mfu_phase` by `phase_peak_gflops`, the best peak measured in the
case's own turns. `targets` and the printed summary judge the run against the CPU targets
(`bench.summary`): BERT-base float32 training at >= 85% of the matmul peak, and bert_tf ahead of
keras-hub and HF at every shape.

    python -m bench.run_all [--quick] [--output bench/results.json] [--show]
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from bench.common import (DTYPES, MODELS, MODES, RESULT_PREFIX, SYSTEMS, TF_TUNING_VARS,
                          case_steps, chunk_count, cores, cpu_model, load_average,
                          model_config)
from bench.flops import mfu, step_flops
from bench.summary import check_targets, markdown_table, table
from bench.turns import run_in_turns

WORKERS = {"bert_tf": "bench.bert_tf_step", "keras_hub": "bench.peers_keras_hub",
           "hf_torch": "bench.peers_hf_torch"}
FRAMEWORK = {"bert_tf": "tensorflow", "keras_hub": "tensorflow", "hf_torch": "torch"}
STEPS = {"bert_base": dict(warmup=1, steps=1, repeats=1, train_steps=2, budget_s=60.0),
         "minilm": dict(warmup=1, steps=2, repeats=2, budget_s=20.0)}
QUICK_STEPS = dict(warmup=1, steps=2, repeats=2, budget_s=60.0)
JEMALLOC = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2")
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")


def plan(quick, systems=SYSTEMS, models=MODELS, dtypes=DTYPES, batches=(16, 32)):
    """[(system, model, [(dtype, mode, batch)], steps)] in run order: one worker per entry."""
    if quick:
        return [(s, "bert_base", [("float32", "train", 16)], QUICK_STEPS) for s in systems]
    return [(s, m, [(d, mode, b) for d in dtypes for mode in MODES for b in batches], STEPS[m])
            for m in models for s in systems]


def estimate_case_s(system, model, dtype, mode, batch, steps, peak_details):
    """Seconds a case should take at half its framework's slowest measured matmul shape (a
    model uses them all: torch bf16 ran 20 GFLOP/s through `linear` but 0.9 through `matmul`
    on an AVX2 CPU); None if unknown."""
    by_dtype = peak_details.get(FRAMEWORK[system], {}).get(dtype)
    if not by_dtype or not by_dtype.get("gflops"):
        return None
    rate = min([g for g in (by_dtype.get("shapes") or {}).values() if g] or [by_dtype["gflops"]])
    step_s = step_flops(model_config(model), 128, batch, mode) / (0.5 * rate * 1e9)
    return step_s * (steps["warmup"] + timed_steps(steps, mode)[0])


def timed_steps(steps, mode):
    """(timed steps, chunks) of a `mode` case under a STEPS entry (`bench.common.case_steps`)."""
    return case_steps(mode, steps["steps"], steps.get("repeats", steps["steps"]),
                      steps.get("train_steps"))


def case_turns(cases, steps):
    """The turn labels of `mode:batch:dtype` cases under a STEPS entry: one per timed chunk."""
    return [f"{case} #{k + 1}" for case in cases
            for k in range(chunk_count(*timed_steps(steps, case.split(":")[0])))]


# Per system: the TF settings its subprocess gets (the others in TF_TUNING_VARS are unset).
SYSTEM_TF_ENV = {"bert_tf": {},  # bert_tf sets its own defaults when imported
                 "keras_hub": {"TF_ENABLE_ONEDNN_OPTS": "1"},
                 "hf_torch": {},
                 "peak": {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPU_ALLOCATOR_USE_BFC": "true"},
                 "keras_hub_tf_defaults": {}}


def worker_env(jemalloc=False, system=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    for key in TF_TUNING_VARS:
        env.pop(key, None)
    env.update(SYSTEM_TF_ENV.get(system, {}))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    lib = next((p for p in JEMALLOC if os.path.exists(p)), None) if jemalloc else None
    if lib:
        env["LD_PRELOAD"] = lib
    return env


PHASE_PEAK_SECONDS = 0.4  # a shape's timing in each turn: about 3.5 s a turn for TF and torch


def phase_peak_jobs(turns, peak, env):
    """bench.turns jobs that measure the matmul peak in every turn of `turns`: one worker per
    framework whose start-of-run peak was measured (`bench.peak --turn_labels`)."""
    return [(f"peak_{framework}",
             [sys.executable, "-m", "bench.peak", "--worker", framework, "--seconds",
              str(PHASE_PEAK_SECONDS), "--turn_labels", ",".join(turns)], env, list(turns))
            for framework in ("tensorflow", "torch") if framework in peak["peak_details"]]


def run_json_worker(cmd, env, timeout):
    """Runs a worker, echoes its human lines, returns (JSON results, error or None)."""
    results, out_lines = [], []
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        results = [json.loads(l[len(RESULT_PREFIX):]) for l in out.splitlines()
                   if l.startswith(RESULT_PREFIX)]
        return results, f"timed out after {timeout} s"
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            results.append(json.loads(line[len(RESULT_PREFIX):]))
        else:
            out_lines.append(line)
    for line in out_lines:
        echo_worker_line(line)
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
        return results, f"rc {proc.returncode}: {tail}"
    return results, None


def echo_worker_line(line):
    """Prints a worker's result lines (not its logging)."""
    if line.startswith(("bert_tf ", "keras_hub ", "hf_torch ", "bucketing ", "end-to-end ",
                        "bert_tf_keras_jax ")):
        print("  " + line, flush=True)


def phase_peak(phase_peaks, model, mode, batch, dtype):
    """The best matmul peak (GFLOP/s) the phase-peak workers measured in the turns of one case
    (every framework, every chunk of the case), or None."""
    case = f"{mode}:{batch}:{dtype}"
    found = [p["gflops"] for p in phase_peaks or ()
             if p.get("model") == model and p["turn"].split(" #")[0] == case]
    return max(found) if found else None


def fold_phase_peaks(results):
    """Makes `peak_gflops` the best of every peak the run measured, its phase peaks included
    (`peak_source` then names the framework and turn)."""
    for p in results.get("phase_peaks") or ():
        if p["gflops"] > (results["peak_gflops"].get(p["dtype"]) or 0):
            results["peak_gflops"][p["dtype"]] = p["gflops"]
            results["peak_source"][p["dtype"]] = f"{p['framework']} ({p['model']} {p['turn']})"


def add_mfu(rows, peak, phase_peaks=None):
    """Sets each row's `mfu` (model FLOPs, the same count for every system) and, for bert_tf's
    [CLS]-pooled rows, `executed_utilisation` (the FLOPs its [CLS]-only last block runs).
    With `phase_peaks`, also `phase_peak_gflops` and `mfu_phase`: the same FLOPs over the
    peak measured in the case's own turns."""
    for row in rows:
        config = model_config(row["model"]) if row["model"] in MODELS else None
        if config:
            args = (config, row["seq"], row["mode"], row["examples_per_s"], peak.get(row["dtype"]))
            row["mfu"] = mfu(*args)
            if row["system"] == "bert_tf" and row.get("pooling", "cls") == "cls":
                row["executed_utilisation"] = mfu(*args, pooled_only=True)
            local = phase_peak(phase_peaks, row["model"], row["mode"], row["batch"], row["dtype"])
            if local:
                row["phase_peak_gflops"] = local
                row["mfu_phase"] = mfu(*args[:4], local)
    return rows


def write_results(path, results):
    """Writes results.json atomically (temp file in the same folder, then os.replace)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".results-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, sort_keys=False)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    from bench.peak import measure_all

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="BERT-base fp32 train b16 + peak")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--show", action="store_true", help="print the table of --output only")
    parser.add_argument("--markdown", action="store_true", help="with --show: a Markdown table")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--max_case_s", type=float, default=240.0)
    parser.add_argument("--timeout", type=int, default=1200, help="per worker subprocess")
    parser.add_argument("--jemalloc", action="store_true", help="LD_PRELOAD jemalloc everywhere")
    parser.add_argument("--skip", default="", help="comma list of parts: bucketing,end_to_end")
    parser.add_argument("--tf_defaults", action="store_true",
                        help="also time keras-hub BERT-base fp32 training at TF's default settings")
    parser.add_argument("--phase_peaks", action="store_true",
                        help="also measure the matmul peak in every turn (two more workers, "
                             "about 1 GB)")
    parser.add_argument("--e2e_train_examples", type=int, default=200,
                        help="drug-review training examples for end_to_end (600: all)")
    args = parser.parse_args(argv)
    if args.show:
        with open(args.output, encoding="utf-8") as f:
            data = json.load(f)
        print(markdown_table(data) if args.markdown else table(data))
        return 0

    started = time.perf_counter()
    envs = {name: worker_env(args.jemalloc, name) for name in SYSTEM_TF_ENV}
    env = envs["bert_tf"]  # for the machine record (LD_PRELOAD is the same in all)
    results = {"kind": "quick" if args.quick else "full", "peak_gflops": {}, "runs": [],
               "skipped": [], "errors": [], "load_average_start": load_average(),
               "machine": {"cores": cores(), "cpu": platform.processor() or platform.machine(),
                           "cpu_model": cpu_model(),
                           "python": platform.python_version(),
                           "ld_preload": env.get("LD_PRELOAD")}}
    print(f"bench ({results['kind']}): {cores()} cores, load {load_average()}, "
          f"LD_PRELOAD={env.get('LD_PRELOAD') or '-'}", flush=True)
    phases = results["phase_seconds"] = []

    @contextlib.contextmanager
    def phase(name):
        since = time.perf_counter()
        yield
        phases.append({"phase": name, "seconds": time.perf_counter() - since})

    with phase("peak (tensorflow, torch)"):
        peak = measure_all(1.5, env=envs["peak"])
    results.update(peak_gflops=peak["peak_gflops"], peak_source=peak["peak_source"],
                   peak_details=peak["peak_details"])
    print("peak GFLOP/s: " + ", ".join(f"{d} {g or 0:.1f} ({peak['peak_source'][d]})"
                                       for d, g in peak["peak_gflops"].items()), flush=True)

    split = lambda s: [x for x in s.split(",") if x]
    peaks = ",".join(f"{d}={g}" for d, g in peak["peak_gflops"].items() if g)
    by_model, orders = {}, {}
    for system, model, case_list, steps in plan(args.quick, split(args.systems),
                                                split(args.models), split(args.dtypes)):
        # A turn per timed chunk: the systems alternate within a case too (bench.turns).
        orders.setdefault(model, case_turns([f"{mode}:{batch}:{dtype}"
                                             for dtype, mode, batch in case_list], steps))
        run_cases = []
        for dtype, mode, batch in case_list:
            est = estimate_case_s(system, model, dtype, mode, batch, steps, peak["peak_details"])
            if est is not None and est > args.max_case_s:
                fw = peak["peak_details"][FRAMEWORK[system]][dtype]["gflops"]
                results["skipped"].append({
                    "system": system, "model": model, "mode": mode, "batch": batch, "seq": 128,
                    "dtype": dtype, "estimated_seconds": est,
                    "estimated_examples_per_s":
                        batch * (steps["warmup"] + timed_steps(steps, mode)[0]) / est,
                    "reason": f"estimated {est:.0f} s > --max_case_s {args.max_case_s:.0f} "
                              f"({FRAMEWORK[system]} {dtype} matmul peak {fw:.1f} GFLOP/s)"})
            else:
                run_cases.append(f"{mode}:{batch}:{dtype}")
        if not run_cases:
            continue
        cmd = [sys.executable, "-m", WORKERS[system], "--model", model, "--cases",
               ",".join(run_cases), "--json", "--turns", "--peak_gflops", peaks]
        cmd += [f"--{k}={v}" for k, v in steps.items()]
        turns = case_turns(run_cases, steps)
        by_model.setdefault(model, []).append((system, cmd, envs[system], turns))

    phase_peaks = []
    if args.phase_peaks:
        results["phase_peaks"] = phase_peaks
    for model, jobs in by_model.items():
        # The model's systems all loaded at once, taking turns case by case (bench.turns).
        print(f"{model}: {', '.join(j[0] for j in jobs)} in turns, case by case "
              f"(load {load_average()})", flush=True)
        with phase(f"{model} ({', '.join(j[0] for j in jobs)} in turns)"):
            extra = phase_peak_jobs(orders[model], peak, envs["peak"]) if args.phase_peaks else []
            outcome = run_in_turns(jobs + extra, args.timeout, orders[model],
                                   echo=echo_worker_line)
        for system, (rows, error) in outcome.items():
            if system.startswith("peak_"):
                phase_peaks += [dict(r, model=model) for r in rows]
            else:
                results["runs"] += rows
            if error:
                results["errors"].append(f"{system} {model}: {error}")
                print(f"  error: {system} {model}: {error}", flush=True)
        add_mfu(results["runs"], peak["peak_gflops"], phase_peaks)
        write_results(args.output, results)  # partial results survive an interrupted run

    if (args.tf_defaults and not args.quick and "keras_hub" in split(args.systems)
            and "bert_base" in split(args.models)):
        print(f"keras_hub bert_base train:16:float32 at TF's defaults (load {load_average()})",
              flush=True)
        cmd = [sys.executable, "-m", WORKERS["keras_hub"], "--model", "bert_base", "--cases",
               "train:16:float32", "--json", "--peak_gflops", peaks]
        cmd += [f"--{k}={v}" for k, v in STEPS["bert_base"].items()]
        with phase("keras_hub bert_base at TF's defaults"):
            rows, error = run_json_worker(cmd, envs["keras_hub_tf_defaults"], args.timeout)
        results["keras_hub_tf_defaults"] = add_mfu(rows, peak["peak_gflops"])
        if error:
            results["errors"].append(f"keras_hub at TF defaults: {error}")

    skip = split(args.skip)
    if not args.quick and "bucketing" not in skip and "bert_tf" in split(args.systems):
        print(f"bucketing (load {load_average()})", flush=True)
        with phase("bucketing"):
            out, error = run_json_worker([sys.executable, "-m", "bench.bucketing", "--json"],
                                         envs["bert_tf"], args.timeout)
        results["bucketing"] = out[-1] if out else None
        if error:
            results["errors"].append(f"bucketing: {error}")
    if not args.quick and "end_to_end" not in skip:
        print(f"end-to-end (load {load_average()})", flush=True)
        with phase("end-to-end"):
            out, error = run_json_worker(
                [sys.executable, "-m", "bench.end_to_end", "--json",
                 f"--train_examples={args.e2e_train_examples}"], envs["bert_tf"], args.timeout * 2)
        results["end_to_end"] = out[-1] if out else None
        if error:
            results["errors"].append(f"end_to_end: {error}")
    # TF's peak again at the end: on a shared machine the better of the two is the machine's.
    # torch's is measured once, at the start (the skip estimates need it); it counts as well.
    with phase("peak again (tensorflow)"):
        end = measure_all(1.5, frameworks=("tensorflow",), env=envs["peak"])
    for dtype, gflops in end["peak_gflops"].items():
        if gflops and gflops > (results["peak_gflops"].get(dtype) or 0):
            results["peak_gflops"][dtype] = gflops
            results["peak_source"][dtype] = end["peak_source"][dtype] + " (end of run)"
    results["peak_details_end"] = end["peak_details"]
    fold_phase_peaks(results)
    add_mfu(results["runs"], results["peak_gflops"], phase_peaks)
    results["seconds"] = time.perf_counter() - started
    results["targets"] = check_targets(results)
    results["load_average_end"] = load_average()
    write_results(args.output, results)
    print("\n" + table(results) + f"\nwrote {args.output}", flush=True)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
