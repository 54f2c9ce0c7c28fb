"""The ten-line pytest check: a plain PyTorch asym_unified_focal_loss (torch_unified.py) against
the oracle, one test per case. ``UFL_EXAMPLE_BUG=delta_on_fp`` plants δ on the false positives."""
import os, torch_unified, ufl_oracle.pytest as ufl, ufl_oracle.torch as ufl_torch

BUG = os.environ.get("UFL_EXAMPLE_BUG")

@ufl.parametrize(functions="asym_unified_focal_loss", conventions="paper")
def test_asym_unified_focal_loss(ufl_case):
    loss = lambda pred, target, **p: torch_unified.loss("asym_unified_focal_loss", pred, target, bug=BUG, **p)
    ufl.check_case(ufl_torch.autograd(loss, layout="channels-first"), ufl_case)
