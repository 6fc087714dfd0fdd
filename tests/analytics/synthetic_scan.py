"""Resident-years of a generated synthetic community straight from its CSV files (no database),
for the repeated-seed detection and false-positive check of the site-centred scan.

The frame has the columns :func:`analytics.suite.scan_locations` reads, built the way the
import and :func:`analytics.suite.resident_years` build them: one row per resident and calendar
year with a visit, an event when a yes/no outcome was recorded true that year, age band and sex,
and the ~500 m grid cell of the residence (surveys.geo.grid_cell_centre).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analytics import suite
from surveys.geo import grid_cell_centre


def community_resident_years(folder: Path, outcomes: list[str]) -> pd.DataFrame:
    residents = pd.read_csv(folder / "residents.csv", dtype={"study_id": str})
    obs = pd.read_csv(
        folder / "observations.csv",
        usecols=["study_id", "observed_on", "code", "value"],
        dtype={"study_id": str, "code": str, "value": str},
    )
    obs["year"] = obs["observed_on"].str.slice(0, 4).astype(int)
    base = obs[["study_id", "year"]].drop_duplicates()
    positive = obs[obs["code"].isin(outcomes) & (obs["value"] == "true")]
    events = (
        positive.drop_duplicates(["study_id", "year", "code"])
        .assign(event=1)
        .pivot_table(index=["study_id", "year"], columns="code", values="event", fill_value=0)
        .reset_index()
    )
    ry = base.merge(events, on=["study_id", "year"], how="left").merge(residents, on="study_id")
    for code in outcomes:
        ry[code] = ry[code].fillna(0).astype(int) if code in ry else 0
    cells = [grid_cell_centre(a, b) for a, b in zip(ry["latitude"], ry["longitude"], strict=True)]
    ry["grid_latitude"] = np.array([float(c[0]) for c in cells])
    ry["grid_longitude"] = np.array([float(c[1]) for c in cells])
    ry["age_band"] = suite.age_band_of(ry["year"] - ry["birth_year"]).astype(str)
    ry["person_years"] = 1.0
    return ry


def community_sites(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "sites.csv")[["site_code", "latitude", "longitude"]]
