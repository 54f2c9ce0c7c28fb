"""The pytest helper on a tiny suite: one test per case, named by its id; a correct backend's
tests pass, a planted bug's fail with the case's report, a skip is a pytest skip."""

import textwrap

pytest_plugins = ["pytester"]

SUITE = textwrap.dedent(
    """
    import ufl_oracle.pytest as ufl
    from numpy_backend import backend

    @ufl.parametrize(groups="edge", functions="dice_loss", conventions="original", filter="layout-")
    def test_correct(ufl_case):
        ufl.check_case(backend(), ufl_case)

    @ufl.parametrize(groups="edge", functions="dice_loss", conventions="original", filter="layout-")
    def test_bug(ufl_case):
        ufl.check_case(backend(bug="delta_on_fp"), ufl_case)

    @ufl.parametrize(groups="edge", functions="asym_unified_focal_loss", conventions="paper", filter="layout-")
    def test_skipped(ufl_case):
        ufl.check_case(backend(), ufl_case)
    """
)


def test_one_pytest_test_per_case(pytester, request):
    pytester.syspathinsert(str(request.path.parent))
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2, result.stdout.str()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    assert outcomes.get("skipped", 0) >= 2, result.stdout.str()
    text = result.stdout.str()
    assert "test_bug[edge/dice_loss/original/" in text
    assert "re-run: UFL_ORACLE_TEST='id=edge/dice_loss/original/" in text
