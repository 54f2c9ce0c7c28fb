"""segmentation_models_pytorch 0.6.0's ``TverskyLoss``, unmodified, checked as the original
code's ``dice_loss``, ``tversky_loss`` and ``focal_tversky_loss`` (the nearest functions: the
same index, on probabilities) through the torch adapter, each case in its own dtype.

Run by hand (needs torch and segmentation_models_pytorch)::

    pip install <the ufl-oracle wheel> torch segmentation-models-pytorch==0.6.0
    python python/examples/smp_tversky.py             # the report; exits 1 (the differences below)
    python python/examples/smp_tversky.py --record FILE

The mapping: ``TverskyLoss(mode="multilabel", from_logits=False, smooth=smooth, alpha=1-δ,
beta=δ, gamma=γ)`` (``gamma=1`` for the Dice and Tversky losses), channels-first (the adapter
moves the original's channels-last cases). Its documented differences from the original, and
what the oracle says of each (torch 2.15.0, the default seed's 318 cases of the three
functions; ``--record`` and ``tests/real_libraries.rs`` keep the diagnoses):

| difference | cases | diagnosis (count) |
|---|---|---|
| TP, FN and FP summed over the whole batch per class (``dims=(0, 2)``) | batch > 1 | "TP, FN and FP pooled over the batch (as segmentation_models_pytorch, …)" (43) |
| a class with no positive target pixel counts 0 | empty foreground or background | "classes with no positive pixel zeroed (as segmentation_models_pytorch)" (25) |
| ``gamma`` applied to the class mean: ``(mean(1 - TI))^γ`` | focal Tversky | "the focal Tversky power applied after the class mean (as segmentation_models_pytorch 0.6.0 …)" (24) |
| no clip before the focal Tversky loss | predictions outside ``[ε, 1-ε]`` | "predictions not clipped (as kornia)" (7) |
| TP is ``(Σp + Σy - ‖p - y‖₁)/2``: ``|p - y|`` has subgradient 0 where ``p = y`` | perfect and on-bound predictions | "the loss matches `original`; the gradient matches none of the known variants" (27) |
| the same TP is ``Σ min(p, y)``, which is ``Σ p·y`` only for hard targets | soft targets | "matches none of the known variants" |
| any rank accepted | rank 3 | the original raises, smp answers: failed, "the reference raises (the original raises ValueError: Metric: …); the backend returned a value" (5) |
| two of the rows above in one case (a batch > 1 with an empty class, focal with a batch > 1, …) | | "matches none of the known variants" (119 with the row above) |

68 of the 318 cases pass (a batch of 1, every class present, hard targets, predictions inside
the clip bounds). ``tests/real_libraries.rs`` replays the recorded edge and random cases and
holds these diagnoses to their counts there.
"""

import sys

import torch
import segmentation_models_pytorch as smp

import ufl_oracle
import ufl_oracle.torch

DEFAULT_DELTA = {"dice_loss": 0.5, "tversky_loss": 0.7, "focal_tversky_loss": 0.7}


# What --record answers (the recorded files stay small): the edge and random cases.
RECORDED = ("edge", "random")


def backend(case):
    if case.convention != "original" or case.function not in DEFAULT_DELTA:
        return ufl_oracle.Skip("smp's TverskyLoss maps onto the original's Tversky family")
    focal = case.function == "focal_tversky_loss"

    def smp_loss(pred, target, delta=None, smooth=1e-6, gamma=0.75):
        delta = DEFAULT_DELTA[case.function] if delta is None else delta
        loss = smp.losses.TverskyLoss(
            mode="multilabel",
            from_logits=False,
            smooth=smooth,
            alpha=1 - delta,
            beta=delta,
            gamma=gamma if focal else 1.0,
        )
        return loss(pred, target)

    return ufl_oracle.torch.autograd(smp_loss, layout="channels-first")(case)


def chosen(groups=("default",)):
    return ufl_oracle.cases(groups=groups, conventions="original", functions=list(DEFAULT_DELTA))


if __name__ == "__main__":
    torch.set_num_threads(1)
    name = f"segmentation_models_pytorch {smp.__version__} TverskyLoss, torch {torch.__version__}"
    sys.exit(ufl_oracle.script(backend, chosen(), name=name, recorded=chosen(groups=RECORDED)))
