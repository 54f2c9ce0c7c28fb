#!/usr/bin/env python3
"""Times the oracle against MONAI and plain PyTorch on the same inputs, in one run.

For each configuration (MONAI's AsymmetricUnifiedFocalLoss, channels-first, two classes, on one
128^3 volume and on a batch of four 256^2 slices, float32 and float64 inputs) and each thread
count (1 and 2), one round times, one after the other:

- the oracle: ``value+grad/asym/monai/cf/...`` of ``benches/fast.rs`` (criterion median; the
  bench checks its answer against the generic evaluator before timing it), which computes in
  f64 with compensated sums whatever the input dtype;
- MONAI 1.6.1 ``AsymmetricUnifiedFocalLoss()`` forward and backward, in the input dtype;
- the same loss written in plain PyTorch operations, forward and backward, in the input dtype;

- the memory floor of the same configuration: ``floor/read2/...`` (read the prediction and
  the target once) plus ``floor/read2write1/...`` (read both and write an array of their size),
  the least time any value and gradient that reads its inputs twice and writes the gradient
  once can take on this machine (criterion medians, one thread);

and rounds repeat (``--rounds``), so that every side sees the same machine load. The arrays are
the bench's own inputs (exported with ``UFL_BENCH_EXPORT``). The medians over rounds and their
ratios (to MONAI, to plain torch, and the oracle's to the floor) are printed as a Markdown
table, with the machine, its instruction set, the allocator setting and the date.

``--isa avx512|avx2|scalar`` runs the oracle's element code for that instruction set
(``UFL_BENCH_ISA``; default the widest the processor has), so that one machine measures each.

The allocator: by default the script re-executes itself with glibc's
``MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000`` (freed memory is kept and
reused, as a long-running training process effectively has it); ``--default-allocator`` keeps
glibc's defaults. The setting applies to both sides.

Not part of CI. Needs ``torch`` and ``monai==1.6.1`` (``pip install torch monai==1.6.1``) and a
Rust toolchain; run from anywhere: ``python3 benches/compare_torch.py [--rounds 5]``.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUNED = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}
CONFIGS = [
    ("f64", "1x2x128x128x128"),
    ("f32", "1x2x128x128x128"),
    ("f64", "4x2x256x256"),
    ("f32", "4x2x256x256"),
]


def bench_name(dtype, shape):
    return f"asym/monai/cf/{dtype}/{shape}"


def build_bench():
    """Builds benches/fast.rs and returns the path of its executable."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "fast", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "fast" \
                and msg.get("executable"):
            return msg["executable"]
    raise SystemExit("could not find the bench executable")


def export_inputs(exe, folder):
    env = dict(os.environ, UFL_BENCH_EXPORT=folder)
    for dtype, shape in CONFIGS:
        subprocess.run([exe, "--bench", bench_name(dtype, shape)], cwd=ROOT, env=env, check=True,
                       capture_output=True)


