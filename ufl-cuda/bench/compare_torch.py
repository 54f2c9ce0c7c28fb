"""Times PyTorch on the inputs `examples/bench.rs` wrote, and prints ratios against ufl-cuda.

Forward + backward of the asymmetric unified focal loss on (1, 2, 128, 128, 128) float32,
channels-first, on the GPU, timed with CUDA events (median of --iters runs after --warmup):

- PyTorch eager: a plain implementation in MONAI's formulation (below);
- torch.compile of the same function (compilation timed separately, not in the median);
- MONAI 1.6.1's AsymmetricUnifiedFocalLoss (import path from PYTHONPATH; skipped with a
  message if MONAI is not importable).

The plain implementation is first checked against MONAI's value and gradient. ufl-cuda's
timing (the `paper` convention, the same inputs and parameters, the same work: one focal and
one Tversky pass and their gradient) is read from ufl_cuda.json in the inputs folder.

    python3 compare_torch.py --inputs DIR [--iters N] [--warmup N] [--json OUT.json]
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

SHAPE = (1, 2, 128, 128, 128)
DELTA, GAMMA, WEIGHT, EPS = 0.7, 0.5, 0.5, 1e-7


def asym_unified_monai_formulation(y_pred, y_true, weight=WEIGHT, delta=DELTA, gamma=GAMMA,
                                   eps=EPS):
    """MONAI's AsymmetricUnifiedFocalLoss for a two-channel channels-first input, written plainly."""
    y_pred = torch.clamp(y_pred, eps, 1.0 - eps)
    # AsymmetricFocalLoss: mean over (batch, 2 classes, space).
    cross_entropy = -y_true * torch.log(y_pred)
    back_ce = (1 - delta) * (torch.pow(1 - y_pred[:, 0], gamma) * cross_entropy[:, 0])
    fore_ce = delta * cross_entropy[:, 1]
    focal = torch.stack([back_ce, fore_ce], dim=1).mean()
    # AsymmetricFocalTverskyLoss: mean over (batch, 2 classes).
    axis = list(range(2, y_pred.dim()))
    tp = torch.sum(y_true * y_pred, dim=axis)
    fn = torch.sum(y_true * (1 - y_pred), dim=axis)
    fp = torch.sum((1 - y_true) * y_pred, dim=axis)
    dice = (tp + eps) / (tp + delta * fn + (1 - delta) * fp + eps)
    back_dice = 1 - dice[:, 0]
    fore_dice = torch.pow(1 - dice[:, 1], 1 - gamma)
    tversky = torch.stack([back_dice, fore_dice], dim=-1).mean()
    return weight * focal + (1 - weight) * tversky


def time_forward_backward(loss_fn, pred, target, iters, warmup):
    """Median and least milliseconds of loss_fn(pred, target).backward(): CUDA events on a GPU,
    the wall clock on the CPU (a dry run of this script)."""
    for _ in range(warmup):
        pred.grad = None
        loss_fn(pred, target).backward()
    on_gpu = pred.is_cuda
    if on_gpu:
        torch.cuda.synchronize()
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        pred.grad = None
        if on_gpu:
            start.record()
        else:
            started = time.perf_counter()
        loss = loss_fn(pred, target)
        loss.backward()
        if on_gpu:
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            times.append((time.perf_counter() - started) * 1e3)
    times.sort()
    return statistics.median(times), times[0]


