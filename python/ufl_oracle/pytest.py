"""pytest helpers: one test per case, with the case id as the test id and that case's report as
the failure message.

    import ufl_oracle.pytest as ufl

    @ufl.parametrize(functions="asym_unified_focal_loss", conventions="paper")
    def test_my_loss(ufl_case):
        ufl.check_case(my_backend, ufl_case)

``parametrize`` takes what :func:`ufl_oracle.cases` takes (groups, functions, conventions,
dtypes, layouts, seed, filter); ``UFL_ORACLE_TEST`` and ``UFL_ORACLE_SEED`` apply as there.
"""

import pytest

import ufl_oracle


def parametrize(argname="ufl_case", **selection):
    """``pytest.mark.parametrize`` over the selected cases, ids the case ids."""
    chosen = list(ufl_oracle.cases(**selection))
    return pytest.mark.parametrize(argname, chosen, ids=[c.id for c in chosen])


def check_case(backend, case, precision=None, summation=None):
    """Judges ``backend`` on ``case``: fails the test with the case's report (expected and got,
    bounds, diagnosis, the line that re-runs it) when it fails, skips it when the backend
    skips; an expected error or an undetermined case passes. Returns the :class:`Report`."""
    report = ufl_oracle.check(backend, [case], precision=precision, summation=summation)
    verdict = report.verdict(case.id)
    if verdict.get("verdict") == "skipped":
        pytest.skip(verdict.get("detail") or "skipped by the backend")
    if not report.ok:
        pytest.fail(report.text, pytrace=False)
    return report
