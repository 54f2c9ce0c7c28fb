#!/usr/bin/env python3
"""Checks a PyTorch implementation of the Unified Focal loss family through the file protocol.

    ufl-oracle cases --out cases            # the inputs
    python3 examples/check_pytorch.py cases/cases.json results.json [--device cpu|cuda]
    ufl-oracle check --cases cases/cases.json --results results.json

Several case files may be given before the results file (fixture files serve as case files;
`tests/recorded/original-torch-2.15.0.results.json` is this script on `fixtures/original/*.json`).

The implementation below follows the original TensorFlow code of the `original` convention
expression by expression (its quirks included: the [:, :, :, k] slices, classes 0 and 1 only,
x * x**(-gamma), weight on the Tversky part), with autograd for the gradient. Every case is
computed in its own dtype (its "dtype" field, float32 or float64, for the inputs, every
operation, the loss and the gradient), so the backend declares no precision. Its clip lets the
gradient through on the bounds, as TensorFlow's K.clip does (torch.clamp does not), with the
bounds 1e-7 and 1 - 1e-7 rounded to the case dtype as K.clip rounds them. Other conventions and
functions are answered with "skip". Several case files give one results file (case ids must be
unique across them). The device defaults to the CPU. Without PyTorch the script says so and
writes nothing.
"""
import json
import os
import platform
import sys

try:
    import torch
except ImportError:
    print("skipped: PyTorch is not installed here")
    sys.exit(0)

EPS = 1e-7
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def number(x):
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.get(x, x) if isinstance(x, str) else x


def encode(x):
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def array(case, key, base, shape):
    value = case[key]
    if isinstance(value, str):  # a .npy beside the case file
        import numpy as np
        return torch.from_numpy(np.load(os.path.join(base, value)).astype("float64")).reshape(shape)
    return torch.tensor([number(v) for v in value], dtype=torch.float64).reshape(shape)


def clip(p):
    lo, hi = torch.tensor(EPS, dtype=p.dtype), torch.tensor(1 - EPS, dtype=p.dtype)
    inside = (p >= lo) & (p <= hi)
    return torch.where(inside, p, p.clamp(lo.item(), hi.item()).detach())


def tversky_index(y, q, delta, smooth, axes):
    tp = (y * q).sum(axes)
    fn = (y * (1 - q)).sum(axes)
    fp = ((1 - y) * q).sum(axes)
    return (tp + smooth) / (tp + delta * fn + (1 - delta) * fp + smooth)


def focal_part(y, q, delta, gamma, symmetric):
    ce = -y * torch.log(q)
    back = (1 - delta) * (torch.pow(1 - q[:, :, :, 0], gamma) * ce[:, :, :, 0])
    fore = ce[:, :, :, 1]
    if symmetric:
        fore = torch.pow(1 - q[:, :, :, 1], gamma) * fore
    return torch.mean(back + delta * fore)


def tversky_part(y, q, delta, gamma, symmetric, axes):
    ti = tversky_index(y, q, delta, EPS, axes)
    x0, x1 = 1 - ti[:, 0], 1 - ti[:, 1]
    back = x0 * torch.pow(x0, -gamma) if symmetric else x0
    fore = x1 * torch.pow(x1, -gamma)
    return torch.mean(torch.stack([back, fore], -1))


def loss(function, params, y, p):
    axes = [1, 2] if p.dim() == 4 else [1, 2, 3]
    delta, gamma = params.get("delta"), params.get("gamma")
    if function in ("dice_loss", "tversky_loss"):
        ti = tversky_index(y, p, params.get("delta", 0.5 if function == "dice_loss" else 0.7), params.get("smooth", 1e-6), axes)
        return torch.mean(1 - ti)
    if function == "focal_tversky_loss":
        ti = tversky_index(y, clip(p), params.get("delta", 0.7), params.get("smooth", 1e-6), axes)
        return torch.mean(torch.pow(1 - ti, params.get("gamma", 0.75)))
    symmetric = function.startswith("sym")
    q = clip(p)
    if function in ("symmetric_focal_loss", "asymmetric_focal_loss"):
        return focal_part(y, q, 0.7 if delta is None else delta, 2.0 if gamma is None else gamma, symmetric)
    if function in ("symmetric_focal_tversky_loss", "asymmetric_focal_tversky_loss"):
        return tversky_part(y, q, 0.7 if delta is None else delta, 0.75 if gamma is None else gamma, symmetric, axes)
    if function in ("sym_unified_focal_loss", "asym_unified_focal_loss"):
        delta = 0.6 if delta is None else delta
        gamma = 0.5 if gamma is None else gamma
        weight = params.get("weight", 0.5)
        ftl = tversky_part(y, q, delta, gamma, symmetric, axes)
        fl = focal_part(y, q, delta, gamma, symmetric)
        return ftl + fl if weight is None else weight * ftl + (1 - weight) * fl
    return None


def answer(case, base, device):
    dtype = DTYPES[case.get("dtype", "float32")]
    if case.get("convention", "original") != "original":
        return {"skip": "only the original convention is implemented"}
    shape = case["shape"]
    if len(shape) not in (4, 5):
        return {"error": "ValueError: Metric: Shape of tensor is neither 2D or 3D."}
    p64 = array(case, "y_pred", base, shape)
    y64 = array(case, "y_true", base, case.get("target_shape", shape))
    channels_first = case.get("layout", "channels-last") == "channels-first"
    if channels_first:  # the original works channels-last
        order = [0] + list(range(2, len(shape))) + [1]
        p64, y64 = p64.permute(order), y64.permute(order)
    p = p64.to(dtype).to(device).contiguous().requires_grad_(True)
    y = y64.to(dtype).to(device).contiguous()
    try:
        value = loss(case["function"], case.get("params", {}), y, p)
    except (RuntimeError, IndexError) as e:
        return {"error": f"{type(e).__name__}: {e}"}
    if value is None:
        return {"skip": f"{case['function']} is not implemented"}
    (grad,) = torch.autograd.grad(value, p)
    if channels_first:
        back = [0, len(shape) - 1] + list(range(1, len(shape) - 1))
        grad = grad.permute(back)
    return {"loss": encode(float(value.detach())), "grad": [encode(float(g)) for g in grad.reshape(-1).cpu().tolist()]}


def main():
    args = sys.argv[1:]
    device = "cpu"
    if "--device" in args:
        k = args.index("--device")
        device = args[k + 1]
        del args[k : k + 2]
    if len(args) < 2:
        print(__doc__)
        sys.exit(2)
    case_paths, results_path = args[:-1], args[-1]
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out, seen = [], set()
    for cases_path in case_paths:
        with open(cases_path) as f:
            cases = json.load(f)["cases"]
        base = os.path.dirname(os.path.abspath(cases_path))
        for case in cases:
            if case["id"] in seen:
                sys.exit(f"case {case['id']} is given twice")
            seen.add(case["id"])
            entry = {"id": case["id"]}
            entry.update(answer(case, base, device))
            out.append(entry)
    import numpy
    backend = {
        "name": "PyTorch transcription of the original (examples/check_pytorch.py)",
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "execution": "eager autograd, 1 torch thread, deterministic algorithms, each case in its own dtype",
    }
    with open(results_path, "w") as f:
        json.dump({"format": "ufl-results/1", "backend": backend, "cases": out}, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    print(f"{len(out)} results written to {results_path} ({device}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
