"""The original code's dice_loss, tversky_loss and focal_tversky_loss written in JAX and checked
through the JAX adapter (the gradient from jax.grad, in each case's dtype). Needs jax; run by
hand: ``pip install jax`` then ``python python/examples/jax_tversky.py [jnp.clip] [--record
FILE]``. Exits 1 unless the report is ok. ``--record FILE`` writes the answers to the
``edge`` and ``random`` cases of ``focal_tversky_loss`` as a results file instead
(``tests/recorded/jax-*.results.json``, which ``tests/real_libraries.rs`` replays).

Two ways to write the focal Tversky loss's clip, and what the oracle says of each (jax 0.10.2,
the default set's 318 cases of the three functions):

| clip | verdict | diagnosis |
|---|---|---|
| ``jnp.where(inside, p, stop_gradient(jnp.clip(p, lo, hi)))`` (default) | ok: 310 passed, 5 expected errors, 3 undetermined | — |
| ``jnp.clip(p, lo, hi)`` | 16 cases fail | 15 × "matches the clip gradient ½ on the bounds (…), not `original`": jax splits the gradient of ``clip`` (a min and a max) at a tie, where TensorFlow's ``K.clip`` passes 1; 1 × "matches predictions not clipped": a perfect prediction whose ``(1 - TI)^γ`` has an infinite slope, which jax's clip multiplies by 0 (NaN) where TensorFlow's select gives 0 |
"""

import json
import sys

import jax
import jax.numpy as jnp

import ufl_oracle
import ufl_oracle.jax

jax.config.update("jax_enable_x64", True)

DEFAULT_DELTA = {"dice_loss": 0.5, "tversky_loss": 0.7, "focal_tversky_loss": 0.7}


PLAIN_CLIP = "jnp.clip" in sys.argv[1:]


def clip(p, lo, hi):
    if PLAIN_CLIP:
        return jnp.clip(p, lo, hi)
    # K.clip: the prediction itself on [lo, hi] (gradient 1 there, bounds included), the bound
    # outside with no gradient at all: a select, so that an infinite upstream slope (a power
    # of a base at 0) gives 0 there, as TensorFlow's does, not inf·0 = NaN.
    inside = (p >= lo) & (p <= hi)
    return jnp.where(inside, p, jax.lax.stop_gradient(jnp.clip(p, lo, hi)))


def tversky_family(function):
    def loss(pred, target, delta=None, smooth=1e-6, gamma=0.75, channels_first=False):
        delta = DEFAULT_DELTA[function] if delta is None else delta
        if channels_first:
            pred, target = jnp.moveaxis(pred, 1, -1), jnp.moveaxis(target, 1, -1)
        if function == "focal_tversky_loss":
            eps = jnp.finfo(pred.dtype).dtype.type(1e-7)
            pred = clip(pred, eps, 1 - eps)
        axes = tuple(range(1, pred.ndim - 1))
        tp = jnp.sum(target * pred, axis=axes)
        fn = jnp.sum(target * (1 - pred), axis=axes)
        fp = jnp.sum((1 - target) * pred, axis=axes)
        ti = (tp + smooth) / (tp + delta * fn + (1 - delta) * fp + smooth)
        if function == "focal_tversky_loss":
            return jnp.mean((1 - ti) ** gamma)
        return jnp.mean(1 - ti)

    return loss


def backend(case):
    if case.convention != "original" or case.function not in DEFAULT_DELTA or case.pred.ndim not in (4, 5):
        if case.function in DEFAULT_DELTA and case.convention == "original":
            raise ValueError("Metric: Shape of tensor is neither 2D or 3D.")
        return ufl_oracle.Skip("this example implements the original's Tversky family")
    params = dict(case.params, channels_first=case.layout == "channels-first")
    return ufl_oracle.jax.grad(tversky_family(case.function), params=lambda c: params)(case)


if "--record" in sys.argv:
    path = sys.argv[sys.argv.index("--record") + 1]
    chosen = ufl_oracle.cases(groups=["edge", "random"], functions="focal_tversky_loss", conventions="original")
    clip_name = "jnp.clip" if PLAIN_CLIP else "select"
    results = ufl_oracle.results(backend, chosen, name=f"jax {jax.__version__}, focal_tversky_loss with the {clip_name} clip")
    with open(path, "w") as f:
        json.dump(results, f)
    print(f"{len(results['cases'])} results written to {path}")
    sys.exit(0)

report = ufl_oracle.check(backend, ufl_oracle.cases(conventions="original", functions=list(DEFAULT_DELTA)))
print(report)
sys.exit(report.exit_code)
