"""Keras 3.15.1's ``keras.losses.Tversky``, unmodified, on the torch backend (the gradient from
torch autograd through Keras' ops), checked as the original code's ``dice_loss`` and
``tversky_loss``: the same index on probabilities, channels-last.

Run by hand (needs keras 3 and torch)::

    pip install <the ufl-oracle wheel> torch keras==3.15.1
    KERAS_BACKEND=torch python python/examples/keras_tversky.py   # the report; exits 1
    KERAS_BACKEND=torch python python/examples/keras_tversky.py --record FILE

The mapping: ``Tversky(alpha=1-δ, beta=δ, axis=spatial axes, dtype=the case's dtype)`` — alpha
and beta as Keras documents them (alpha on the false positives, beta on the false negatives),
one index per item and class, the mean of ``1 - TI`` over both (the default reduction). Its
differences from the original, and what the oracle says (the default seed's 208 cases of the
two functions, torch 2.15.0; 62 pass, 146 fail):

| difference | cases | diagnosis (count) |
|---|---|---|
| the code names ``y_true`` ``inputs``, so ``alpha`` weights the false negatives and ``beta`` the false positives, the reverse of its documentation | δ ≠ 0.5 | "the Tversky index weights false positives by δ (α/β swapped, as Keras 3.15.1 `Tversky`); or Keras 3.15.1 `Tversky` (…)" where the smoothing cannot be told apart (77) |
| with that, no smoothing in the numerator and ``epsilon()`` = 1e-7 in the denominator (the original: ``smooth`` = 1e-6 in both) | small TP, or float64 | "Keras 3.15.1 `Tversky` (α on the false negatives and β on the false positives, the reverse of its documentation; no smoothing in the numerator, 1e-7 in the denominator)" (41), or with δ = 0.5 "the smoothing in the denominator only" (3) or "`smooth` = 1e-7 instead of 1e0" (2) |
| the loss of a float64 case rounded to float32 (``dtype="float64"`` does not reach the reduction; the gradient is float64) on top of the rows above | float64 | "matches none of the known variants" (20) |
| any rank accepted | rank 3 | the original raises, Keras answers: failed, "the reference raises (the original raises ValueError: Metric: …); the backend returned a value" (3) |
| ``axis=None`` (the default) pools every item and class into one index | not used here | "TP, FN and FP pooled over the batch …" for the batch; the oracle has no variant for the classes |
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import torch

import ufl_oracle
import ufl_oracle.torch

DEFAULT_DELTA = {"dice_loss": 0.5, "tversky_loss": 0.7}


# What --record answers (the recorded files stay small): the edge and random cases.
RECORDED = ("edge", "random")


def backend(case):
    if case.convention != "original" or case.function not in DEFAULT_DELTA:
        return ufl_oracle.Skip("keras.losses.Tversky maps onto the original's dice and Tversky losses")

    def keras_loss(pred, target, delta=None, smooth=1e-6):
        delta = DEFAULT_DELTA[case.function] if delta is None else delta
        spatial = tuple(range(1, pred.dim() - 1))
        loss = keras.losses.Tversky(alpha=1 - delta, beta=delta, axis=spatial, dtype=case.dtype)
        return loss(target, pred)

    return ufl_oracle.torch.autograd(keras_loss, layout="channels-last")(case)


def chosen(groups=("default",)):
    return ufl_oracle.cases(groups=groups, conventions="original", functions=list(DEFAULT_DELTA))


if __name__ == "__main__":
    torch.set_num_threads(1)
    name = f"keras {keras.__version__} Tversky, torch backend {torch.__version__}"
    sys.exit(ufl_oracle.script(backend, chosen(), name=name, recorded=chosen(groups=RECORDED)))
