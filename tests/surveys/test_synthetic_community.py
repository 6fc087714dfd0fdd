"""The synthetic community generator: contracts, determinism, and recovery of planted effects.

Every planted effect is recovered from the generated CSV files with plain pandas/statsmodels
(independently of the analytics app), so these tests check the generator, not our analyses.
No database is needed (runs with ``-p no:django``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.base.model import GenericLikelihoodModel

from surveys.synthetic import generate_community

RESIDENTS = 6000
YEARS = 5
SEED = 20251

CONTRACT = {
    "sites": ["site_code", "name", "kind", "latitude", "longitude", "operator", "opened_on"],
    "areas": ["area_code", "name", "latitude", "longitude"],
    "population": ["area_code", "year", "sex", "age_band", "population"],
    "stations": ["station_code", "name", "medium", "latitude", "longitude"],
    "measurements": [
        "station_code",
        "sampled_on",
        "pollutant",
        "value",
        "unit",
        "below_lod",
        "lod",
        "status",
    ],
    "residents": [
        "study_id",
        "area_code",
        "birth_year",
        "sex",
        "enrolled_on",
        "latitude",
        "longitude",
        "works_at_site",
        "smoking",
    ],
    "observations": ["study_id", "observed_on", "code", "value", "unit", "below_lod", "lod"],
}
AGE_BANDS = [f"{a}-{a + 4}" for a in range(0, 85, 5)] + ["85+"]
POLLUTANT_UNITS = {
    "pm2_5": "µg/m³",
    "pm10": "µg/m³",
    "so2": "µg/m³",
    "fluoride": "mg/L",
    "uranium": "µg/L",
    "cadmium": "µg/L",
    "lead": "µg/L",
    "gross_alpha": "Bq/L",
}


def read(out: Path, kind: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{kind}.csv", dtype=str, keep_default_na=False)


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def community(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("community")
    generate_community(residents=RESIDENTS, years=YEARS, seed=SEED, out_dir=out)
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    frames = {kind: read(out, kind) for kind in CONTRACT}
    return {"out": out, "truth": truth, **frames}


@pytest.fixture(scope="module")
def residents(community: dict[str, Any]) -> pd.DataFrame:
    """Residents with their distance (km) to the nearest site and its band."""
    res = community["residents"].copy()
    sites = community["sites"]
    lat, lon = res["latitude"].astype(float).to_numpy(), res["longitude"].astype(float).to_numpy()
    dist = np.min(
        [haversine_km(lat, lon, float(s.latitude), float(s.longitude)) for s in sites.itertuples()],
        axis=0,
    )
    res["distance_km"] = dist
    res["band"] = np.where(dist < 2, "near", np.where(dist < 8, "middle", "far"))
    res["birth_year"] = res["birth_year"].astype(int)
    return res


@pytest.fixture(scope="module")
def routine(community: dict[str, Any], residents: pd.DataFrame) -> pd.DataFrame:
    """One row per routine visit (a visit with symptoms), symptoms as 0/1 columns."""
    obs = community["observations"]
    sym = obs[obs["code"].str.startswith("symptom.")]
    wide = sym.pivot(index=["study_id", "observed_on"], columns="code", values="value")
    wide = (wide == "true").astype(int)
    wide.columns = [c.removeprefix("symptom.") for c in wide.columns]
    wide = wide.reset_index()
    wide["year"] = wide["observed_on"].str[:4].astype(int)
    visits = wide.merge(residents[["study_id", "birth_year", "smoking", "band"]], on="study_id")
    visits["age"] = visits["year"] - visits["birth_year"]
    return visits


# --- contracts -------------------------------------------------------------------------------


def test_every_file_has_exactly_the_contract_columns_in_order(community: dict[str, Any]) -> None:
    for kind, columns in CONTRACT.items():
        header = (community["out"] / f"{kind}.csv").read_text(encoding="utf-8").split("\n", 1)[0]
        assert header.split(",") == columns, kind


def test_truth_records_every_file_with_its_checksum(community: dict[str, Any]) -> None:
    files = community["truth"]["files"]
    assert sorted(files) == sorted(f"{k}.csv" for k in CONTRACT)
    for name, info in files.items():
        assert info["sha256"] == sha256(community["out"] / name)
        assert info["rows"] == len(community[name.removesuffix(".csv")])


def test_the_same_seed_gives_byte_identical_files_and_another_seed_does_not(
    tmp_path: Path,
) -> None:
    def checksums(out: Path) -> dict[str, str]:
        return {p.name: sha256(p) for p in sorted(out.iterdir())}

    generate_community(residents=700, years=3, seed=7, out_dir=tmp_path / "a")
    generate_community(residents=700, years=3, seed=7, out_dir=tmp_path / "b")
    generate_community(residents=700, years=3, seed=8, out_dir=tmp_path / "c")
    a, b, c = (checksums(tmp_path / d) for d in "abc")
    assert len(a) == 8
    assert a == b
    for name in ("measurements.csv", "residents.csv", "observations.csv", "truth.json"):
        assert a[name] != c[name], name


def test_there_are_two_sites_and_six_to_twelve_areas_half_a_km_to_fifteen_km_away(
    community: dict[str, Any],
) -> None:
    sites, areas = community["sites"], community["areas"]
    assert sorted(sites["kind"]) == ["separation_plant", "tailings"]
    assert 6 <= len(areas) <= 12
    dist = np.min(
        [
            haversine_km(
                areas["latitude"].astype(float),
                areas["longitude"].astype(float),
                float(s.latitude),
                float(s.longitude),
            )
            for s in sites.itertuples()
        ],
        axis=0,
    )
    assert dist.min() == pytest.approx(0.6, abs=0.15)
    assert dist.max() == pytest.approx(15.0, abs=0.5)
    truth_dist = {
        a["area_code"]: a["distance_km"] for a in community["truth"]["geography"]["areas"]
    }
    for code, d in zip(areas["area_code"], dist, strict=True):
        assert d == pytest.approx(truth_dist[code], rel=0.01)


def test_residents_live_near_their_area_centroid_in_the_band_of_their_area(
    community: dict[str, Any], residents: pd.DataFrame
) -> None:
    areas = community["areas"].set_index("area_code")
    cen = areas.loc[residents["area_code"]]
    d = haversine_km(
        residents["latitude"].astype(float).to_numpy(),
        residents["longitude"].astype(float).to_numpy(),
        cen["latitude"].astype(float).to_numpy(),
        cen["longitude"].astype(float).to_numpy(),
    )
    assert d.max() < 0.36
    band = {a["area_code"]: a["band"] for a in community["truth"]["geography"]["areas"]}
    assert (residents["area_code"].map(band) == residents["band"]).all()


def test_study_ids_are_synthetic_and_unique(community: dict[str, Any]) -> None:
    ids = community["residents"]["study_id"]
    assert ids.str.fullmatch(r"HW-\d{6}").all()
    assert ids.is_unique
    assert set(community["observations"]["study_id"]) <= set(ids)


def test_codes_booleans_units_and_lod_cells_follow_the_formats(community: dict[str, Any]) -> None:
    obs = community["observations"]
    assert set(obs["below_lod"]) <= {"true", "false"}
    assert not obs.duplicated(["study_id", "observed_on", "code"]).any()
    boolean = obs["code"].str.startswith(("symptom.", "dx."))
    assert set(obs.loc[boolean, "value"]) == {"true", "false"}
    assert (obs.loc[boolean, "unit"] == "").all()
    assert set(obs.loc[obs["code"].str.startswith("dx."), "value"]) == {"true"}
    units = obs[~boolean].groupby("code")["unit"].unique().map(list).to_dict()
    assert units == {
        "lab.blood_lead": ["µg/dL"],
        "lab.blood_manganese": ["µg/L"],
        "lab.urine_cadmium": ["µg/L"],
        "lab.urine_fluoride": ["mg/L"],
        "lab.urine_thorium": ["µg/L"],
        "lab.urine_uranium": ["µg/L"],
        "vital.bmi": ["kg/m²"],
        "vital.fev1_pct_pred": ["%"],
    }
    below = obs["below_lod"] == "true"
    assert below.any()
    assert (obs.loc[below, "value"] == "").all()
    assert (obs.loc[below, "lod"] != "").all()
    assert (obs.loc[~below, "lod"] == "").all()
    numeric = obs[~boolean & ~below]
    assert (numeric["value"].astype(float) > 0).all()
    lods = obs[below].groupby("code")["lod"].unique().map(list).to_dict()
    assert lods["lab.blood_lead"] == ["0.5"]


def test_measurements_have_units_lods_decay_seasonality_and_a_few_invalid_readings(
    community: dict[str, Any],
) -> None:
    m = community["measurements"]
    assert set(m["pollutant"]) == set(POLLUTANT_UNITS)
    assert (m["pollutant"].map(POLLUTANT_UNITS) == m["unit"]).all()
    assert set(m["status"]) == {"validated", "preliminary", "invalid"}
    assert 0 < (m["status"] == "invalid").mean() < 0.02
    assert not m.duplicated(["station_code", "sampled_on", "pollutant"]).any()
    below = m["below_lod"] == "true"
    assert 0.01 < below.mean() < 0.5
    assert (m.loc[below, "value"] == "").all() and (m.loc[below, "lod"] != "").all()
    assert (m.loc[~below, "lod"] == "").all()
    ok = m[~below & (m["status"] != "invalid")].copy()
    ok["value"] = ok["value"].astype(float)
    pm = ok[ok["pollutant"] == "pm2_5"]
    by_station = pm.groupby("station_code")["value"].mean()
    assert by_station["AQ-01"] > 2 * by_station["AQ-04"]  # distance decay
    month = pm["sampled_on"].str[5:7]
    winter = pm[month.isin(["12", "01", "02"])]["value"].mean()
    summer = pm[month.isin(["06", "07", "08"])]["value"].mean()
    assert winter > 1.3 * summer  # heating season
    fluoride = ok[ok["pollutant"] == "fluoride"].groupby("station_code")["value"].mean()
    assert fluoride["WQ-01"] > 1.5 > fluoride["WQ-04"]  # WHO guideline exceeded only near


def test_population_is_at_least_the_enrolled_residents_in_every_cell(
    community: dict[str, Any], residents: pd.DataFrame
) -> None:
    pop = community["population"].copy()
    pop["year"] = pop["year"].astype(int)
    pop["population"] = pop["population"].astype(int)
    assert set(pop["age_band"]) == set(AGE_BANDS)
    assert len(pop) == len(community["areas"]) * YEARS * 2 * len(AGE_BANDS)
    rows = []
    for year in sorted(pop["year"].unique()):
        enrolled = residents[residents["enrolled_on"].str[:4].astype(int) <= year]
        age = year - enrolled["birth_year"]
        band = np.minimum(age // 5, 17).map(lambda i: AGE_BANDS[i])
        counts = (
            enrolled.assign(age_band=band)
            .groupby(["area_code", "sex", "age_band"])
            .size()
            .rename("residents")
            .reset_index()
        )
        rows.append(counts.assign(year=year))
    counts = pd.concat(rows)
    merged = counts.merge(pop, on=["area_code", "year", "sex", "age_band"], how="left")
    assert merged["population"].notna().all()
    assert (merged["population"] >= merged["residents"]).all()
    # residents are a sample: the stated sampling fraction holds overall
    last = pop[pop["year"] == pop["year"].max()]["population"].sum()
    fraction = community["truth"]["population"]["sampling_fraction"]
    assert len(residents) / last == pytest.approx(fraction, rel=0.05)


def test_no_date_lies_in_the_future_or_outside_the_study_period(community: dict[str, Any]) -> None:
    today = dt.date.today().isoformat()
    first = community["truth"]["generator"]["first_date"]
    last = community["truth"]["generator"]["last_date"]
    assert last <= today
    for kind, column in (
        ("observations", "observed_on"),
        ("measurements", "sampled_on"),
        ("residents", "enrolled_on"),
    ):
        dates = community[kind][column]
        assert dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
        assert dates.min() >= first and dates.max() <= last, kind
    assert (community["sites"]["opened_on"] <= today).all()
    assert (community["residents"]["birth_year"].astype(int) <= int(last[:4])).all()


def test_a_future_end_year_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="future"):
        generate_community(
            residents=10, years=1, seed=1, out_dir=tmp_path, end_year=dt.date.today().year + 1
        )


def test_each_resident_has_a_routine_visit_every_year_of_follow_up(
    community: dict[str, Any], routine: pd.DataFrame
) -> None:
    per_year = routine.groupby(["study_id", "year"]).size()
    assert (per_year == 1).all()
    years = routine.groupby("study_id")["year"].agg(["min", "max", "count"])
    assert (years["count"] == years["max"] - years["min"] + 1).all()
    enrolled = community["residents"].set_index("study_id")["enrolled_on"]
    first = routine.groupby("study_id")["observed_on"].min()
    assert (first == enrolled.loc[first.index]).all()
    # no observation (routine or acute-care) precedes enrolment
    obs = community["observations"]
    assert (obs["observed_on"] >= obs["study_id"].map(enrolled)).all()


# --- planted effect 1: respiratory dose-response, confounded by age and smoking --------------


def test_adjusting_for_age_and_smoking_recovers_the_cough_rate_ratio_that_the_crude_overstates(
    community: dict[str, Any], routine: pd.DataFrame
) -> None:
    truth = community["truth"]["effects"]["respiratory_dose_response"]
    rr = truth["rate_ratio"]["near_vs_far"]
    data = routine[routine["band"].isin(["near", "far"])].copy()
    data["near"] = (data["band"] == "near").astype(int)
    data["age10"] = (data["age"] - 40) / 10
    groups = pd.factorize(data["study_id"])[0]
    fit_kw: dict[str, Any] = {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
    family = sm.families.Poisson()
    crude = smf.glm("cough ~ near", data, family=family).fit(**fit_kw)
    adjusted = smf.glm(
        "cough ~ near + age10 + C(smoking, Treatment('never'))", data, family=family
    ).fit(**fit_kw)
    crude_rr = math.exp(crude.params["near"])
    adj_rr = math.exp(adjusted.params["near"])
    lo, hi = np.exp(adjusted.conf_int().loc["near"])
    # tolerance: the 95 % CI contains the truth and the estimate is within 15 %
    assert lo <= rr <= hi
    assert adj_rr == pytest.approx(rr, rel=0.15)
    # the crude estimate is biased upwards, away from the truth, and its CI misses it
    assert crude_rr > rr
    assert abs(math.log(crude_rr / rr)) > 2 * abs(math.log(adj_rr / rr))
    assert np.exp(crude.conf_int().loc["near"]).iloc[0] > rr
    # and the confounders are really there: near residents are older and smoke more
    near, far = data[data["near"] == 1], data[data["near"] == 0]
    assert near["age"].mean() > far["age"].mean() + 5
    assert (near["smoking"] == "current").mean() > 1.5 * (far["smoking"] == "current").mean()
    age_rr = math.exp(adjusted.params["age10"])
    assert age_rr == pytest.approx(truth["age_rate_ratio_per_10y"], rel=0.05)


def test_symptoms_without_a_planted_effect_show_no_distance_gradient(routine: pd.DataFrame) -> None:
    data = routine[routine["band"].isin(["near", "far"])]
    rates = data.groupby("band")["headache"].mean()
    assert rates["near"] / rates["far"] == pytest.approx(1.0, abs=0.2)


# --- planted effect 2: geometric-mean ratios of biomarkers with LOD censoring ---------------


def _censored_lognormal_fit(y: pd.Series, censored: pd.Series, lod: pd.Series, x: pd.DataFrame):  # type: ignore[no-untyped-def]
    """Tobit-type MLE on the log scale: log(y) ~ N(x b, s^2), left-censored at log(LOD)."""

    class Censored(GenericLikelihoodModel):  # type: ignore[misc]
        def loglike(self, params: np.ndarray) -> float:
            return float(self.loglikeobs(params).sum())

        def loglikeobs(self, params: np.ndarray) -> np.ndarray:
            b, log_s = params[:-1], params[-1]
            s = math.exp(log_s)
            mu = self.exog @ b
            z = (self.endog - mu) / s
            return np.where(cens, stats.norm.logcdf(z), stats.norm.logpdf(z) - log_s)

    cens = censored.to_numpy()
    limit = pd.to_numeric(lod, errors="coerce").to_numpy()
    value = pd.to_numeric(y, errors="coerce").to_numpy()
    endog = np.log(np.where(cens, limit, value))
    model = Censored(endog, x.to_numpy(dtype=float), extra_params_names=["log_sigma"])
    model.exog_names[: x.shape[1]] = list(x.columns)
    start = np.append(np.linalg.lstsq(x.to_numpy(dtype=float), endog, rcond=None)[0], math.log(0.6))
    return model.fit(start_params=start, method="bfgs", maxiter=500, disp=False)


@pytest.mark.parametrize("code", ["lab.blood_lead", "lab.urine_thorium"])
def test_the_geometric_mean_ratio_by_distance_band_is_recovered_despite_lod_censoring(
    community: dict[str, Any], residents: pd.DataFrame, code: str
) -> None:
    truth = community["truth"]["effects"]["biomarker_gm_ratio"][code]
    obs = community["observations"]
    lab = obs[obs["code"] == code].sort_values(["study_id", "observed_on"])
    lab = lab.drop_duplicates("study_id")  # one result per resident: independent observations
    lab = lab.merge(residents[["study_id", "band"]], on="study_id")
    censored = lab["below_lod"] == "true"
    assert censored.mean() > 0.03  # censoring is real
    x = pd.DataFrame(
        {
            "const": 1.0,
            "near": (lab["band"] == "near").astype(float),
            "middle": (lab["band"] == "middle").astype(float),
        }
    )
    fit = _censored_lognormal_fit(lab["value"], censored, lab["lod"], x)
    ci = np.exp(fit.conf_int())
    names = fit.model.exog_names
    for band in ("near", "middle"):
        true_ratio = truth["gm_ratio"][f"{band}_vs_far"]
        i = names.index(band)
        assert ci[i, 0] <= true_ratio <= ci[i, 1], band
        assert math.exp(fit.params[i]) == pytest.approx(true_ratio, rel=0.1)
    assert math.exp(fit.params[0]) == pytest.approx(truth["gm_far"], rel=0.1)
    # the median is unaffected by censoring below 50 %: ratio of medians, a second estimate
    values = lab["value"].replace("", "0").astype(float)  # below LOD sorts lowest
    medians = values.groupby(lab["band"]).median()
    assert medians["near"] / medians["far"] == pytest.approx(
        truth["gm_ratio"]["near_vs_far"], rel=0.15
    )


# --- planted effect 3: weekly acute respiratory diagnoses with one outbreak ------------------


@pytest.fixture(scope="module")
def weekly(community: dict[str, Any]) -> pd.DataFrame:
    """Acute respiratory diagnoses by area and Monday-start week (zeros filled in)."""
    obs = community["observations"]
    acute = obs[obs["code"].isin(["dx.J06", "dx.J20"])]
    acute = acute.merge(community["residents"][["study_id", "area_code"]], on="study_id")
    day = pd.to_datetime(acute["observed_on"])
    acute = acute.assign(week=(day - pd.to_timedelta(day.dt.day_of_week, unit="D")).dt.date)
    counts = acute.groupby(["area_code", "week"]).size()
    weeks = pd.date_range(
        community["truth"]["generator"]["first_date"],
        community["truth"]["generator"]["last_date"],
        freq="W-MON",
    ).date
    index = pd.MultiIndex.from_product(
        [sorted(community["areas"]["area_code"]), weeks], names=["area_code", "week"]
    )
    return counts.reindex(index, fill_value=0).rename("count").reset_index()


def test_acute_respiratory_diagnoses_peak_in_winter(weekly: pd.DataFrame) -> None:
    month = pd.to_datetime(weekly["week"]).dt.month
    winter = weekly[month.isin([12, 1, 2])].groupby("week")["count"].sum().mean()
    summer = weekly[month.isin([6, 7, 8])].groupby("week")["count"].sum().mean()
    assert winter > 2 * summer


def test_the_planted_outbreak_is_found_in_its_area_and_weeks_and_not_in_the_control_area(
    community: dict[str, Any], weekly: pd.DataFrame
) -> None:
    effect = community["truth"]["effects"]["acute_respiratory_outbreak"]
    outbreak, control = effect["outbreak"], effect["control_area"]
    weeks = {dt.date.fromisoformat(w) for w in outbreak["week_starts"]}
    year = int(outbreak["first_date"][:4])
    data = weekly[pd.to_datetime(weekly["week"]).dt.year == year].copy()
    data["week"] = data["week"].astype(str)
    in_window = data["week"].isin({w.isoformat() for w in weeks})
    data["outbreak"] = ((data["area_code"] == outbreak["area_code"]) & in_window).astype(int)

    # 1) rate ratio of the outbreak cells, with area and week effects (season) as baseline
    fit = smf.glm(
        "count ~ C(area_code) + C(week) + outbreak", data, family=sm.families.Poisson()
    ).fit()
    lo, hi = np.exp(fit.conf_int().loc["outbreak"])
    assert lo <= outbreak["rate_ratio"] <= hi
    assert lo > 1.5

    # 2) excess count: baseline fitted without the outbreak cells, predicted for them.
    # Tolerance: within 3 Poisson standard deviations of the expected count in those cells.
    base = smf.glm(
        "count ~ C(area_code) + C(week)", data[data["outbreak"] == 0], family=sm.families.Poisson()
    ).fit()
    data["excess"] = data["count"] - base.predict(data)
    cells = data[data["outbreak"] == 1]
    assert cells["excess"].sum() == pytest.approx(
        outbreak["expected_excess"], abs=3 * math.sqrt(outbreak["expected"])
    )

    # 3) the control area in the same weeks stays at its baseline (within 3 Poisson sd)
    ctl = data[(data["area_code"] == control["area_code"]) & in_window]
    assert abs(ctl["excess"].sum()) < 3 * math.sqrt(control["expected"])
    assert abs(ctl["excess"].sum()) < 0.5 * outbreak["expected_excess"]

    # 4) scanning every area and 4-week window of the year, the largest excess is the outbreak
    n = len(weeks)
    data = data.sort_values(["area_code", "week"])
    rolling = data.groupby("area_code")["excess"].rolling(n).sum().dropna()
    area, row = rolling.idxmax()
    assert area == outbreak["area_code"]
    best_end = dt.date.fromisoformat(data.loc[row, "week"])
    assert abs((best_end - max(weeks)).days) <= 7  # overlaps the outbreak by 3 weeks or more


# --- planted effect 4: annual trend ---------------------------------------------------------


def test_a_poisson_trend_recovers_the_planted_annual_percent_change(
    community: dict[str, Any], routine: pd.DataFrame
) -> None:
    truth = community["truth"]["effects"]["annual_trend"]
    code = truth["code"].removeprefix("symptom.")
    data = routine.assign(t=routine["year"] - routine["year"].min())
    groups = pd.factorize(data["study_id"])[0]
    fit = smf.glm(
        f"{code} ~ t + C(smoking, Treatment('never'))", data, family=sm.families.Poisson()
    ).fit(cov_type="cluster", cov_kwds={"groups": groups})
    apc = 100 * (math.exp(fit.params["t"]) - 1)
    lo, hi = 100 * (np.exp(fit.conf_int().loc["t"]) - 1)
    # tolerance: the 95 % CI contains the truth and the estimate is within 4 points
    assert lo <= truth["annual_percent_change"] <= hi
    assert apc == pytest.approx(truth["annual_percent_change"], abs=4.0)
    assert lo > 0  # the trend is really upward
