#!/usr/bin/env python3
"""Measures the gradient of torch.clamp (and its aliases) on and around its bounds.

    python3 measure_clamp.py            # prints one JSON object

On the CPU, for float32 and float64: x = [lo, hi, 0.5, below lo, above hi] with
lo = dtype(1e-7) and hi = dtype(1 - 1e-7) (the values torch compares against when the bounds
are Python floats), y = clamp-like(x), y.sum().backward(), and x.grad is recorded per call
form. Bounds are given as Python floats ("scalar") or as 0-d tensors of the dtype ("tensor").
"""
import json
import platform
import sys

import torch

LO, HI = 1e-7, 1 - 1e-7
X = [LO, HI, 0.5, 1e-9, 1.0]
POINTS = ["lo", "hi", "mid", "below_lo", "above_hi"]


def forms(dtype):
    tlo, thi = torch.tensor(LO, dtype=dtype), torch.tensor(HI, dtype=dtype)
    return {
        "clamp(x, lo, hi) scalar": lambda x: torch.clamp(x, LO, HI),
        "clamp(x, min=lo, max=hi) scalar": lambda x: torch.clamp(x, min=LO, max=HI),
        "x.clamp(lo, hi) scalar": lambda x: x.clamp(LO, HI),
        "clip(x, lo, hi) scalar": lambda x: torch.clip(x, LO, HI),
        "clamp_min(lo).clamp_max(hi) scalar": lambda x: x.clamp_min(LO).clamp_max(HI),
        "clamp_min(lo) scalar": lambda x: x.clamp_min(LO),
        "clamp_max(hi) scalar": lambda x: x.clamp_max(HI),
        "clamp(x, lo, hi) tensor": lambda x: torch.clamp(x, tlo, thi),
        "clamp(x, min=lo, max=hi) tensor": lambda x: torch.clamp(x, min=tlo, max=thi),
        "x.clamp(lo, hi) tensor": lambda x: x.clamp(tlo, thi),
        "clip(x, lo, hi) tensor": lambda x: torch.clip(x, tlo, thi),
        "clamp_min(lo).clamp_max(hi) tensor": lambda x: x.clamp_min(tlo).clamp_max(thi),
        "clamp_min(lo) tensor": lambda x: x.clamp_min(tlo),
        "clamp_max(hi) tensor": lambda x: x.clamp_max(thi),
        "minimum(maximum(x, lo), hi) tensor": lambda x: torch.minimum(torch.maximum(x, tlo), thi),
    }


def measure(dtype):
    x0 = torch.tensor(X, dtype=dtype)
    lo_d = torch.tensor(LO, dtype=dtype).item()
    hi_d = torch.tensor(HI, dtype=dtype).item()
    # x holds exactly what clamp compares against.
    assert x0[0].item() == lo_d and x0[1].item() == hi_d
    assert x0[3].item() < lo_d and x0[4].item() > hi_d
    out = {"x": [float(v) for v in x0.tolist()], "lo": lo_d, "hi": hi_d, "points": POINTS, "grad": {}, "forward_ok": {}}
    for name, f in forms(dtype).items():
        x = x0.clone().requires_grad_(True)
        y = f(x)
        y.sum().backward()
        out["grad"][name] = [float(v) for v in x.grad.tolist()]
        # the forward value: clamped in range, unchanged on the bounds
        # the forward value equals the clamp of each point, in the dtype
        want = x0.clone()
        if "clamp_max(hi)" not in name or "clamp_min" in name:
            want = torch.where(want < lo_d, torch.tensor(lo_d, dtype=dtype), want)
        if "clamp_min(lo)" not in name or "clamp_max" in name:
            want = torch.where(want > hi_d, torch.tensor(hi_d, dtype=dtype), want)
        out["forward_ok"][name] = bool(y.dtype == dtype and torch.equal(y.detach(), want))
    return out


def main():
    torch.set_num_threads(1)
    result = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "device": "cpu",
        "float32": measure(torch.float32),
        "float64": measure(torch.float64),
    }
    json.dump(result, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
