#!/usr/bin/env python3
"""Records MONAI's Unified Focal loss classes through the file protocol (`ufl-results/1`).

    python3 record_monai.py FIXTURE_OR_CASE_FILE RESULTS_OUT

Reads a `ufl-fixtures/1` file (a fixture file or a case file from `ufl-oracle cases`), and for
every case calls the installed MONAI class it names, unmodified. Class is
getattr(monai.losses, name), or getattr(monai.losses.unified_focal_loss, name) for the classes
that monai.losses does not export (AsymmetricFocalLoss and AsymmetricFocalTverskyLoss in 1.6.1):

    out = Class(**case["params"])(y_pred, y_true)
    grad = torch.autograd.grad(out.sum(), y_pred)

Both tensors are contiguous, channels-first (MONAI's layout) and of the case's own dtype
(float32 or float64); a case given channels-last is permuted, and its gradient permuted back.
Eager autograd on the CPU, 1 torch thread, torch.use_deterministic_algorithms(True). When MONAI
raises, the result is {"id", "error": "ExceptionType: message"}. Cases whose function is not a
MONAI class are answered with "skip". The backend declares no precision: every case is
computed in its own dtype.
"""
import json
import os
import platform
import sys
import warnings

import numpy as np
import torch
import monai
import monai.losses
import monai.losses.unified_focal_loss

NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
DTYPES = {"float32": np.float32, "float64": np.float64}


def number(x):
    return NONFINITE[x] if isinstance(x, str) else x


def encode(x):
    x = float(x)
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def array(case, key, base, shape, dtype):
    value = case[key]
    if isinstance(value, str):  # a .npy beside the case file
        a = np.load(os.path.join(base, value)).astype(dtype)
    else:
        a = np.array([number(v) for v in value], dtype=np.float64).astype(dtype)
    return np.ascontiguousarray(a.reshape(shape))


def answer(case, base):
    name = case["function"]
    cls = getattr(monai.losses, name, None) or getattr(monai.losses.unified_focal_loss, name, None)
    if cls is None or not isinstance(cls, type):
        return {"skip": f"{case['function']} is not a MONAI loss class"}
    dtype = DTYPES[case.get("dtype", "float32")]
    shape = list(case["shape"])
    tshape = list(case.get("target_shape", shape))
    p = array(case, "y_pred", base, shape, dtype)
    y = array(case, "y_true", base, tshape, dtype)
    channels_last = case.get("layout", "channels-first") == "channels-last"
    if channels_last:  # MONAI works channels-first
        to_first = lambda a: np.ascontiguousarray(np.moveaxis(a, -1, 1)) if a.ndim >= 2 else a
        p, y = to_first(p), to_first(y)
    y_pred = torch.from_numpy(p).requires_grad_(True)
    y_true = torch.from_numpy(y)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = cls(**case.get("params", {}))(y_pred, y_true)
            (grad,) = torch.autograd.grad(out.sum(), y_pred, allow_unused=True)
    except Exception as e:  # MONAI's or torch's error, verbatim
        return {"error": f"{type(e).__name__}: {e}"}
    if grad is None:
        grad = torch.zeros_like(y_pred)
    grad = grad.detach().numpy()
    if channels_last:
        grad = np.moveaxis(grad, 1, -1)
    out = out.detach()
    loss = encode(out.item()) if out.dim() == 0 else [encode(v) for v in out.reshape(-1).tolist()]
    return {"loss": loss, "grad": [encode(v) for v in np.ascontiguousarray(grad).reshape(-1).tolist()]}


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    cases_path, results_path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    with open(cases_path) as f:
        cases = json.load(f)["cases"]
    base = os.path.dirname(os.path.abspath(cases_path))
    out = []
    for case in cases:
        entry = {"id": case["id"]}
        entry.update(answer(case, base))
        out.append(entry)
    backend = {
        "name": f"MONAI {monai.__version__}",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "device": "cpu",
        "execution": "eager autograd, 1 torch thread, deterministic algorithms, each case in its own dtype",
    }
    with open(results_path, "w") as f:
        json.dump({"format": "ufl-results/1", "backend": backend, "cases": out}, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"{len(out)} results written to {results_path} (MONAI {monai.__version__}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
