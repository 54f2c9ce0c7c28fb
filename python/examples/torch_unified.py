"""The `paper` convention's six losses written in plain PyTorch, checked through the torch
adapter (the gradient from autograd, each case in its own dtype): the symmetric and asymmetric
focal, focal Tversky and unified focal losses, with logits (softmax or sigmoid fused in), a
rare-class set, every reduction and both region forms.

Run by hand (needs torch)::

    pip install <the ufl-oracle wheel> torch
    python python/examples/torch_unified.py                    # exits 0: every case passes
    python python/examples/torch_unified.py --bug delta_on_fp  # exits 1, the δ swap named
    python python/examples/torch_unified.py --record FILE      # a ufl-results/1 file instead

``import torch_unified`` gives :func:`loss` (what ``test_torch_unified.py`` checks) and
:func:`backend`.

What the oracle says (torch 2.15.0+cu132 on the CPU, the default seed's 400 `paper` cases of the
six functions):

| variant | verdict | diagnosis |
|---|---|---|
| as written (``torch.clamp``) | ok: 400 passed, 0 failed | — (on a clip bound ``clamp`` passes no gradient from torch 2.14.0 on, one of the rules `paper` admits: "30 cases answered with the clip gradient 0 on the bounds") |
| ``--bug delta_on_fp`` | 231 failed (every case with a Tversky part and δ ≠ 0.5) | all 231: "the Tversky index weights false positives by δ (α/β swapped, …)", 11 of them with a second reading ("; or …") |

A first version built the focal weights with ``torch.where(is_rare, delta, 1 - delta)``, which
makes a float32 tensor from the Python floats: its float64 cases failed by 1e-8 relative (δ
rounded to float32), "matches none of the known variants".
"""

import sys

import torch

import ufl_oracle
import ufl_oracle.torch

FUNCTIONS = {
    # function: (focal part, Tversky part, symmetric)
    "symmetric_focal_loss": (True, False, True),
    "asymmetric_focal_loss": (True, False, False),
    "symmetric_focal_tversky_loss": (False, True, True),
    "asymmetric_focal_tversky_loss": (False, True, False),
    "sym_unified_focal_loss": (True, True, True),
    "asym_unified_focal_loss": (True, True, False),
}


def loss(function, pred, target, bug=None, **params):
    """``function``'s loss in the `paper` convention of a channels-first ``(B, C, ...)`` ``pred``
    (probabilities, or logits with ``input="logits"``) against ``target`` of the same shape.
    Parameters as the oracle names them: ``lambda``, ``delta``, ``gamma``, ``eps``,
    ``rare_classes``, ``input``, ``reduction``, ``region``. ``bug="delta_on_fp"`` weights the
    false positives by δ in the Tversky index (a planted bug)."""
    focal, tversky, symmetric = FUNCTIONS[function]
    delta = params.get("delta", 0.6)
    gamma = params.get("gamma", 0.5)
    lam = params.get("lambda", 0.5) if focal and tversky else (1.0 if focal else 0.0)
    eps = params.get("eps", 1e-7)
    reduction = params.get("reduction", "mean")
    if pred.dim() < 2 or pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)}: need the same (B, C, ...)")
    if params.get("input", "probabilities") == "logits":
        p = torch.sigmoid(pred) if pred.shape[1] == 1 else torch.softmax(pred, dim=1)
    else:
        if bool(((pred < 0) | (pred > 1) | pred.isnan()).any()):
            raise ValueError("prediction outside [0, 1]")
        p = pred
    y = target
    if p.shape[1] == 1:  # one channel p stands for the classes [1 - p, p]
        p, y = torch.cat([1 - p, p], dim=1), torch.cat([1 - y, y], dim=1)
    classes = p.shape[1]
    rare_classes = params.get("rare_classes")
    rare = [c != 0 for c in range(classes)] if rare_classes is None else [c in rare_classes for c in range(classes)]
    if rare_classes is not None and any(c >= classes for c in rare_classes):
        raise ValueError(f"rare class outside the {classes} classes")
    shape = [1, classes] + [1] * (p.dim() - 2)
    is_rare = torch.tensor(rare, device=p.device).view(shape)
    q = torch.clamp(p, eps, 1 - eps)
    spatial = tuple(range(2, p.dim()))
    per_class = torch.zeros(p.shape[:2], dtype=p.dtype, device=p.device)
    if focal:
        ce = -y * torch.log(q)
        modulated = (1 - q) ** gamma * ce
        if not symmetric:
            modulated = torch.where(is_rare, ce, modulated)
        weight = torch.where(is_rare, torch.tensor(delta, dtype=p.dtype), torch.tensor(1 - delta, dtype=p.dtype))
        per_class = per_class + lam * (weight * modulated).mean(dim=spatial)
    if tversky:
        tp = (y * q).sum(dim=spatial)
        fn = (y * (1 - q)).sum(dim=spatial)
        fp = ((1 - y) * q).sum(dim=spatial)
        on_fn, on_fp = (1 - delta, delta) if bug == "delta_on_fp" else (delta, 1 - delta)
        ti = (tp + eps) / (tp + on_fn * fn + on_fp * fp + eps)
        focal_tversky = (1 - ti) ** (1 - gamma)
        if not symmetric:
            focal_tversky = torch.where(is_rare.view(1, classes), focal_tversky, 1 - ti)
        if params.get("region", "class-sum") == "class-mean":
            focal_tversky = focal_tversky / classes
        per_class = per_class + (1 - lam) * focal_tversky
    if reduction == "none-per-class":
        return per_class
    per_item = per_class.sum(dim=1)
    if reduction == "none":
        return per_item
    return per_item.sum() if reduction == "sum" else per_item.mean()


def backend(bug=None):
    """A backend for :func:`ufl_oracle.check`: the loss above for the `paper` cases of the six
    functions (either layout: the adapter moves channels-last cases to channels-first)."""
    def run(case):
        if case.convention != "paper" or case.function not in FUNCTIONS:
            return ufl_oracle.Skip("this example implements the paper convention's unified losses")
        def fn(pred, target, **params):
            return loss(case.function, pred, target, bug=bug, **params)
        return ufl_oracle.torch.autograd(fn, layout="channels-first")(case)

    return run


if __name__ == "__main__":
    torch.set_num_threads(1)
    bug = sys.argv[sys.argv.index("--bug") + 1] if "--bug" in sys.argv else None
    chosen = ufl_oracle.cases(conventions="paper", functions=list(FUNCTIONS))
    # --record answers the edge and random cases of the unified losses: the files stay small.
    recorded = ufl_oracle.cases(groups=["edge", "random"], conventions="paper", functions=["asym_unified_focal_loss", "sym_unified_focal_loss"])
    name = f"torch {torch.__version__}, plain paper losses"
    sys.exit(ufl_oracle.script(backend(bug), chosen, name=name, recorded=recorded))
