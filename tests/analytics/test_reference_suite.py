"""bench/reference_suite.py is an independent baseline: it imports nothing from analytics but
the standard population tables, and its vectorised formulas equal the suite's methods."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "bench" / "reference_suite.py"


def load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_suite", REFERENCE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_suite", module)
    spec.loader.exec_module(module)
    return module


def test_the_reference_computes_with_nothing_from_analytics_but_the_standard_populations() -> None:
    tree = ast.parse(REFERENCE.read_text())
    measured_side = {"run_suite"}  # the suite's own functions, timed against the reference
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in measured_side:
            node.body = []
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    from_analytics = {name for name in imported if name.split(".")[0] == "analytics"}
    assert from_analytics == {"analytics.stats.standard_populations"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_reference_standardized_rate_equals_the_suites_method(seed: int) -> None:
    from analytics.stats import rates

    reference = load_reference()
    rng = np.random.default_rng(seed)
    n = rng.uniform(0, 400, size=(4, 18))
    n[:, :3] = np.where(rng.random((4, 3)) < 0.5, 0.0, n[:, :3])  # some bands absent
    x = np.where(n > 0, rng.poisson(3, size=n.shape), 0).astype(float)
    weights = np.array([reference.STANDARDS["us_2000"][b] for b in reference.AGE_BANDS])
    y, lower, upper, full = reference.standardized(x, n, np.broadcast_to(weights, n.shape), 0.9)
    for i in range(len(n)):
        present = n[i] > 0
        expected = rates.direct_standardized_rate(
            x[i][present].tolist(),
            n[i][present].tolist(),
            "us_2000",
            bands=[b for b, keep in zip(reference.AGE_BANDS, present, strict=True) if keep],
            per=1.0,
            conf=0.9,
        )
        assert y[i] == pytest.approx(expected.estimate, rel=1e-12)
        assert lower[i] == pytest.approx(expected.ci_lower, rel=1e-9)
        assert upper[i] == pytest.approx(expected.ci_upper, rel=1e-9)
        assert full[i] == present.all()
