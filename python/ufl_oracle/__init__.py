"""ufl-oracle in Python: reference values and gradients of the Unified Focal loss family, and a
harness that checks your implementation against them, in process.

    import ufl_oracle

    loss, grad = ufl_oracle.evaluate("asym_unified_focal_loss", pred, target, convention="paper")

    def backend(case):                      # your loss on one case
        return my_loss(case.pred, case.target, **case.params)   # (loss, d(sum of loss)/d(pred))

    ufl_oracle.check(backend).assert_ok()   # the default cases, each judged at its own dtype

A backend returns ``(loss, grad)``: ``loss`` a float or an array of the loss entries, ``grad`` an
array of ``case.pred``'s shape holding d(sum of the loss)/d(pred), in the case's layout. It may
raise (right where the reference raises) or return ``Skip(reason)``. Nothing here needs more than
numpy; the adapters ``ufl_oracle.torch`` and ``ufl_oracle.jax`` import their library when used.
"""

import json
import os

import numpy as np

from . import _native

__all__ = [
    "Case",
    "CaseSet",
    "Report",
    "Skip",
    "cases",
    "check",
    "custom_cases",
    "evaluate",
    "functions",
    "jvp",
    "param_derivatives",
    "results",
    "script",
]

DEFAULT_SEED = _native.DEFAULT_SEED


