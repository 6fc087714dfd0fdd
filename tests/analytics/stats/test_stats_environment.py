"""Annual environmental summaries on a hand-worked example."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analytics.stats.environment import annual_summary, annual_trend
from analytics.stats.errors import EmptyInputError, MissingValueError


def _frame():
    rows = []
    # station S1, pm2_5, 2023: 4 valid samples + 1 invalid (ignored) + 1 non-detect (LOD 2 -> 1)
    for day, val, below, status in [
        ("2023-01-10", 9.0, False, "validated"),
        ("2023-04-10", 4.0, False, "validated"),
        ("2023-07-10", None, True, "validated"),
        ("2023-10-10", 7.0, False, "preliminary"),
        ("2023-11-10", 900.0, False, "invalid"),
    ]:
        rows.append(
            {
                "station_code": "S1",
                "sampled_on": day,
                "pollutant": "pm2_5",
                "value": val,
                "unit": "µg/m³",
                "below_lod": below,
                "lod": 2.0,
                "status": status,
            }
        )
    # water station W1, fluoride, two samples in 2024, one above the 1.5 mg/L guideline
    for day, val in [("2024-03-01", 1.2), ("2024-09-01", 2.1)]:
        rows.append(
            {
                "station_code": "W1",
                "sampled_on": day,
                "pollutant": "fluoride",
                "value": val,
                "unit": "mg/L",
                "below_lod": False,
                "lod": 0.1,
                "status": "validated",
            }
        )
    return pd.DataFrame(rows)


def test_annual_summary_drops_invalid_rows_and_sets_non_detects_to_half_the_lod():
    s = annual_summary(_frame())
    pm = s[(s.station_code == "S1") & (s.pollutant == "pm2_5")].iloc[0]
    assert pm["n"] == 4 and pm["n_below_lod"] == 1
    assert pm["mean"] == pytest.approx((9 + 4 + 1 + 7) / 4)
    assert pm["p50"] == pytest.approx(5.5)  # type-7 median of 1, 4, 7, 9
    assert pm["max"] == 9.0
    assert pm["guideline"] == 5.0 and pm["mean_exceeds"]
    assert pm["n_exceed"] == 2 and pm["pct_exceed"] == pytest.approx(50.0)


def test_sample_guideline_exceedances_and_incomplete_years_are_flagged():
    s = annual_summary(_frame())
    w = s[s.station_code == "W1"].iloc[0]
    assert w["n_exceed"] == 1 and w["mean_exceeds"] is None
    assert "incomplete" in w["flags"]


def test_annual_trend_uses_mann_kendall_on_annual_means():
    summary = pd.DataFrame(
        {
            "station_code": ["S1"] * 6,
            "pollutant": ["pm10"] * 6,
            "year": range(2018, 2024),
            "mean": [30, 28, 27, 25, 22, 21],
        }
    )
    t = annual_trend(summary)
    assert t.iloc[0]["n_years"] == 6
    assert t.iloc[0]["sen_slope_per_year"] == pytest.approx(-2.0)
    assert t.iloc[0]["p_value"] < 0.05
    short = annual_trend(summary.head(3))
    assert short.empty


def test_environment_summary_errors_are_clear():
    df = _frame()
    with pytest.raises(EmptyInputError):
        annual_summary(df.assign(status="invalid"))
    bad = df.copy()
    bad.loc[0, "value"] = math.nan
    with pytest.raises(MissingValueError):
        annual_summary(bad)
