"""The PyTorch adapter: turns a torch loss of ``(pred, target, **params)`` into a backend for
:func:`ufl_oracle.check`. torch is imported when the adapter is made, so the package needs only
numpy.

    backend = ufl_oracle.torch.autograd(my_torch_loss, device="cpu")
    ufl_oracle.check(backend, ufl_oracle.cases(functions="asym_unified_focal_loss")).assert_ok()
"""


def autograd(loss_fn, device="cpu", layout=None, params=None):
    """A backend that runs ``loss_fn(pred, target, **case.params)`` in the case's dtype on
    ``device`` and takes d(sum of the loss)/d(pred) with autograd.

    ``layout``: the layout ``loss_fn`` expects (``"channels-first"`` or ``"channels-last"``);
    a case in the other layout is transposed in and its gradient transposed back (default: the
    case's own). ``params(case) -> dict`` maps a case's parameters onto ``loss_fn``'s keyword
    arguments (default: ``case.params`` as they are)."""
    import torch

    def move(x, to_last):
        dims = list(range(x.dim()))
        if to_last:
            return x.permute(dims[:1] + dims[2:] + dims[1:2])
        return x.permute(dims[:1] + dims[-1:] + dims[1:-1])

    def backend(case):
        dtype = torch.float32 if case.dtype == "float32" else torch.float64
        pred = torch.tensor(case.pred, dtype=dtype, device=device, requires_grad=True)
        target = torch.tensor(case.target, dtype=dtype, device=device)
        p, t = pred, target
        if layout is not None and layout != case.layout:
            to_last = layout == "channels-last"
            p, t = move(pred, to_last), move(target, to_last)
        kwargs = params(case) if params is not None else dict(case.params)
        loss = loss_fn(p, t, **kwargs)
        (grad,) = torch.autograd.grad(loss.sum(), pred)
        return loss.detach().cpu().double().numpy(), grad.detach().cpu().double().numpy()

    return backend
