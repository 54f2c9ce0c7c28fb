"""MONAI 1.6.1's three Unified Focal loss classes, unmodified, checked under the `monai`
convention through the torch adapter (each case in its own dtype, the gradient from autograd).

Run by hand (needs torch and MONAI)::

    pip install <the ufl-oracle wheel> torch==2.15.0 && pip install --no-deps monai==1.6.1
    python python/examples/monai_losses.py     # exits 0 on torch 2.13.0, 2.14.0 and 2.15.0

MONAI clamps with Python-float bounds, so on a prediction exactly on a clamp bound its gradient
follows the torch release: 1 there (inclusive) up to torch 2.13.0, 0 (strict) from 2.14.0 on
(``tests/recorded/README.md``). The oracle's `monai` convention accepts either rule there and
names the one it saw. Measured with the default seed's 386 `monai` cases:

| torch | verdict | clip rule named on the bounds |
|---|---|---|
| 2.15.0+cu132 | ok: 368 passed, 15 expected errors, 3 undetermined, 0 failed | 48 cases: 0 on the bounds (strict) |
| 2.14.0+cu130 (the first strict release) | ok: 368 passed, 15 expected errors, 3 undetermined, 0 failed | 48 cases: 0 on the bounds (strict) |
| 2.13.0+cu130 (the last inclusive release) | ok: 366 passed, 15 expected errors, 5 undetermined, 0 failed | 48 cases: 1 on the bounds (inclusive) |

The expected errors are the inputs MONAI refuses, raised by MONAI where the oracle raises. The
undetermined cases hold entries where ``1 - TI`` is within its rounding error of 0 and MONAI
answers NaN (on 2.13.0 also the two float32 ``perfect-eps`` cases with δ = 0.3, whose
predictions lie on the bounds: the inclusive clamp passes the power's NaN slope on to them,
where the strict one gives 0); every other entry of them was compared and passed.
"""

import sys
import warnings

import torch
import monai
import monai.losses.unified_focal_loss as ufl_monai

import ufl_oracle
import ufl_oracle.torch

CLASSES = {
    "asymmetric_focal_loss": ufl_monai.AsymmetricFocalLoss,
    "asymmetric_focal_tversky_loss": ufl_monai.AsymmetricFocalTverskyLoss,
    "asym_unified_focal_loss": ufl_monai.AsymmetricUnifiedFocalLoss,
}


def backend(case):
    if case.convention != "monai":
        return ufl_oracle.Skip("this example checks MONAI's classes")

    def monai_loss(pred, target, **params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return CLASSES[case.function](**params)(pred, target)

    # MONAI works channels-first: a channels-last case is moved in and its gradient moved back.
    return ufl_oracle.torch.autograd(monai_loss, layout="channels-first")(case)


if __name__ == "__main__":
    torch.set_num_threads(1)
    report = ufl_oracle.check(backend, ufl_oracle.cases(conventions="monai"))
    print(report)
    print(f"MONAI {monai.__version__}, torch {torch.__version__}")
    sys.exit(report.exit_code)