def _as_f64(x, what):
    """A C-contiguous float64 view or copy of ``x`` (numpy, anything with ``__array__`` or DLPack
    on the CPU), and its dtype name: one conversion where the dtype needs it, none otherwise."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach"):  # a torch tensor
            x = x.detach().cpu()
        try:
            x = np.asarray(x)
        except Exception:
            x = np.from_dlpack(x)
    dtype = "float32" if x.dtype == np.float32 else "float64"
    if x.dtype.kind not in "fiub":
        raise TypeError(f"the {what} has dtype {x.dtype}; expected float32 or float64")
    return np.ascontiguousarray(x, dtype=np.float64), dtype


def _problem_args(function, pred, target, convention, layout, dtype, params):
    p, pred_dtype = _as_f64(pred, "prediction")
    t, _ = _as_f64(target, "target")
    return (
        function,
        convention,
        layout,
        dtype or pred_dtype,
        json.dumps(params),
        p,
        t,
    )


def evaluate(function, pred, target, convention="original", layout=None, dtype=None, **params):
    """The oracle's answer: ``(loss, grad)``, float64 arrays (``loss`` in the loss's shape, a
    0-d array for a scalar loss; ``grad`` in ``pred``'s shape), d(sum of the loss)/d(pred).

    ``layout`` is ``"channels-last"`` or ``"channels-first"`` (default: the convention's own,
    channels-last for ``original``, channels-first otherwise); ``dtype`` is the precision the
    inputs hold (default: ``pred``'s, float32 or float64). Parameters are keyword arguments,
    by the names ``ufl-oracle list`` prints; the rest keep their defaults."""
    layout = layout or ("channels-last" if convention == "original" else "channels-first")
    loss, grad = _native.evaluate(_problem_args(function, pred, target, convention, layout, dtype, params))
    return loss, grad


def jvp(function, pred, target, direction, convention="original", layout=None, dtype=None, **params):
    """Every loss entry and its derivative along ``direction`` (an array of ``pred``'s shape),
    by forward-mode differentiation in one pass: ``(values, derivatives)``, 1-D arrays in the
    order of the loss's entries (``evaluate`` gives the loss's shape)."""
    layout = layout or ("channels-last" if convention == "original" else "channels-first")
    d, _ = _as_f64(direction, "direction")
    return _native.jvp(_problem_args(function, pred, target, convention, layout, dtype, params), d)


def param_derivatives(function, pred, target, convention="original", layout=None, dtype=None, **params):
    """d(sum of the loss)/d(parameter) for every real parameter: ``{name: (value, derivative)}``."""
    layout = layout or ("channels-last" if convention == "original" else "channels-first")
    found = _native.param_derivatives(_problem_args(function, pred, target, convention, layout, dtype, params))
    return {name: (value, derivative) for name, value, derivative in found}


def functions():
    """``{function: [conventions]}`` for every function of the family."""
    return {name: list(conventions) for name, conventions in _native.functions()}


class Skip:
    """What a backend returns for a case it does not implement."""

    def __init__(self, reason="not implemented"):
        self.reason = str(reason)

    def __repr__(self):
        return f"Skip({self.reason!r})"


class Case:
    """One case: ``id``, ``function``, ``convention``, ``layout`` (``"channels-first"`` or
    ``"channels-last"``), ``dtype`` (``"float32"`` or ``"float64"``), ``params`` (the parameters
    the case sets, ints as ints; the others keep their defaults), ``tags`` (its groups), and
    ``pred`` and ``target``: numpy arrays in the case's dtype and layout."""

    __slots__ = ("id", "function", "convention", "layout", "dtype", "params", "tags", "pred", "target", "_set")

    def __init__(self, id, function, convention, layout, dtype, params, tags, pred, target, _set=None):
        self.id = id
        self.function = function
        self.convention = convention
        self.layout = layout
        self.dtype = dtype
        self.params = params
        self.tags = tags
        self.pred = pred
        self.target = target
        self._set = _set

    @property
    def channels_last(self):
        return self.layout == "channels-last"

    def __repr__(self):
        return f"Case({self.id!r})"


class CaseSet:
    """The cases of some groups (``edge``, ``random``, ``fixture``, ``large``, ``f16``,
    ``default``), a seed (of the random cases) and a filter (``function=…,convention=…``,
    see the harness documentation), in the oracle's order."""

    def __init__(self, groups=("default",), seed=None, filter="", native=None):
        self.seed = DEFAULT_SEED if seed is None else int(seed)
        self.filter = filter
        self._native = native if native is not None else _native.CaseSet(list(groups), self.seed, filter)
        self._cases = None

    def __len__(self):
        return len(self._native)

    def __iter__(self):
        if self._cases is None:
            self._cases = [self._case(k) for k in range(len(self._native))]
        return iter(self._cases)

    def _case(self, k):
        (id, function, convention, layout, dtype, params, tags, pred, target) = self._native.case(k)
        return Case(id, function, convention, layout, dtype, json.loads(params), list(tags), pred, target, self._native)


def _filter_from(functions, conventions, dtypes, layouts, filter):
    tokens = [filter] if filter else []
    for key, values in (("function", functions), ("convention", conventions), ("dtype", dtypes), ("layout", layouts)):
        if values:
            values = [values] if isinstance(values, str) else list(values)
            tokens.append(f"{key}={'|'.join(values)}")
    # An exact id must come last.
    tokens.sort(key=lambda t: t.startswith("id="))
    return ",".join(tokens)


def cases(groups=("default",), functions=None, conventions=None, dtypes=None, layouts=None, seed=None, filter=""):
    """The cases a backend is checked on (a :class:`CaseSet`). ``seed`` defaults to
    ``UFL_ORACLE_SEED``, else the built-in seed; ``filter`` to ``UFL_ORACLE_TEST``."""
    if seed is None and os.environ.get("UFL_ORACLE_SEED", "").strip().isdigit():
        seed = int(os.environ["UFL_ORACLE_SEED"])
    filter = filter or os.environ.get("UFL_ORACLE_TEST", "")
    if isinstance(groups, str):
        groups = [groups]
    return CaseSet(groups, seed, _filter_from(functions, conventions, dtypes, layouts, filter))


_default_cases = cases


def custom_cases(entries):
    """A :class:`CaseSet` of your own inputs, for what the built-in cases do not reach (a
    library's own input format, a shape or parameter value of yours). Each entry is a dict with
    ``id``, ``function``, ``pred`` and ``target`` and optionally ``convention`` (default
    ``"original"``), ``layout`` (the convention's own), ``dtype`` (``pred``'s) and ``params``;
    the case is ``custom/<id>``, judged as every other (inputs the reference refuses, such as
    mismatched shapes, make a case whose answer must be an error). Raises ``ValueError`` on an
    unknown function, convention, layout or dtype and on two entries with one id."""
    problems = []
    for e in entries:
        params = dict(e.get("params", {}))
        convention = e.get("convention", "original")
        layout = e.get("layout") or ("channels-last" if convention == "original" else "channels-first")
        args = _problem_args(e["function"], e["pred"], e["target"], convention, layout, e.get("dtype"), params)
        problems.append((str(e["id"]), args))
    return CaseSet(native=_native.CaseSet.custom(problems))


class Report:
    """The verdict of a check: ``text`` (the report ``ufl-oracle check`` prints), ``results``
    (one dict per case: id, verdict, detail, diagnosis, ...), ``tally``, ``ok`` and
    ``exit_code`` (0 ok, 1 a failure or nothing compared, 2 unusable)."""

    def __init__(self, text, report_json, ok, exit_code):
        self.text = text
        data = json.loads(report_json)
        self.results = data.get("cases", [])
        self.tally = data.get("summary", {})
        self.json = data
        self.ok = ok
        self.exit_code = exit_code

    def verdict(self, case_id):
        for r in self.results:
            if r.get("id") == case_id:
                return r
        raise KeyError(case_id)

    def failures(self):
        return [r for r in self.results if r.get("verdict") in ("fail", "unusable")]

    def assert_ok(self):
        """Raises ``AssertionError`` with the text report unless every case passed or is an
        expected error, undetermined or skipped, and at least one case was compared."""
        if not self.ok:
            raise AssertionError(self.text)

    def __str__(self):
        return self.text

    def __bool__(self):
        return self.ok


def _response(case, backend):
    """One backend answer as the native judge reads it."""
    try:
        out = backend(case)
    except Exception as e:  # the backend refuses: right where the reference raises
        return (case.id, "error", None, None, f"{type(e).__name__}: {e}")
    if isinstance(out, Skip):
        return (case.id, "skip", None, None, out.reason)
    try:
        loss, grad = out
    except (TypeError, ValueError):
        return (case.id, "error", None, None, f"the backend returned {type(out).__name__}, not (loss, grad)")
    loss, _ = _as_f64(loss, "loss")
    grad, _ = _as_f64(grad, "gradient")
    return (case.id, "output", loss.reshape(-1), grad.reshape(-1), "")


def _json_number(x):
    """A number in the file protocol's encoding (non-finite values as strings)."""
    x = float(x)
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def results(backend, cases, name="python backend", **declared):
    """The backend's answers to ``cases`` as a ``ufl-results/1`` document (a dict: ``json.dump``
    it), what ``ufl-oracle check --results`` reads; ``declared`` goes into ``backend`` (e.g.
    ``precision="float32"``). Records a library's answers once, to replay without it."""
    entries = []
    for case in cases:
        id_, kind, loss, grad, message = _response(case, backend)
        if kind == "output":
            entries.append({"id": id_, "loss": [_json_number(x) for x in loss], "grad": [_json_number(g) for g in grad]})
        else:
            entries.append({"id": id_, kind: message})
    return {"format": "ufl-results/1", "backend": dict(name=name, **declared), "cases": entries}


def check(backend, cases=None, precision=None, summation=None):
    """Runs ``backend`` on every case (default: ``cases()``, the default set as the environment
    filters it) and judges the answers as ``ufl-oracle check`` does: each case at its own dtype
    unless ``precision`` (``"float32"``, ``"float64"``, ``"float16"``, ``"bfloat16"``) declares one
    for all; ``summation`` is ``"pairwise"`` (default) or ``"sequential"``. Returns a
    :class:`Report`."""
    if cases is None:
        cases = _default_cases()
    if isinstance(cases, Case):
        cases = [cases]
    chosen = list(cases)
    native = cases._native if isinstance(cases, CaseSet) else (chosen[0]._set if chosen else None)
    if native is None or any(c._set is not native for c in chosen):
        raise ValueError("the cases of one check come from one ufl_oracle.cases(...) set")
    responses = [_response(case, backend) for case in chosen]
    text, report_json, ok, code = native.judge([c.id for c in chosen], responses, precision, summation)
    return Report(text, report_json, ok, code)


def script(backend, cases, name="python backend", recorded=None, argv=None):
    """The command line of a backend script: with ``--record FILE`` writes the backend's answers
    to ``recorded`` (default: ``cases``) as a ``ufl-results/1`` file, else checks it on
    ``cases`` and prints the report. Returns the exit code (``sys.exit(script(...))``)."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if "--record" in argv:
        path = argv[argv.index("--record") + 1]
        document = results(backend, cases if recorded is None else recorded, name=name)
        with open(path, "w") as f:
            json.dump(document, f)
        print(f"{len(document['cases'])} results written to {path}")
        return 0
    report = check(backend, cases)
    print(report)
    return report.exit_code