def time_bench(exe, mode, dtype, shape, threads, criterion_home, isa):
    """The criterion median (seconds) of bench ``mode/<configuration>``."""
    name = f"{mode}/{bench_name(dtype, shape)}"
    env = dict(os.environ, UFL_BENCH_THREADS=str(threads), CRITERION_HOME=criterion_home)
    if isa:
        env["UFL_BENCH_ISA"] = isa
    subprocess.run([exe, "--bench", "--noplot", "--exact", name], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    folder = os.path.join(criterion_home, name.replace("/", "_"), "new", "estimates.json")
    with open(folder) as f:
        return json.load(f)["median"]["point_estimate"] * 1e-9


def instruction_set(isa):
    """The widest vector extension this processor has, and the one the oracle runs."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next(l for l in f if l.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        pass
    widest = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "baseline"
    return f"processor: {widest}; oracle element code: {isa or 'the widest'}"


def plain_torch_loss(torch, p, y, delta=0.7, gamma=0.5, weight=0.5, eps=1e-7):
    """MONAI's AsymmetricUnifiedFocalLoss (two channels, no one-hot, no mask) in plain ops."""
    q = p.clamp(eps, 1.0 - eps)
    ce = -y * torch.log(q)
    back = (1.0 - delta) * torch.pow(1.0 - q[:, 0], gamma) * ce[:, 0]
    fore = delta * ce[:, 1]
    focal = (back.sum() + fore.sum()) / (2 * back.numel())
    dims = tuple(range(2, p.dim()))
    tp = (y * q).sum(dims)
    fn = (y * (1.0 - q)).sum(dims)
    fp = ((1.0 - y) * q).sum(dims)
    ti = (tp + eps) / (tp + delta * fn + (1.0 - delta) * fp + eps)
    tversky = torch.stack([1.0 - ti[:, 0], torch.pow(1.0 - ti[:, 1], 1.0 - gamma)], -1).mean()
    return weight * focal + (1.0 - weight) * tversky


def time_torch(torch, fn, pred, target, threads, repeats):
    """Median seconds of forward and backward."""
    torch.set_num_threads(threads)
    times = []
    for _ in range(repeats + 2):
        pred.grad = None
        t0 = time.perf_counter()
        loss = fn(pred, target)
        loss.backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:]), float(loss.detach())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=9, help="torch iterations per round")
    ap.add_argument("--default-allocator", action="store_true")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--isa", choices=["avx512", "avx2", "scalar"],
                    help="the oracle's element code (default: the widest available)")
    args = ap.parse_args()
    if not args.default_allocator and any(os.environ.get(k) != v for k, v in TUNED.items()):
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, **TUNED))
    try:
        import numpy as np
        import torch
        import monai
        from monai.losses import AsymmetricUnifiedFocalLoss
    except ImportError as e:
        raise SystemExit(f"needs torch and monai==1.6.1 ({e})")
    threads = [int(t) for t in args.threads.split(",")]
    exe = build_bench()
    work = tempfile.mkdtemp(prefix="ufl-compare-")
    export_inputs(exe, work)
    criterion_home = os.path.join(work, "criterion")
    monai_loss = AsymmetricUnifiedFocalLoss()
    inputs = {}
    for dtype, shape in CONFIGS:
        stem = os.path.join(work, bench_name(dtype, shape).replace("/", "_"))
        tdtype = torch.float32 if dtype == "f32" else torch.float64
        p = torch.from_numpy(np.load(stem + ".pred.npy")).to(tdtype).requires_grad_(True)
        y = torch.from_numpy(np.load(stem + ".target.npy")).to(tdtype)
        inputs[(dtype, shape)] = (p, y)
    results = {}  # (dtype, shape, threads, side) -> [seconds per round]
    values = {}
    for r in range(args.rounds):
        for dtype, shape in CONFIGS:
            p, y = inputs[(dtype, shape)]
            for t in threads:
                key = (dtype, shape, t)
                results.setdefault(key + ("oracle",), []).append(
                    time_bench(exe, "value+grad", dtype, shape, t, criterion_home, args.isa))
                s, v = time_torch(torch, monai_loss, p, y, t, args.repeats)
                results.setdefault(key + ("monai",), []).append(s)
                values[(dtype, shape, "monai")] = v
                s, v = time_torch(torch, lambda a, b: plain_torch_loss(torch, a, b), p, y, t,
                                  args.repeats)
                results.setdefault(key + ("plain",), []).append(s)
                values[(dtype, shape, "plain")] = v
            # The floor: one thread (its loops are not parallel), every round.
            results.setdefault((dtype, shape, "floor"), []).append(sum(
                time_bench(exe, mode, dtype, shape, 1, criterion_home, None)
                for mode in ("floor/read2", "floor/read2write1")))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    alloc = "glibc defaults" if args.default_allocator else \
        "MALLOC_MMAP_THRESHOLD_=1e9 MALLOC_TRIM_THRESHOLD_=1e9"
    print(f"\n{datetime.date.today()}, {cpu}, {os.cpu_count()} cores, {platform.system()}; "
          f"{instruction_set(args.isa)}; "
          f"torch {torch.__version__}, monai {monai.__version__}; allocator: {alloc}; "
          f"medians over {args.rounds} alternating rounds\n")
    print("| input | shape | threads | oracle (f64, value+grad) | MONAI fwd+bwd | plain torch "
          "fwd+bwd | MONAI / oracle | plain / oracle | floor (1 thread) | oracle / floor |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    med = {k: statistics.median(v) for k, v in results.items()}
    for dtype, shape in CONFIGS:
        fl = med[(dtype, shape, "floor")]
        for t in threads:
            o, m, pl = (med[(dtype, shape, t, s)] for s in ("oracle", "monai", "plain"))
            print(f"| {dtype} | {shape} | {t} | {o * 1e3:.1f} ms | {m * 1e3:.1f} ms | "
                  f"{pl * 1e3:.1f} ms | {m / o:.1f}x | {pl / o:.1f}x | {fl * 1e3:.1f} ms | "
                  f"{o / fl:.2f}x |")
    if 1 in threads and 2 in threads:
        print()
        for dtype, shape in CONFIGS:
            o1, o2 = med[(dtype, shape, 1, "oracle")], med[(dtype, shape, 2, "oracle")]
            print(f"oracle {dtype} {shape}: 2 threads {o1 / o2:.2f}x faster than 1")
    print()
    for dtype, shape in CONFIGS:
        stem = os.path.join(work, bench_name(dtype, shape).replace("/", "_"))
        out = subprocess.run(
            ["cargo", "run", "--release", "--quiet", "--features", "cli", "--", "eval", "-f",
             "asym_unified_focal_loss", "-c", "monai", "--pred", stem + ".pred.npy",
             "--target", stem + ".target.npy", "--dtype",
             "float32" if dtype == "f32" else "float64", "--json"],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
        values[(dtype, shape, "oracle")] = float(json.loads(out)["loss"])
    for (dtype, shape, side), v in sorted(values.items()):
        print(f"loss {side:6} {dtype} {shape}: {v:.10g}")


if __name__ == "__main__":
    main()
