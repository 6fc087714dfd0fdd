"""Environmental monitoring summaries: annual statistics per station and pollutant, guideline
exceedances and trends.

Input: a DataFrame shaped like the ``measurements`` data contract (``station_code``,
``sampled_on`` (date), ``pollutant``, ``value``, ``unit``, ``below_lod``, ``lod``, ``status``).

Conventions (documented in docs/methods.md):

* rows with ``status == "invalid"`` are dropped; preliminary and validated values are used;
* non-detects are set to ``LOD/2`` (the usual environmental convention, US EPA 2000 Guidance for
  Data Quality Assessment QA/G-9 §4.7; biomonitoring uses LOD/√2 instead);
* percentiles use R's default (type 7) definition;
* exceedance: a sample above the guideline value (count and %), and an annual mean above an
  annual guideline. Guideline values (WHO 2021 air quality guidelines; WHO drinking-water
  guidelines, 4th ed. 2017 + addenda) are in :data:`GUIDELINES` and can be overridden.
* a year is flagged ``incomplete`` when it has fewer than ``min_samples`` valid samples.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analytics.stats.errors import EmptyInputError, MissingValueError, StatsInputError
from analytics.stats.trends import mann_kendall

#: pollutant code → (guideline value, averaging) in the contract's canonical units
GUIDELINES: Mapping[str, tuple[float, str]] = {
    "pm2_5": (5.0, "annual_mean"),  # µg/m³, WHO 2021
    "pm10": (15.0, "annual_mean"),  # µg/m³, WHO 2021
    "fluoride": (1.5, "sample"),  # mg/L, WHO drinking water
    "cadmium": (3.0, "sample"),  # µg/L
    "lead": (10.0, "sample"),  # µg/L
    "uranium": (30.0, "sample"),  # µg/L
    "gross_alpha": (0.5, "sample"),  # Bq/L screening level
}

_REQUIRED = ("station_code", "sampled_on", "pollutant", "value", "below_lod", "lod", "status")


def _clean(measurements: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in measurements.columns]
    if missing:
        raise StatsInputError(f"measurements lack columns {missing}")
    df = measurements[measurements["status"] != "invalid"].copy()
    if df.empty:
        raise EmptyInputError("no valid measurements")
    below = df["below_lod"].astype(bool)
    if df.loc[below, "lod"].isna().any():
        raise MissingValueError("non-detects need a LOD")
    if df.loc[~below, "value"].isna().any():
        raise MissingValueError("detected measurements need a value")
    df["conc"] = np.where(below, df["lod"].astype(float) / 2.0, df["value"].astype(float))
    if (df["conc"] < 0).any():
        raise StatsInputError("concentrations must be non-negative")
    df["year"] = pd.to_datetime(df["sampled_on"]).dt.year
    return df


def annual_summary(
    measurements: pd.DataFrame,
    *,
    guidelines: Mapping[str, tuple[float, str]] = GUIDELINES,
    min_samples: int = 4,
) -> pd.DataFrame:
    """One row per station × pollutant × year.

    Columns: ``station_code, pollutant, year, n, n_below_lod, mean, p50, p90, p98, max,
    guideline, n_exceed, pct_exceed, mean_exceeds, flags``.
    """
    df = _clean(measurements)
    rows = []
    for (station, pollutant, year), g in df.groupby(
        ["station_code", "pollutant", "year"], sort=True
    ):
        c = g["conc"].to_numpy(float)
        gl = guidelines.get(str(pollutant))
        flags = []
        if len(c) < min_samples:
            flags.append("incomplete")
        n_exceed = int(np.sum(c > gl[0])) if gl else None
        rows.append(
            {
                "station_code": station,
                "pollutant": pollutant,
                "year": int(year),
                "n": len(c),
                "n_below_lod": int(g["below_lod"].astype(bool).sum()),
                "mean": float(c.mean()),
                "p50": float(np.quantile(c, 0.5)),
                "p90": float(np.quantile(c, 0.9)),
                "p98": float(np.quantile(c, 0.98)),
                "max": float(c.max()),
                "guideline": gl[0] if gl else np.nan,
                "n_exceed": n_exceed,
                "pct_exceed": 100.0 * n_exceed / len(c) if n_exceed is not None else np.nan,
                "mean_exceeds": bool(c.mean() > gl[0]) if gl and gl[1] == "annual_mean" else None,
                "flags": ";".join(flags),
            }
        )
    return pd.DataFrame(rows)


def annual_trend(summary: pd.DataFrame, *, statistic: str = "mean") -> pd.DataFrame:
    """Mann–Kendall test and Sen's slope of an annual statistic per station × pollutant.

    Series with fewer than 4 years are skipped. Columns: ``station_code, pollutant, n_years,
    sen_slope_per_year, ci_lower, ci_upper, p_value``.
    """
    rows = []
    for (station, pollutant), g in summary.groupby(["station_code", "pollutant"], sort=True):
        g = g.sort_values("year")
        if len(g) < 4:
            continue
        mk = mann_kendall(g[statistic].to_numpy(float), g["year"].to_numpy(float))
        rows.append(
            {
                "station_code": station,
                "pollutant": pollutant,
                "n_years": len(g),
                "sen_slope_per_year": mk.slope.estimate,
                "ci_lower": mk.slope.ci_lower,
                "ci_upper": mk.slope.ci_upper,
                "p_value": mk.p_value,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "station_code",
            "pollutant",
            "n_years",
            "sen_slope_per_year",
            "ci_lower",
            "ci_upper",
            "p_value",
        ],
    )
