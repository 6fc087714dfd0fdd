"""Generate a synthetic rare-earth community: the seven CSV kinds and truth.json.

Residents are generated, and their observations written, in chunks of CHUNK_RESIDENTS with a
random stream per chunk (derived from the seed), so memory stays bounded and the same seed
always gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import params as P
from .calendar import Period
from .codes import CODES
from .environment import POLLUTANTS, expected_level, generate_measurements
from .geography import (
    AREAS,
    EARTH_RADIUS_KM,
    FAR_KM,
    NEAR_KM,
    ORIGIN_LATITUDE,
    ORIGIN_LONGITUDE,
    RESIDENCE_RADIUS_KM,
    SITES,
    STATIONS,
    to_latlon,
)
from .outcomes import Observations, OutbreakTally, acute_visits, outbreak_weeks, routine_visits
from .population import (
    AGE_BANDS,
    SEXES,
    SMOKING,
    draw_residents,
    population_table,
    resident_cells,
)
from .writer import (
    IMPORT_ORDER,
    boolean,
    observation_lines,
    open_csv,
    plain_number,
    sha256_of,
    write_rows,
    write_table,
)

GENERATOR_VERSION = "1"
CHUNK_RESIDENTS = 5000
MAX_RESIDENTS = 9_999_999

# Independent random streams (SeedSequence spawn keys) per part of the community.
_STREAM_MEASUREMENTS = 1
_STREAM_RESIDENTS = 2
_STREAM_POPULATION = 3


@dataclass(frozen=True)
class Truth:
    """What was planted. ``data`` is exactly the content of ``truth.json``."""

    path: Path
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def checksums(self) -> dict[str, str]:
        return {name: info["sha256"] for name, info in self.data["files"].items()}

    @property
    def effects(self) -> dict[str, Any]:
        effects: dict[str, Any] = self.data["effects"]
        return effects


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _ll(east: float, north: float) -> tuple[str, str]:
    lat, lon = to_latlon(np.array(east), np.array(north))
    return f"{float(lat):.6f}", f"{float(lon):.6f}"


def _study_id_width(residents: int) -> int:
    return max(6, len(str(residents)))


def generate_community(
    *, residents: int, years: int, seed: int, out_dir: Path, end_year: int = 2025
) -> Truth:
    """Write sites, areas, population, stations, measurements, residents and observations CSVs
    and truth.json into ``out_dir`` and return the truth."""
    if not 1 <= residents <= MAX_RESIDENTS:
        raise ValueError(f"residents must be between 1 and {MAX_RESIDENTS}")
    if not 1 <= years <= 50:
        raise ValueError("years must be between 1 and 50")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if dt.date(end_year, 12, 31) > dt.date.today():
        raise ValueError(f"end_year {end_year} would put dates in the future")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    period = Period(end_year - years + 1, end_year)
    paths = {kind: out_dir / f"{kind}.csv" for kind in IMPORT_ORDER}
    rows: dict[str, int] = {}

    rows["sites"] = write_table(
        paths["sites"],
        "sites",
        [
            (s.site_code, s.name, s.kind, *_ll(s.east_km, s.north_km), s.operator, s.opened_on)
            for s in SITES
        ],
    )
    rows["areas"] = write_table(
        paths["areas"], "areas", [(a.area_code, a.name, *_ll(a.east_km, a.north_km)) for a in AREAS]
    )
    rows["stations"] = write_table(
        paths["stations"],
        "stations",
        [(s.station_code, s.name, s.medium, *_ll(s.east_km, s.north_km)) for s in STATIONS],
    )

    measurements = generate_measurements(_rng(seed, _STREAM_MEASUREMENTS), period)
    rows["measurements"] = write_table(
        paths["measurements"],
        "measurements",
        (
            (
                m["station"],
                str(period.date_strings[m["day"]]),
                m["pollutant"],
                "" if m["below"] else f"{m['value']:.{m['pol'].decimals}f}",
                m["pol"].unit,
                boolean(m["below"]),
                plain_number(m["pol"].lod) if m["below"] else "",
                m["status"],
            )
            for m in measurements
        ),
    )
    below_share = {
        p.code: round(
            sum(m["below"] for m in measurements if m["pollutant"] == p.code)
            / max(1, sum(1 for m in measurements if m["pollutant"] == p.code)),
            4,
        )
        for p in POLLUTANTS
    }
    invalid_count = sum(m["status"] == "invalid" for m in measurements)
    del measurements

    # Residents and their observations, streamed chunk by chunk.
    width = _study_id_width(residents)
    cells = np.zeros((len(AREAS), period.years, 2, len(AGE_BANDS)), dtype=np.int64)
    tally = OutbreakTally.empty(len(period.week_starts))
    area_codes = [a.area_code for a in AREAS]
    n_obs = 0
    n_visits = 0
    code_counts = np.zeros(len(CODES), dtype=np.int64)
    enrolled_by_year = np.zeros(period.years, dtype=np.int64)
    in_followup_by_year = np.zeros(period.years, dtype=np.int64)
    with (
        open_csv(paths["residents"], "residents") as fres,
        open_csv(paths["observations"], "observations") as fobs,
    ):
        for chunk, first in enumerate(range(0, residents, CHUNK_RESIDENTS)):
            n = min(CHUNK_RESIDENTS, residents - first)
            rng = _rng(seed, _STREAM_RESIDENTS, chunk)
            res = draw_residents(rng, first, n, period)
            study_ids = [f"HW-{i + 1:0{width}d}" for i in res.index.tolist()]
            write_rows(
                fres,
                (
                    (
                        study_ids[i],
                        area_codes[res.area[i]],
                        str(res.birth_year[i]),
                        SEXES[0] if res.female[i] else SEXES[1],
                        str(period.date_strings[res.enroll_day[i]]),
                        f"{res.latitude[i]:.5f}",
                        f"{res.longitude[i]:.5f}",
                        boolean(bool(res.works_at_site[i])),
                        SMOKING[res.smoking[i]],
                    )
                    for i in range(n)
                ),
            )
            cells += resident_cells(res, period)
            for y in range(period.years):
                year = period.start_year + y
                enrolled_by_year[y] += int((res.enroll_year <= year).sum())
                in_followup_by_year[y] += int(
                    ((res.enroll_year <= year) & (res.last_year >= year)).sum()
                )

            obs = Observations()
            n_visits += routine_visits(rng, res, period, obs)
            tally.add(acute_visits(rng, res, period, obs))
            r, d, c, v, b = obs.sorted_arrays()
            del obs
            fobs.write(observation_lines(study_ids, period.date_strings, r - first, d, c, v, b))
            n_obs += len(c)
            code_counts += np.bincount(c, minlength=len(CODES))
    rows["residents"] = residents
    rows["observations"] = n_obs

    population, raised = population_table(_rng(seed, _STREAM_POPULATION), residents, period, cells)
    rows["population"] = write_table(
        paths["population"],
        "population",
        (
            (
                area_codes[a],
                str(period.start_year + y),
                SEXES[s],
                AGE_BANDS[b],
                str(population[a, y, s, b]),
            )
            for a in range(len(AREAS))
            for y in range(period.years)
            for s in range(2)
            for b in range(len(AGE_BANDS))
        ),
    )
    pop_by_year = population.sum(axis=(0, 2, 3))

    data = _truth(
        seed=seed,
        residents=residents,
        period=period,
        rows=rows,
        paths=paths,
        population_by_year=[int(x) for x in pop_by_year],
        enrolled_by_year=[int(x) for x in enrolled_by_year],
        in_followup_by_year=[int(x) for x in in_followup_by_year],
        raised_cells=raised,
        n_visits=n_visits,
        code_counts={CODES[i].code: int(code_counts[i]) for i in range(len(CODES))},
        tally=tally,
        below_share=below_share,
        invalid_count=invalid_count,
    )
    path = out_dir / "truth.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Truth(path=path, data=data)


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def _truth(
    *,
    seed: int,
    residents: int,
    period: Period,
    rows: dict[str, int],
    paths: dict[str, Path],
    population_by_year: list[int],
    enrolled_by_year: list[int],
    in_followup_by_year: list[int],
    raised_cells: int,
    n_visits: int,
    code_counts: dict[str, int],
    tally: OutbreakTally,
    below_share: dict[str, float],
    invalid_count: int,
) -> dict[str, Any]:
    years = list(range(period.start_year, period.end_year + 1))
    weeks = outbreak_weeks(period)
    ob = [a.area_code for a in AREAS].index(P.OUTBREAK_AREA)
    ctl = [a.area_code for a in AREAS].index(P.OUTBREAK_CONTROL_AREA)
    week_dates = [period.date_of(int(period.week_starts[w])) for w in weeks]

    def window(a: int) -> dict[str, Any]:
        return {
            "observed": int(tally.observed[a, weeks].sum()),
            "expected_baseline": _r(tally.expected_baseline[a, weeks].sum(), 2),
            "expected": _r(tally.expected[a, weeks].sum(), 2),
            "expected_excess": _r(
                (tally.expected[a, weeks] - tally.expected_baseline[a, weeks]).sum(), 2
            ),
            "observed_by_week": [int(x) for x in tally.observed[a, weeks]],
            "expected_baseline_by_week": [_r(x, 2) for x in tally.expected_baseline[a, weeks]],
        }

    biomarkers = {}
    for code, (unit, gm, near, mid, sd_p, sd_v, lod, dec, share, smoke) in P.BIOMARKERS.items():
        biomarkers[code] = {
            "unit": unit,
            "lod": lod,
            "decimals": dec,
            "gm_far": gm,
            "gm_ratio": {"near_vs_far": near, "middle_vs_far": mid},
            "gm_ratio_current_smokers": smoke,
            "sd_log_person": sd_p,
            "sd_log_visit": sd_v,
            "share_of_routine_visits": share,
            "planted_effect": code in P.GM_RATIO_CODES,
        }

    return {
        "generator": {
            "name": "surveys.synthetic",
            "version": GENERATOR_VERSION,
            "seed": seed,
            "residents": residents,
            "years": period.years,
            "start_year": period.start_year,
            "end_year": period.end_year,
            "first_date": period.start.isoformat(),
            "last_date": period.end.isoformat(),
        },
        "formats": {
            "boolean_observation_value": "true|false; unit empty",
            "below_lod": "value empty, below_lod=true, lod = the limit in the row's unit",
            "lod_when_detected": "empty",
            "study_id": f"HW- followed by {_study_id_width(residents)} digits, 1-based",
            "new_diagnoses": "dx.* written only as true, once per resident and code",
            "visit": "all observations of one resident on one date",
            "week": "Monday-start (ISO) weeks",
        },
        "geography": {
            "fictional": True,
            "name": "Red Hollow (fictional)",
            "origin": {"latitude": ORIGIN_LATITUDE, "longitude": ORIGIN_LONGITUDE},
            "distance": "km to the nearest site (haversine, earth radius "
            f"{EARTH_RADIUS_KM} km); residents live within {RESIDENCE_RADIUS_KM} km "
            "of their area's centroid, so every resident shares the band of the area",
            "bands_km": {
                "near": [0.0, NEAR_KM],
                "middle": [NEAR_KM, FAR_KM],
                "far": [FAR_KM, None],
            },
            "sites": [{"site_code": s.site_code, "kind": s.kind} for s in SITES],
            "areas": [
                {
                    "area_code": a.area_code,
                    "name": a.name,
                    "distance_km": _r(a.distance_km, 3),
                    "band": a.band,
                    "population_share": a.weight,
                    "age_tilt": a.age_tilt,
                }
                for a in AREAS
            ],
            "stations": [
                {
                    "station_code": s.station_code,
                    "medium": s.medium,
                    "distance_km": _r(s.distance_km, 3),
                }
                for s in STATIONS
            ],
        },
        "population": {
            "sampling_fraction": P.SAMPLING_FRACTION,
            "sampling_fraction_meaning": "residents enrolled over the whole period / area "
            "population (population = residents / sampling_fraction, by area pyramid)",
            "population_by_year": dict(zip(map(str, years), population_by_year, strict=True)),
            "enrolled_by_year": dict(zip(map(str, years), enrolled_by_year, strict=True)),
            "in_follow_up_by_year": dict(zip(map(str, years), in_followup_by_year, strict=True)),
            "realized_sampling_fraction_last_year": _r(
                enrolled_by_year[-1] / population_by_year[-1]
            ),
            "cells_raised_to_resident_count": raised_cells,
            "baseline_enrollment_share": P.BASELINE_ENROLLMENT_SHARE,
            "baseline_campaign_days": P.BASELINE_CAMPAIGN_DAYS,
            "annual_retention": P.ANNUAL_RETENTION,
            "annual_growth": P.POPULATION_GROWTH,
            "current_smoking_adults": P.CURRENT_SMOKING,
            "works_at_site_18_64": P.WORKS_AT_SITE,
            "routine_visits": n_visits,
        },
        "effects": {
            "respiratory_dose_response": {
                "code": P.COUGH_CODE,
                "unit_of_analysis": "routine visit (a visit with symptom.* observations)",
                "model": "log-linear prevalence: p = p0 * rate_ratio[band] * "
                "age_rate_ratio_per_10y ** ((age - 40) / 10) * smoking_rate_ratio[smoking], "
                "age = visit year - birth year",
                "p0": P.COUGH_P0,
                "rate_ratio": {
                    "near_vs_far": P.COUGH_RR_BAND["near"],
                    "middle_vs_far": P.COUGH_RR_BAND["middle"],
                },
                "age_rate_ratio_per_10y": P.COUGH_AGE_RR_PER_10Y,
                "smoking_rate_ratio": P.COUGH_RR_SMOKING,
                "confounding": "near areas are older and smoke more: the crude near/far ratio "
                "is biased upwards; adjusting for age and smoking recovers the rate ratio",
            },
            "biomarker_gm_ratio": {c: biomarkers[c] for c in P.GM_RATIO_CODES},
            "acute_respiratory_outbreak": {
                "codes": list(P.ACUTE_CODES),
                "j20_share": P.ACUTE_J20_SHARE,
                "model": "per resident and week: at most one acute-care visit with probability "
                "weekly_risk * age_rate_ratio * (1 + amplitude * cos(2 pi (t - peak_day) / "
                "365.25)) * outbreak_rate_ratio, t = days since first_date at the week's Thursday",
                "weekly_risk": P.ACUTE_WEEKLY_RISK,
                "age_rate_ratio": P.ACUTE_AGE_RR,
                "season": {
                    "amplitude": P.ACUTE_SEASON_AMPLITUDE,
                    "peak_day": P.ACUTE_SEASON_PEAK_DAY,
                },
                "outbreak": {
                    "area_code": P.OUTBREAK_AREA,
                    "rate_ratio": P.OUTBREAK_RATE_RATIO,
                    "iso_weeks": [
                        f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in week_dates
                    ],
                    "week_starts": [d.isoformat() for d in week_dates],
                    "first_date": week_dates[0].isoformat(),
                    "last_date": (week_dates[-1] + dt.timedelta(days=6)).isoformat(),
                    **window(ob),
                },
                "control_area": {"area_code": P.OUTBREAK_CONTROL_AREA, **window(ctl)},
            },
            "annual_trend": {
                "code": P.TREND_CODE,
                "annual_percent_change": P.TREND_APC,
                "log_rate_ratio_per_year": _r(math.log1p(P.TREND_APC / 100), 6),
                "model": "p = p0 * (1 + apc / 100) ** (visit year - start_year) * "
                "smoking_rate_ratio[smoking]",
                "p0": P.TREND_P0,
                "smoking_rate_ratio": P.TREND_RR_SMOKING,
            },
        },
        "negative_controls": {
            "symptoms_without_any_effect": P.OTHER_SYMPTOMS,
            "note": "constant prevalence per routine visit: no distance, age, smoking or trend",
        },
        "other_parameters": {
            "biomarkers": {c: b for c, b in biomarkers.items() if c not in P.GM_RATIO_CODES},
            "fev1_pct_pred": {
                "mean": P.FEV1_MEAN,
                "sd_person": P.FEV1_PERSON_SD,
                "sd_visit": P.FEV1_VISIT_SD,
                "smoking_shift": P.FEV1_SMOKING,
                "ages": "6+",
            },
            "bmi": {"adult_mean": P.BMI_ADULT_MEAN, "adult_sd": P.BMI_ADULT_SD, "ages": "2+"},
            "new_chronic_diagnoses": {
                code: {
                    "annual_risk": r,
                    "min_age": a,
                    "current_smoker_ratio": s,
                    "under_15_ratio": c,
                }
                for code, (r, a, s, c) in P.CHRONIC_DX.items()
            },
        },
        "measurements": {
            "model": "(background + source * exp(-distance_km / decay_km)) * (1 + amplitude * "
            "cos(2 pi (t - peak_day) / 365.25)) * exp(noise); air daily with AR(1) noise, "
            "water monthly",
            "pollutants": {
                p.code: {
                    "medium": p.medium,
                    "unit": p.unit,
                    "lod": p.lod,
                    "decimals": p.decimals,
                    "background": p.background,
                    "source": p.source,
                    "decay_km": p.decay_km,
                    "season_amplitude": p.season_amplitude,
                    "season_peak_day": p.season_peak_day,
                    "sd_log": p.sd_log,
                    "share_below_lod": below_share[p.code],
                    "expected_mean_by_station": {
                        s.station_code: _r(expected_level(p, s.distance_km), 4)
                        for s in STATIONS
                        if s.medium == p.medium
                    },
                }
                for p in POLLUTANTS
            },
            "invalid_readings": invalid_count,
            "preliminary": "samples of the last 60 days of the period",
        },
        "observations_by_code": code_counts,
        "files": {
            f"{kind}.csv": {"rows": rows[kind], "sha256": sha256_of(paths[kind])}
            for kind in IMPORT_ORDER
        },
    }
