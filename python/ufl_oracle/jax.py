"""The JAX adapter: turns a JAX loss of ``(pred, target, **params)`` into a backend for
:func:`ufl_oracle.check`, the gradient from ``jax.grad``. jax is imported when the adapter is
made; float64 cases need ``jax.config.update("jax_enable_x64", True)``."""


def grad(loss_fn, params=None):
    """A backend that runs ``loss_fn(pred, target, **case.params)`` in the case's dtype and
    takes d(sum of the loss)/d(pred) with ``jax.value_and_grad``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    def backend(case):
        dtype = jnp.float32 if case.dtype == "float32" else jnp.float64
        kwargs = params(case) if params is not None else dict(case.params)
        pred = jnp.asarray(case.pred, dtype=dtype)
        target = jnp.asarray(case.target, dtype=dtype)

        def total(p):
            loss = loss_fn(p, target, **kwargs)
            return jnp.sum(loss), loss

        (_, loss), g = jax.value_and_grad(total, has_aux=True)(pred)
        return np.asarray(loss, dtype=np.float64), np.asarray(g, dtype=np.float64)

    return backend
