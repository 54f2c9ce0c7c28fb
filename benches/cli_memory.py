#!/usr/bin/env python3
"""Peak memory of the command line's `eval --grad-out` on one large volume, against the bytes it
must hold: the inputs as their files store them plus the gradient as written (float64).

Writes a segmentation-like prediction and one-hot target of shape (1, 2, 128, 128, 128)
(channels-first, MONAI's asymmetric unified focal loss) as float32 and as float64 `.npy` files
(no numpy needed), runs `ufl-oracle eval -f asym_unified_focal_loss -c monai --pred P --target T
--grad-out G` under `/usr/bin/time -v` for each, with glibc's default allocator, and prints the
peak resident set size and its ratio to that floor. With ``--functions`` it then runs, on the
float32 files, every function and option of ``FUNCTIONS`` below (the fast path's and the ones
that stay generic, MONAI's ``to_onehot_y`` on a (1, 1, 128, 128, 128) label map) and prints each
one's wall time and peak RSS, the median of ``--runs`` runs. Not part of CI; needs
`/usr/bin/time` (Debian's `time` package) and a release build (`cargo build --release --features
cli`); run from anywhere: ``python3 benches/cli_memory.py [--edge 128] [--binary PATH]
[--functions] [--runs 3]``.
"""

import argparse
import array
import os
import random
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_npy(path, shape, values, code):
    """A C-order little-endian .npy file of `values` (an array.array of type `code`)."""
    descr = {"f": "<f4", "d": "<f8"}[code]
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join(f"{d}, " for d in shape).rstrip(" "))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    if sys.byteorder != "little":
        values = array.array(code, values)
        values.byteswap()
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
        values.tofile(f)


def inputs(edge):
    """Class-1 probability sigmoid(z), z noisy around the label (30% foreground), class 0 its
    complement; channels-first (1, 2, edge, edge, edge)."""
    rng = random.Random(7)
    n = edge ** 3
    p1, y1 = array.array("d", bytes(8 * n)), array.array("d", bytes(8 * n))
    for i in range(n):
        fg = rng.random() < 0.3
        z = (2.0 if fg else -2.0) + 3.0 * (rng.random() + rng.random() - 1.0)
        p1[i] = 1.0 / (1.0 + 2.718281828459045 ** (-z))
        y1[i] = 1.0 if fg else 0.0
    return p1, y1


# (function, convention, layout, parameters, label-map target): the volume's inputs are
# channels-first; `original` reads them as such with --layout.
FUNCTIONS = [
    ("asym_unified_focal_loss", "monai", None, [], False),
    ("asym_unified_focal_loss", "monai", None, ["to_onehot_y=true"], True),
    ("asymmetric_focal_loss", "monai", None, [], False),
    ("asymmetric_focal_tversky_loss", "monai", None, [], False),
    ("asym_unified_focal_loss", "original", "channels-first", [], False),
    ("symmetric_focal_loss", "original", "channels-first", [], False),
    ("asymmetric_focal_tversky_loss", "original", "channels-first", [], False),
    ("asymmetric_focal_loss", "paper", "channels-first", [], False),
    ("focal_loss", "original", "channels-first", [], False),
    ("combo_loss", "original", "channels-first", [], False),
    ("asym_unified_focal_loss", "paper", "channels-first", ["input=logits"], False),
]


def measure(cmd):
    """(peak RSS in KiB, wall seconds) of one run."""
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout}{out.stderr}")
    kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)",
                     out.stderr)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return kib, seconds


def peak_kib(cmd):
    return measure(cmd)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge", type=int, default=128)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ufl-oracle"))
    ap.add_argument("--functions", action="store_true",
                    help="also time every function of FUNCTIONS on the float32 files")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    shape = (1, 2, args.edge, args.edge, args.edge)
    n = 2 * args.edge ** 3
    p1, y1 = inputs(args.edge)
    work = tempfile.mkdtemp(prefix="ufl-memory-")
    env_clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    os.environ.clear()
    os.environ.update(env_clean)
    print(f"| input files | inputs as stored | gradient (float64) | peak RSS | peak / (inputs + gradient) |")
    print("|---|---|---|---|---|")
    for code, name, width in [("f", "float32", 4), ("d", "float64", 8)]:
        # float32 values are rounded to float32 first, and the complement taken in float32.
        p = array.array(code, bytes(width * n))
        y = array.array(code, bytes(width * n))
        half = n // 2
        for i in range(half):
            v = array.array(code, [p1[i]])[0]
            p[half + i] = v
            p[i] = array.array(code, [1.0 - v])[0]
            y[half + i] = y1[i]
            y[i] = 1.0 - y1[i]
        pred, target = os.path.join(work, f"p_{name}.npy"), os.path.join(work, f"t_{name}.npy")
        write_npy(pred, shape, p, code)
        write_npy(target, shape, y, code)
        del p, y
        grad = os.path.join(work, f"g_{name}.npy")
        kib = peak_kib([args.binary, "eval", "-f", "asym_unified_focal_loss", "-c", "monai",
                        "--pred", pred, "--target", target, "--grad-out", grad])
        inputs_kib = 2 * n * width // 1024
        grad_kib = n * 8 // 1024
        print(f"| {name} | {inputs_kib:,} KiB | {grad_kib:,} KiB | {kib:,} KiB | "
              f"{kib / (inputs_kib + grad_kib):.3f}× |")
    if not args.functions:
        return
    labels = os.path.join(work, "labels_float32.npy")
    write_npy(labels, (1, 1) + shape[2:], array.array("f", y1), "f")
    pred, target = os.path.join(work, "p_float32.npy"), os.path.join(work, "t_float32.npy")
    print(f"\nfloat32 files, median of {args.runs} runs:\n")
    print("| function | convention | options | wall | peak RSS |")
    print("|---|---|---|---|---|")
    for function, convention, layout, params, label_map in FUNCTIONS:
        cmd = [args.binary, "eval", "-f", function, "-c", convention, "--pred", pred,
               "--target", labels if label_map else target,
               "--grad-out", os.path.join(work, "g.npy")]
        if layout:
            cmd += ["--layout", layout]
        for p in params:
            cmd += ["-p", p]
        runs = sorted(measure(cmd) for _ in range(args.runs))
        kib = sorted(r[0] for r in runs)[len(runs) // 2]
        wall = sorted(r[1] for r in runs)[len(runs) // 2]
        print(f"| `{function}` | {convention} | {' '.join(params) or '—'} | {wall:.2f} s | "
              f"{kib / 1024:.0f} MiB |")


if __name__ == "__main__":
    main()
