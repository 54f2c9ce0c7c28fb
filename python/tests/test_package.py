"""The package's own tests, numpy only: evaluation, the case set, checks of a correct and a
planted-bug numpy backend (per-case dtypes, diagnosis, exit codes), and the pytest helper.
Run: ``pip install <wheel> pytest`` then ``pytest python/tests``."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import ufl_oracle
from numpy_backend import backend
from ufl_oracle import DEFAULT_SEED

TVERSKY_FAMILY = "function=dice_loss|tversky_loss|focal_tversky_loss,convention=original"


def test_evaluate_matches_a_dice_loss_written_here():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 4, 3))
    pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    target = np.eye(3)[rng.integers(0, 3, size=(2, 4, 4))]
    loss, grad = ufl_oracle.evaluate("dice_loss", pred, target, convention="original")
    tp = (target * pred).sum((1, 2))
    fn = (target * (1 - pred)).sum((1, 2))
    fp = ((1 - target) * pred).sum((1, 2))
    dice = (tp + 1e-6) / (tp + 0.5 * fn + 0.5 * fp + 1e-6)
    assert loss.shape == () and grad.shape == pred.shape
    assert abs(float(loss) - np.mean(1 - dice)) < 1e-12
    # The gradient of the sum of the loss, checked along one direction by a central difference.
    v = rng.normal(size=pred.shape)
    h = 1e-6
    up, _ = ufl_oracle.evaluate("dice_loss", pred + h * v, target)
    down, _ = ufl_oracle.evaluate("dice_loss", pred - h * v, target)
    assert abs((float(up) - float(down)) / (2 * h) - float((grad * v).sum())) < 1e-6
    values, derivatives = ufl_oracle.jvp("dice_loss", pred, target, v)
    assert values.shape == derivatives.shape == (1,) and values[0] == float(loss)
    assert abs(derivatives[0] - float((grad * v).sum())) < 1e-10
    d = ufl_oracle.param_derivatives("dice_loss", pred, target)
    assert set(d) >= {"delta", "smooth"}


def test_evaluate_reads_float32_and_refuses_bad_input_with_a_value_error():
    pred = np.full((1, 2, 2, 2), 0.5, dtype=np.float32)
    target = np.zeros((1, 2, 2, 2), dtype=np.float32)
    loss, grad = ufl_oracle.evaluate("asym_unified_focal_loss", pred, target, convention="paper", layout="channels-last")
    assert loss.dtype == np.float64 and grad.shape == pred.shape
    with pytest.raises(ValueError, match="delta"):
        ufl_oracle.evaluate("dice_loss", pred, target, delta=2.0)
    with pytest.raises(ValueError):
        ufl_oracle.evaluate("no_such_loss", pred, target)


def test_cases_carry_their_dtype_layout_and_integer_parameters():
    chosen = list(ufl_oracle.cases(filter="rare", groups="edge"))
    assert chosen
    for c in chosen:
        assert c.pred.dtype == (np.float32 if c.dtype == "float32" else np.float64)
        assert c.layout in ("channels-first", "channels-last")
        assert c.pred.shape == c.target.shape or c.convention == "monai"
    rare = [c.params["rare_classes"] for c in chosen if isinstance(c.params.get("rare_classes"), list)]
    assert rare and all(isinstance(k, int) for r in rare for k in r)
    keyed = ufl_oracle.cases(functions="asym_unified_focal_loss", conventions=["paper", "monai"], dtypes="float64")
    assert len(keyed) > 0
    assert all(c.function == "asym_unified_focal_loss" and c.convention != "original" and c.dtype == "float64" for c in keyed)


def test_a_correct_numpy_backend_passes_at_per_case_dtypes():
    chosen = ufl_oracle.cases(filter=TVERSKY_FAMILY)
    dtypes = {c.dtype for c in chosen}
    assert dtypes == {"float32", "float64"}
    report = ufl_oracle.check(backend(), chosen)
    report.assert_ok()
    assert report.exit_code == 0
    assert report.tally["passed"] > 250 and report.tally["failed"] == 0
    assert report.tally["expected_errors"] > 0  # rank-3 inputs raise in the original, and here


def test_delta_on_the_false_positives_fails_with_the_diagnosis_naming_it():
    chosen = ufl_oracle.cases(filter=TVERSKY_FAMILY)
    report = ufl_oracle.check(backend(bug="delta_on_fp"), chosen)
    assert not report.ok and report.exit_code == 1
    failures = report.failures()
    assert len(failures) > 50
    named = [f for f in failures if f.get("diagnosis") and "δ" in f["diagnosis"]]
    assert len(named) > len(failures) // 2, failures[:3]
    with pytest.raises(AssertionError, match="FAIL"):
        report.assert_ok()


def test_nothing_compared_is_not_a_pass_and_a_raising_backend_fails():
    chosen = ufl_oracle.cases(filter=TVERSKY_FAMILY)
    skipped = ufl_oracle.check(lambda case: ufl_oracle.Skip("not built"), chosen)
    assert not skipped.ok and skipped.exit_code == 1 and skipped.tally["skipped"] == len(chosen)

    def broken(case):
        raise RuntimeError("kernel exploded")

    raising = ufl_oracle.check(broken, chosen)
    assert not raising.ok and raising.tally["failed"] > 0
    assert raising.tally["expected_errors"] > 0  # raising where the reference raises is right


def test_check_agrees_case_for_case_with_the_command_line(tmp_path):
    """The same answers to the whole default set judged in process and by ``ufl-oracle check``
    from a results file get the same verdict, case for case, and the same exit code."""
    binary = os.environ.get("UFL_ORACLE_BIN") or shutil.which("ufl-oracle")
    if not binary:
        pytest.skip("no ufl-oracle command line (set UFL_ORACLE_BIN)")
    chosen = ufl_oracle.cases(seed=DEFAULT_SEED, filter="-large")  # the whole default set
    subprocess.run([binary, "cases", "--out", str(tmp_path / "c"), "--seed", str(DEFAULT_SEED)], check=True, capture_output=True)
    for bug in (None, "delta_on_fp"):
        report = ufl_oracle.check(backend(bug), chosen)
        results = ufl_oracle.results(backend(bug), chosen, name="numpy")
        (tmp_path / "r.json").write_text(json.dumps(results))
        cli = subprocess.run(
            [binary, "check", "--cases", str(tmp_path / "c" / "cases.json"), "--results", str(tmp_path / "r.json"), "--report", str(tmp_path / "report.json")],
            capture_output=True,
            text=True,
        )
        theirs = {r["id"]: r["verdict"] for r in json.load(open(tmp_path / "report.json"))["cases"]}
        mine = {r["id"]: r["verdict"] for r in report.results}
        assert len(mine) == len(chosen) > 2000
        assert theirs == mine
        assert cli.returncode == report.exit_code == (0 if bug is None else 1)


def test_custom_cases_are_judged_as_the_built_in_ones():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(1, 5, 4, 2))
    pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    target = np.eye(2)[rng.integers(0, 2, size=(1, 5, 4))]
    entries = [dict(id=f"mine/{d}", function="tversky_loss", pred=pred, target=target, params={"delta": d}) for d in (0.3, 0.7)]
    chosen = ufl_oracle.custom_cases(entries)
    assert [c.id for c in chosen] == ["custom/mine/0.3", "custom/mine/0.7"]
    assert all(c.layout == "channels-last" and c.params["delta"] in (0.3, 0.7) for c in chosen)
    report = ufl_oracle.check(backend(), chosen)
    assert report.ok and report.tally["passed"] == 2, report.text
    bad = ufl_oracle.check(backend(bug="delta_on_fp"), chosen)
    assert bad.exit_code == 1 and len(bad.failures()) == 2
    assert all("weights false positives by δ" in f["diagnosis"] for f in bad.failures()), bad.text
    with pytest.raises(ValueError, match="two cases"):
        ufl_oracle.custom_cases(entries + entries[:1])
    with pytest.raises(ValueError):
        ufl_oracle.custom_cases([dict(id="x", function="no_such_loss", pred=pred, target=target)])


def test_script_checks_or_records(tmp_path, capsys):
    chosen = ufl_oracle.cases(groups="edge", filter=TVERSKY_FAMILY)
    assert ufl_oracle.script(backend(), chosen, argv=[]) == 0
    assert "0 failed" in capsys.readouterr().out
    assert ufl_oracle.script(backend(bug="delta_on_fp"), chosen, argv=[]) == 1
    path = tmp_path / "results.json"
    assert ufl_oracle.script(backend(), chosen, name="numpy", argv=["--record", str(path)]) == 0
    document = json.loads(path.read_text())
    assert document["format"] == "ufl-results/1" and document["backend"]["name"] == "numpy"
    assert [e["id"] for e in document["cases"]] == [c.id for c in chosen]
