"""The torch adapter on a plain PyTorch backend (python/examples/torch_unified.py): it passes
the `paper` cases of the unified losses in both dtypes and layouts, and δ on the false positives
fails, named. Skipped, saying so, where torch is not installed (as on CI)."""

import os
import sys

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch adapter is not tested")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import torch_unified  # noqa: E402

import ufl_oracle  # noqa: E402


def chosen():
    return ufl_oracle.cases(conventions="paper", functions=["asym_unified_focal_loss", "sym_unified_focal_loss"])


def test_a_plain_torch_unified_loss_passes_in_every_dtype_and_layout():
    report = ufl_oracle.check(torch_unified.backend(), chosen())
    report.assert_ok()
    seen = {(r["dtype"], r["layout"]) for r in report.results if r["verdict"] == "pass"}
    assert seen == {(d, l) for d in ("float32", "float64") for l in ("channels-first", "channels-last")}


def test_delta_on_the_false_positives_fails_and_is_named():
    report = ufl_oracle.check(torch_unified.backend(bug="delta_on_fp"), chosen())
    assert report.exit_code == 1
    failures = report.failures()
    assert failures
    named = [f for f in failures if "weights false positives by δ" in (f.get("diagnosis") or "")]
    assert len(named) == len(failures), report.text
