#!/usr/bin/env python3
"""Compares two `ufl-results/1` files (or a results file and a fixture file) case by case.

    python3 compare_results.py A B

Prints one line per case whose loss, gradient or error differs (bit for bit; NaN equals NaN):
the number of differing gradient entries, the largest absolute difference between finite
entries, and how many entries are finite in one file and not in the other. Ends with a
count. Arrays must be inline (no .npy paths). Standard library only.
"""
import json
import math
import sys

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def number(x):
    return NONFINITE[x] if isinstance(x, str) else x


def flat(v):
    if v is None:
        return None
    return [number(x) for x in v] if isinstance(v, list) else [number(v)]


def same(x, y):
    return x == y and math.copysign(1, x) == math.copysign(1, y) or (x != x and y != y)


def load(path):
    with open(path) as f:
        return {c["id"]: c for c in json.load(f)["cases"]}


def outcome(c):
    if c.get("skip") is not None:
        return ("skip", None, None)
    if c.get("error") is not None:
        return ("error", c["error"], None)
    return ("value", flat(c.get("loss")), flat(c.get("grad")))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    a, b = load(sys.argv[1]), load(sys.argv[2])
    differing = 0
    for cid in a:
        if cid not in b:
            print(f"{cid}: only in {sys.argv[1]}")
            differing += 1
            continue
        ka, la, ga = outcome(a[cid])
        kb, lb, gb = outcome(b[cid])
        if ka != kb or ka == "error" and la != lb:
            print(f"{cid}: {ka} {la if ka == 'error' else ''} vs {kb} {lb if kb == 'error' else ''}")
            differing += 1
            continue
        if ka != "value":
            continue
        loss_diff = len(la) != len(lb) or not all(same(x, y) for x, y in zip(la, lb))
        if len(ga) != len(gb):
            print(f"{cid}: gradient lengths {len(ga)} and {len(gb)}")
            differing += 1
            continue
        pairs = [(x, y) for x, y in zip(ga, gb) if not same(x, y)]
        if not loss_diff and not pairs:
            continue
        differing += 1
        finite = [abs(x - y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
        print(
            f"{cid}: loss {'differs' if loss_diff else 'equal'}; grad {len(pairs)}/{len(ga)} entries differ, "
            f"max |diff| {max(finite) if finite else 0:.3g}, finite in one only {len(pairs) - len(finite)}"
        )
    for cid in b:
        if cid not in a:
            print(f"{cid}: only in {sys.argv[2]}")
            differing += 1
    print(f"{differing} of {len(a)} cases differ")


if __name__ == "__main__":
    main()
