"""Package-level properties: purity (no Django), public API and invariants (hypothesis)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import analytics.stats as hw
from analytics.stats.rates import direct_standardized_rate, proportion

STATS_DIR = Path(hw.__file__).parent
FORBIDDEN = ("django", "rest_framework", "celery")


def test_no_module_in_analytics_stats_imports_django_drf_or_celery():
    offenders = []
    for path in STATS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}:{n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_every_error_is_a_value_error_subclass_of_stats_input_error():
    for cls in (
        hw.EmptyInputError,
        hw.NegativeCountError,
        hw.MissingValueError,
        hw.AllZeroBaselineError,
        hw.MismatchedStrataError,
        hw.ShortHistoryError,
    ):
        assert issubclass(cls, hw.StatsInputError)
        assert issubclass(cls, ValueError)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 5000), data=st.data())
def test_proportion_intervals_contain_the_estimate_and_stay_in_unit_interval(n, data):
    x = data.draw(st.integers(0, n))
    for method in ("wilson", "clopper_pearson"):
        est = proportion(x, n, method=method)
        assert 0.0 <= est.ci_lower <= est.estimate <= est.ci_upper <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 200), min_size=18, max_size=18),
    pops=st.lists(st.integers(50, 100_000), min_size=18, max_size=18),
)
def test_fay_feuer_interval_contains_the_rate_and_is_wider_than_tiwari(counts, pops):
    ff = direct_standardized_rate(counts, pops)
    tw = direct_standardized_rate(counts, pops, method="tiwari")
    assert ff.ci_lower <= ff.estimate <= ff.ci_upper
    assert tw.ci_upper <= ff.ci_upper * (1 + 1e-12)
    assert math.isclose(tw.ci_lower, ff.ci_lower)
