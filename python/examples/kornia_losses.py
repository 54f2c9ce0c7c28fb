"""kornia 0.9's ``tversky_loss`` and ``focal_loss``, unmodified, checked under the `paper`
convention (the one that takes logits) through the torch adapter, on cases made here with
``ufl_oracle.custom_cases``: kornia takes logits ``(B, C, H, W)`` and int64 class indices, which
the built-in cases do not (their paper Tversky cases with logits all have γ > 0).

Run by hand (needs torch and kornia)::

    pip install <the ufl-oracle wheel> torch kornia==0.9.0
    python python/examples/kornia_losses.py             # the report; exits 1 (the rows below)
    python python/examples/kornia_losses.py --record FILE

The mappings (target one-hot for the oracle, its argmax for kornia):

- ``tversky_loss(logits, labels, alpha=1-δ, beta=δ, eps=1e-7)`` as `paper`
  ``symmetric_focal_tversky_loss`` with γ = 0, ``region="class-mean"``, ``input="logits"``,
  ``eps=1e-7``: ``(1/B) Σ_b (1/C) Σ_c (1 - TI_bc)``;
- ``focal_loss(logits, labels, alpha=δ, gamma=γ, reduction="none")``, its ``(B, C, H, W)`` map
  averaged over the pixels, as `paper` ``symmetric_focal_loss`` with ``input="logits"`` and
  ``reduction="none-per-class"``: kornia weights class 0 by 1 - α and the others by α, as `paper`
  weights the non-rare and rare classes by 1 - δ and δ. (kornia's ``"mean"`` also divides by C.)

Its differences, and what the oracle says (torch 2.15.0, the 24 cases made here: 10 pass, 14
fail):

| difference | cases | diagnosis |
|---|---|---|
| none that the inputs reach | ``mixed`` (every class in every item, logits of scale 2): float32 Tversky, all focal | pass (6) |
| no smoothing in the Tversky numerator (`paper`: ``TP + ε`` over ``… + ε``) | float64 Tversky | "matches none of the known variants of `paper`" (6): the oracle has this variant for `original` only |
| ``tversky_loss`` averages over the classes present in each item only | ``absent-class`` Tversky, float32 | "matches none of the known variants of `paper`" (2); the focal loss has no such difference (4 pass) |
| no clip: kornia's softmax comes closer than ε to 0 and 1, where `paper` clips it to ``[ε, 1 - ε]`` | ``saturated`` (logits of scale 30) | Tversky float32: "matches the gradient projected onto the simplex (a softmax taken twice)" (2), which is not the cause (the missing clip is); focal: "matches none" (4) |

The present-classes, numerator-smoothing and no-clip variants exist in the oracle for the
original's Tversky family only; on `paper` these differences are caught, not named.
"""

import sys

import numpy as np
import torch
import kornia

import ufl_oracle
import ufl_oracle.torch

SHAPES = [(2, 3, 5, 4), (1, 4, 6, 6)]
KINDS = {"mixed": 2.0, "saturated": 30.0, "absent-class": 2.0}


def make_cases():
    rng = np.random.default_rng(20221102)
    entries = []
    for function in ("symmetric_focal_tversky_loss", "symmetric_focal_loss"):
        for dtype in (np.float32, np.float64):
            for shape in SHAPES:
                for kind, scale in KINDS.items():
                    b, c, h, w = shape
                    labels = rng.integers(0, c, size=(b, h, w))
                    labels[:, 0, :c] = np.arange(c)  # every class in every item
                    if kind == "absent-class":
                        labels[0][labels[0] == c - 1] = 0  # class C-1 absent from item 0
                    target = np.moveaxis(np.eye(c)[labels], -1, 1).astype(dtype)
                    logits = (scale * rng.normal(size=shape)).astype(dtype)
                    delta = float(np.round(rng.uniform(0.2, 0.8), 3))
                    params = {"delta": delta, "input": "logits"}
                    if function == "symmetric_focal_tversky_loss":
                        params.update(gamma=0.0, region="class-mean", eps=1e-7)
                    else:
                        params.update(gamma=float(np.round(rng.uniform(0, 3), 3)), reduction="none-per-class")
                    name = f"kornia/{function}/{np.dtype(dtype).name}/{'x'.join(map(str, shape))}/{kind}"
                    entries.append(dict(id=name, function=function, convention="paper", layout="channels-first", pred=logits, target=target, params=params))
    return ufl_oracle.custom_cases(entries)


def kornia_loss(function):
    def loss(logits, target, delta, input, gamma, eps=1e-7, region=None, reduction=None):
        labels = target.argmax(dim=1)
        if function == "symmetric_focal_tversky_loss":
            return kornia.losses.tversky_loss(logits, labels, alpha=1 - delta, beta=delta, eps=eps)
        per_pixel = kornia.losses.focal_loss(logits, labels, alpha=delta, gamma=gamma, reduction="none")
        return per_pixel.mean(dim=(2, 3))

    return loss


def backend(case):
    return ufl_oracle.torch.autograd(kornia_loss(case.function))(case)


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(ufl_oracle.script(backend, make_cases(), name=f"kornia {kornia.__version__}, torch {torch.__version__}"))