def value_and_grad(loss_fn, pred, target):
    pred.grad = None
    loss = loss_fn(pred, target)
    loss.backward()
    return loss.detach().double().item(), pred.grad.detach().clone()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", required=True, help="folder with pred.f32, target.f32, ufl_cuda.json")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", help="write the timings here")
    ap.add_argument("--cpu", action="store_true",
                    help="dry run on the CPU (checks this script where there is no GPU)")
    args = ap.parse_args()

    if not args.cpu and not torch.cuda.is_available():
        print("SKIPPED compare_torch: torch sees no CUDA device")
        return 3
    device = torch.device("cpu" if args.cpu else "cuda")
    device_name = "cpu (dry run)" if args.cpu else torch.cuda.get_device_name(0)
    n = int(np.prod(SHAPE))
    pred_np = np.fromfile(os.path.join(args.inputs, "pred.f32"), dtype="<f4")
    target_np = np.fromfile(os.path.join(args.inputs, "target.f32"), dtype="<f4")
    if pred_np.size != n or target_np.size != n:
        print(f"compare_torch: expected {n} values per array, found {pred_np.size} and {target_np.size}")
        return 1
    pred = torch.from_numpy(pred_np.reshape(SHAPE)).to(device).requires_grad_(True)
    target = torch.from_numpy(target_np.reshape(SHAPE)).to(device)
    print(f"device: {device_name}; torch {torch.__version__}")

    results = {"device": device_name, "torch": torch.__version__}
    plain_value, plain_grad = value_and_grad(asym_unified_monai_formulation, pred, target)

    monai_loss = None
    mismatch = None
    try:
        import monai
        from monai.losses import AsymmetricUnifiedFocalLoss
    except Exception as e:
        print(f"SKIPPED MONAI: cannot import it ({type(e).__name__}: {e}); "
              "install the wheel into PYTHONPATH")
    else:
        monai_loss = AsymmetricUnifiedFocalLoss(weight=WEIGHT, gamma=GAMMA, delta=DELTA)
        results["monai"] = monai.__version__
        monai_value, monai_grad = value_and_grad(monai_loss, pred, target)
        grad_diff = (monai_grad - plain_grad).abs().max().item()
        grad_scale = monai_grad.abs().max().item()
        print(f"plain implementation vs MONAI {monai.__version__}: loss {plain_value:.9g} vs "
              f"{monai_value:.9g}, max |grad difference| {grad_diff:.3g} (max |grad| {grad_scale:.3g})")
        if abs(plain_value - monai_value) > 1e-5 * abs(monai_value) or grad_diff > 1e-4 * grad_scale:
            mismatch = "the plain implementation does not compute MONAI's loss"
            print(f"compare_torch: {mismatch}")

    timings = {}
    failures = [mismatch] if mismatch else []

    def timed(name, label, loss_fn):
        try:
            median, best = time_forward_backward(loss_fn, pred, target, args.iters, args.warmup)
        except Exception as e:  # report and go on with the other timings
            failures.append(f"{name}: {type(e).__name__}: {e}")
            print(f"{label}: FAILED ({type(e).__name__}: {e})")
            return
        timings[name] = median
        print(f"{label}: median {median:.4f} ms (min {best:.4f})")

    timed("pytorch_eager", "PyTorch eager (plain)", asym_unified_monai_formulation)

    try:
        compiled = torch.compile(asym_unified_monai_formulation)
        started = time.perf_counter()
        compiled_value, _ = value_and_grad(compiled, pred, target)
        print(f"torch.compile: compilation {time.perf_counter() - started:.1f} s, "
              f"loss {compiled_value:.9g}")
        timed("torch_compile", "torch.compile (plain)", compiled)
    except Exception as e:
        failures.append(f"torch_compile: {type(e).__name__}: {e}")
        print(f"torch.compile: FAILED ({type(e).__name__}: {e})")

    if monai_loss is not None:
        timed("monai_eager", "MONAI AsymmetricUnifiedFocalLoss", monai_loss)

    results["timings_ms"] = timings
    ufl_path = os.path.join(args.inputs, "ufl_cuda.json")
    try:
        with open(ufl_path) as f:
            ufl = json.load(f)
        ufl_ms = ufl["cases"][0]["median_ms"]
        results["ufl_cuda_ms"] = ufl_ms
        print(f"ufl-cuda (paper, same inputs): median {ufl_ms:.4f} ms ({ufl['device']})")
        ratios = {name: ms / ufl_ms for name, ms in timings.items()}
        results["speedup_of_ufl_cuda"] = ratios
        for name, r in ratios.items():
            print(f"  ufl-cuda is {r:.1f}x faster than {name}")
        goals = [("monai_eager", 10.0), ("torch_compile", 4.0)]
        for name, goal in goals:
            if name in ratios:
                verdict = "met" if ratios[name] >= goal else "NOT met"
                print(f"  goal {goal:.0f}x over {name}: {verdict} ({ratios[name]:.1f}x)")
    except (OSError, KeyError, ValueError) as e:
        print(f"no ufl-cuda timing to compare with ({ufl_path}: {e})")

    results["failures"] = failures
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
