"""A backend in plain numpy for the package's tests: the original code's ``dice_loss``,
``tversky_loss`` and ``focal_tversky_loss`` from their definitions, the gradient worked out by
hand, in the case's dtype; every other function is skipped. ``bug="delta_on_fp"`` puts δ on the
false positives instead of the false negatives (a planted bug the oracle must catch and name)."""

import numpy as np

import ufl_oracle

IMPLEMENTED = ("dice_loss", "tversky_loss", "focal_tversky_loss")
DEFAULTS = {"dice_loss": 0.5, "tversky_loss": 0.7, "focal_tversky_loss": 0.7}


def tversky_family(case, bug=None):
    if case.convention != "original" or case.function not in IMPLEMENTED:
        return ufl_oracle.Skip("the numpy backend implements the original's Tversky family")
    dtype = np.float32 if case.dtype == "float32" else np.float64
    p, y = case.pred.astype(dtype), case.target.astype(dtype)
    if p.ndim not in (4, 5):
        raise ValueError("Metric: Shape of tensor is neither 2D or 3D.")
    if y.shape != p.shape:
        raise ValueError("the target's shape is not the prediction's")
    if case.layout == "channels-first":
        p, y = np.moveaxis(p, 1, -1), np.moveaxis(y, 1, -1)
    delta = dtype(case.params.get("delta", DEFAULTS[case.function]))
    smooth = dtype(case.params.get("smooth", 1e-6))
    focal = case.function == "focal_tversky_loss"
    gamma = dtype(case.params.get("gamma", 0.75)) if focal else dtype(1.0)
    if bug == "delta_on_fp":
        delta = dtype(1.0) - delta
    q, passes = p, np.ones_like(p)
    if focal:
        eps = np.float32(1e-7) if dtype == np.float32 else 1e-7
        lo, hi = dtype(eps), dtype(1.0) - dtype(eps)
        q = np.clip(p, lo, hi)
        passes = ((p >= lo) & (p <= hi)).astype(dtype)
    axes = tuple(range(1, p.ndim - 1))
    tp = np.sum(y * q, axis=axes, keepdims=True)
    fn = np.sum(y * (1 - q), axis=axes, keepdims=True)
    fp = np.sum((1 - y) * q, axis=axes, keepdims=True)
    den = tp + delta * fn + (1 - delta) * fp + smooth
    ti = (tp + smooth) / den
    base = 1 - ti
    terms = base**gamma
    n = terms.size
    loss = np.mean(terms)
    # d TI / d q = (y·D - (TP + k)·(1 - δ)) / D², since dD/dq = y - δ·y + (1 - δ)·(1 - y) = 1 - δ.
    dti = (y * den - (tp + smooth) * (1 - delta)) / den**2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = gamma * base ** (gamma - 1) if focal else np.ones_like(base)
        # The clip passes no gradient outside [lo, hi], as a select: a NaN or an infinity of
        # the power's slope does not reach a clipped element (TensorFlow's K.clip).
        grad = np.where(passes > 0, -slope * dti / n, dtype(0.0))
    if case.layout == "channels-first":
        grad = np.moveaxis(grad, -1, 1)
    return np.float64(loss), grad.astype(np.float64)


def backend(bug=None):
    return lambda case: tversky_family(case, bug)
