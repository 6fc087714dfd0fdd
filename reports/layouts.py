"""The fixed table layouts of the annual community health report, built into protected cells.

Pure (pandas + analytics.suite helpers + reports.privacy): the Django service extracts the data
and stores what this returns. Every published count is a cell = a set of atoms (area × sex ×
age band × year × outcome), so the disclosure audit can hold each release, and the ledger of
all earlier ones, to the same equations.

Units: rates per 1,000 resident-years (a resident-year = a resident with at least one visit in
the year; see docs/methods.md); distances in km; biomarkers in the code's canonical unit.
Distance bands group whole areas by the distance of their centre to the nearest site, so that a
band is always a union of area atoms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext_noop

from analytics import suite
from analytics.extraction import ACUTE_RESPIRATORY_LABEL, Datasets
from analytics.stats import biomonitoring, rates
from analytics.stats.errors import StatsInputError
from analytics.stats.exposure import haversine_km
from analytics.stats.standard_populations import AGE_BANDS, standard_weights
from reports.privacy import (
    Atom,
    Cell,
    Derived,
    DerivedKind,
    LedgerEntry,
    Nesting,
    ProtectedRelease,
    RevisionPolicy,
    Rules,
    Table,
    protect_release,
    revision_shortfalls,
)

SEXES = ("F", "M")
RESIDENT_YEARS = "resident_years"  # the outcome dimension's value for "residents seen"
POPULATION = "population"
REPORT_RADIUS_KM = 20.0  # areas whose centre lies within this distance of the site
ALL = "ALL"
PER = 1000.0
# Frozen in English in the release content (hashed); the pages translate them when they are
# rendered (gettext_noop: in the catalogues, but English here).
TABLE_TITLES = {
    "indicators_by_area": gettext_noop("Health indicators by area"),
    "indicators_by_distance": gettext_noop("Health indicators by distance to the site"),
    "trend": gettext_noop("Indicators year by year (all areas)"),
    "biomonitoring": gettext_noop("Biomonitoring by distance to the site"),
    "exposure_response": gettext_noop("Exposure–response (all years of follow-up)"),
    "environment": gettext_noop("Environmental monitoring against guideline values"),
    "population": gettext_noop("Population"),
}


@dataclass
class ReportInput:
    """What a report is built from: the run's datasets, its tidy result rows and parameters."""

    datasets: Datasets
    results: pd.DataFrame
    parameters: dict[str, Any]


@dataclass
class BuiltReport:
    protected: ProtectedRelease
    content: dict[str, Any]
    internal: dict[str, Any]
    ledger: list[LedgerEntry] = field(default_factory=list)


class ReportInputError(ValueError):
    """The report cannot be built from this input. The message is a catalogue msgid with its
    values, so that the draft screen says why in the reader's language (`translated`); str()
    is the English, for logs."""

    def __init__(self, msgid: str, **params: object) -> None:
        self.msgid = msgid
        self.params = params
        super().__init__(msgid % params if params else msgid)

    def translated(self) -> str:
        from django.utils.translation import gettext

        return gettext(self.msgid) % self.params if self.params else gettext(self.msgid)


@dataclass(frozen=True)
class HeldRevision:
    """A published number that late data moved by 1..T−1 (for the "hold" option)."""

    description: str  # in words: "Asthma, Riverside (A03), 2025"
    release: str  # the earlier release, by site, year and version
    more_records: int  # further records that would make the change publishable
    back_to_published: int  # or this many fewer, back to the published value


class LateDataRefusal(ReportInputError):
    """A correction moves published numbers by fewer than T records; the options are listed."""

    def __init__(self, held: list[HeldRevision], threshold: int) -> None:
        self.held = held
        self.threshold = threshold
        # Not shown as it is: the draft screen lists the held numbers (LateDataProblem).
        super().__init__(
            "%(count)d published numbers would change by fewer than %(threshold)d records",
            count=len(held),
            threshold=threshold,
        )


def report_areas(data: ReportInput, site_code: str) -> pd.DataFrame:
    """Areas within REPORT_RADIUS_KM of the site, with their distance band (by centre)."""
    site = data.datasets.sites[data.datasets.sites["site_code"] == site_code]
    if site.empty:
        raise ReportInputError(gettext_noop("There is no site %(site)s."), site=site_code)
    sites = data.datasets.sites
    nearest = haversine_km(
        data.datasets.areas["latitude"].tolist(),
        data.datasets.areas["longitude"].tolist(),
        sites["latitude"].tolist(),
        sites["longitude"].tolist(),
    ).min(axis=1)
    to_site = haversine_km(
        data.datasets.areas["latitude"].tolist(),
        data.datasets.areas["longitude"].tolist(),
        site["latitude"].tolist(),
        site["longitude"].tolist(),
    )[:, 0]
    areas = data.datasets.areas.assign(distance_km=nearest, to_site_km=to_site)
    areas = areas[areas["to_site_km"] <= REPORT_RADIUS_KM].copy()
    if areas.empty:
        raise ReportInputError(
            gettext_noop("No area lies within %(km)s km of %(site)s."),
            km=f"{REPORT_RADIUS_KM:g}",
            site=site_code,
        )
    near, far = data.parameters["near_km"], data.parameters["far_km"]
    areas["band"] = np.where(
        areas["distance_km"] < near, "near", np.where(areas["distance_km"] >= far, "far", "middle")
    )
    return areas.sort_values("area_code").reset_index(drop=True)


def _atoms(areas: Iterable[str], years: Iterable[int], outcome: str) -> frozenset[Atom]:
    return frozenset(
        Atom(a, s, b, str(y), outcome)
        for a in areas
        for s in SEXES
        for b in AGE_BANDS
        for y in years
    )


class _Counts:
    """Atom counts and resident-years, in one dense (area × year × age band) array each, so a
    cell's sum is one slice of it (counts are whole numbers: every order of summing gives the
    same total)."""

    def __init__(self, ry: pd.DataFrame, outcomes: list[str]) -> None:
        keys = ["area_code", "sex", "age_band", "year"]
        grouped = ry.groupby(keys, observed=True)
        self.years = grouped["person_years"].sum()
        self.events = {o: grouped[o].sum() for o in outcomes}
        index = self.years.index
        area_values = index.get_level_values("area_code").astype(str)
        year_values = index.get_level_values("year").astype(int)
        self._area = {a: i for i, a in enumerate(sorted(set(area_values)))}
        self._year = {y: i for i, y in enumerate(sorted(set(year_values)))}
        band = {b: i for i, b in enumerate(AGE_BANDS)}
        at = (
            np.array([self._area[a] for a in area_values], dtype=np.intp),
            np.array([self._year[y] for y in year_values], dtype=np.intp),
            np.array([band[str(b)] for b in index.get_level_values("age_band")], dtype=np.intp),
        )
        shape = (len(self._area), len(self._year), len(AGE_BANDS))
        self._dense_years = np.zeros(shape)
        np.add.at(self._dense_years, at, self.years.to_numpy(dtype=float))
        self._dense_events: dict[str, np.ndarray] = {}
        for outcome, series in self.events.items():
            dense = np.zeros(shape)
            np.add.at(dense, at, series.to_numpy(dtype=float))
            self._dense_events[outcome] = dense

    def _sum(self, dense: np.ndarray, areas: list[str], years: list[int]) -> tuple[int, np.ndarray]:
        rows = sorted({self._area[a] for a in areas if a in self._area})
        columns = sorted({self._year[int(y)] for y in years if int(y) in self._year})
        banded = dense[np.ix_(rows, columns)].reshape(-1, len(AGE_BANDS)).sum(axis=0)
        banded = np.asarray(banded, dtype=float) + 0.0  # no -0.0
        return int(np.rint(banded.sum())), banded

    def events_of(self, outcome: str, areas: list[str], years: list[int]) -> tuple[int, np.ndarray]:
        return self._sum(self._dense_events[outcome], areas, years)

    def years_of(self, areas: list[str], years: list[int]) -> tuple[int, np.ndarray]:
        return self._sum(self._dense_years, areas, years)

    def atom_counts(self) -> dict[Atom, int]:
        """Every non-zero atom: events per outcome and resident-years (for the audit's checks)."""
        out: dict[Atom, int] = {}
        for outcome, series in [*self.events.items(), (RESIDENT_YEARS, self.years)]:
            for (area, sex, band, year), value in series.items():
                if value:
                    atom = Atom(str(area), str(sex), str(band), str(year), outcome)
                    out[atom] = round(float(value))
        return out


def _rate_derived(
    events: int,
    banded_events: np.ndarray,
    person_years: int,
    banded_years: np.ndarray,
    params: dict[str, Any],
) -> tuple[Derived, ...]:
    if person_years <= 0:
        return ()
    crude = rates.crude_rate(float(events), float(person_years), per=PER)
    derived = [
        Derived(
            "crude_rate_per_1000",
            DerivedKind.RATE,
            crude.estimate,
            _finite(crude.ci_lower),
            _finite(crude.ci_upper),
        )
    ]
    present = banded_years > 0
    try:
        dsr = rates.direct_standardized_rate(
            banded_events[present].tolist(),
            banded_years[present].tolist(),
            standard_weights(params["standard"])[present].tolist(),
            bands=[b for b, keep in zip(AGE_BANDS, present, strict=True) if keep],
            per=PER,
        )
        derived.append(
            Derived(
                "dsr_per_1000",
                DerivedKind.STANDARDIZED_RATE,
                dsr.estimate,
                _finite(dsr.ci_lower),
                _finite(dsr.ci_upper),
            )
        )
    except StatsInputError:
        pass
    return tuple(derived)


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _biomarker_frame(data: ReportInput, areas: pd.DataFrame, year_to: int) -> pd.DataFrame:
    codes = data.datasets.codes[data.datasets.codes["category"] == "biomarker"]
    obs = data.datasets.observations[
        data.datasets.observations["code"].astype(str).isin(codes["code"])
    ]
    residents = data.datasets.residents.set_index("resident_id")
    info = residents.loc[obs["resident_id"]]
    frame = pd.DataFrame(
        {
            "resident_id": obs["resident_id"].to_numpy(),
            "visited_on": obs["visited_on"].to_numpy(),
            "code": obs["code"].astype(str).to_numpy(),
            "value": obs["value"].to_numpy(),
            "below_lod": obs["below_lod"].to_numpy(),
            "lod": obs["lod"].to_numpy(),
            "area_code": info["area_code"].astype(str).to_numpy(),
            "sex": info["sex"].astype(str).to_numpy(),
            "birth_year": info["birth_year"].to_numpy(),
        }
    )
    frame["year"] = pd.to_datetime(frame["visited_on"]).dt.year
    frame = frame[frame["area_code"].isin(areas["area_code"]) & (frame["year"] == year_to)]
    frame["age_band"] = suite.age_band_of(frame["year"] - frame["birth_year"]).astype(str)
    # One result per resident and biomarker in the year: the latest.
    return frame.sort_values("visited_on").groupby(["resident_id", "code"]).tail(1)


class Grouping(StrEnum):
    """How finely the indicator tables group areas (option (c) for late data: coarser)."""

    AREAS = "areas"  # every area, the distance bands, the trend and exposure tables
    BANDS = "bands"  # distance bands only: no per-area indicators


def layout_relations(outcomes: Iterable[str], biomarkers: Iterable[str]) -> list[Nesting]:
    """What a reader may assume of the report's counts, atom by atom (the audit's bounds).

    Every outcome is counted once per resident-year (events ≤ resident-years); the acute
    respiratory group is "J06 or J20" (each code ≤ the group ≤ the two codes together); a
    tested resident was seen that year (tested ≤ resident-years) and above-reference results
    are among the tested.
    """
    relations = [
        Nesting((o,), (RESIDENT_YEARS,), "events ≤ resident-years") for o in sorted(outcomes)
    ]
    if suite.ACUTE_RESPIRATORY in outcomes:
        relations += [
            Nesting((code,), (suite.ACUTE_RESPIRATORY,), "a code ≤ its group")
            for code in suite.ACUTE_CODES
        ]
        relations.append(
            Nesting((suite.ACUTE_RESPIRATORY,), suite.ACUTE_CODES, "a group ≤ its codes")
        )
    for code in sorted(biomarkers):
        relations.append(Nesting((f"{code}:tested",), (RESIDENT_YEARS,), "tested ≤ resident-years"))
        relations.append(
            Nesting((f"{code}:above_reference",), (f"{code}:tested",), "above reference ≤ tested")
        )
    return relations


class Relation(StrEnum):
    """The kinds of relation a published column takes part in (docs/privacy.md threat model)."""

    SUM = "sum"  # table sums: a total equals its parts (implied by the atom sets)
    NON_NEGATIVE = "non_negative"  # 0 ≤ every count
    NESTED = "nested"  # ≤ another count of people (a declared Nesting)
    DERIVED = "derived"  # follows its numerator and denominator (withheld with either)
    MODEL = "model"  # a model estimate shown only where its counts are (no equation)
    OPEN = "open"  # environmental data: no people, published in full


COUNT = (Relation.SUM, Relation.NON_NEGATIVE, Relation.NESTED)
INDICATOR_COLUMNS: dict[str, tuple[Relation, ...]] = {
    "events": COUNT,
    RESIDENT_YEARS: COUNT,
    "crude_rate_per_1000": (Relation.DERIVED,),
    "dsr_per_1000": (Relation.DERIVED,),
}
#: Every column each table publishes and the relations that cover it. A layout that publishes
#: a column missing here fails tests/reports/test_layouts.py.
LAYOUT_COLUMNS: dict[str, dict[str, tuple[Relation, ...]]] = {
    "indicators_by_area": INDICATOR_COLUMNS,
    "indicators_by_distance": INDICATOR_COLUMNS,
    "trend": {**INDICATOR_COLUMNS, "apc_percent_per_year": (Relation.MODEL,)},
    "exposure_response": {**INDICATOR_COLUMNS, "adjusted_rate_ratio": (Relation.MODEL,)},
    "biomonitoring": {
        "tested": COUNT,
        "above_reference": COUNT,
        "geometric_mean": (Relation.DERIVED,),
        "pct_above_reference": (Relation.DERIVED,),
    },
    "population": {POPULATION: (Relation.SUM, Relation.NON_NEGATIVE)},
    "environment": {m: (Relation.OPEN,) for m in suite.ENVIRONMENT_MEASURES},
}


def build_tables(
    data: ReportInput, *, site_code: str, year: int, grouping: Grouping = Grouping.AREAS
) -> tuple[list[Table], dict[str, Any]]:
    """The report's protected-table layouts, and the values that are not cells (kept aside).

    Denominators are counts of people and are cells of their own (``…/resident_years/…``,
    ``…/tested``), linked to the counts they divide by ``denominator_key``.
    """
    params = data.parameters
    areas = report_areas(data, site_code)
    area_codes = areas["area_code"].astype(str).tolist()
    all_ry = suite.resident_years(data.datasets, params)
    ry = all_ry[all_ry["area_code"].isin(area_codes) & (all_ry["year"] <= year)]
    if ry.empty or year not in set(ry["year"]):
        raise ReportInputError(
            gettext_noop("No resident was visited in %(year)s in the areas of %(site)s."),
            year=year,
            site=site_code,
        )
    years = sorted(int(y) for y in ry["year"].unique())
    outcomes = suite.outcomes_of(data.datasets)
    counts = _Counts(ry, outcomes)
    tables: list[Table] = []
    labels: dict[str, dict[str, str]] = {}

    def label(key: str, **fields: str) -> str:
        labels[key] = fields
        return key

    def where_of(table: str, where: str) -> dict[str, str]:
        if table == "indicators_by_area":
            return {"area_code": where, "period": str(year), "stratum": ""}
        if table == "indicators_by_distance":
            return {"area_code": ALL, "period": str(year), "stratum": f"distance_band={where}"}
        if table == "trend":
            return {"area_code": ALL, "period": where, "stratum": ""}
        return {
            "area_code": ALL,
            "period": f"{years[0]}-{years[-1]}",
            "stratum": f"distance_band={where}",
        }

    def table_cells(table: str, groups: list[tuple[str, list[str], list[int]]]) -> Table:
        """The resident-years cell of every group, then each outcome's events over it."""
        cells: list[Cell] = []
        for where, cell_areas, cell_years in groups:
            person_years, _ = counts.years_of(cell_areas, cell_years)
            key = label(
                f"{table}/{RESIDENT_YEARS}/{where}",
                outcome=RESIDENT_YEARS,
                count_measure=RESIDENT_YEARS,
                **where_of(table, where),
            )
            cells.append(Cell(key, _atoms(cell_areas, cell_years, RESIDENT_YEARS), person_years))
        for outcome in outcomes:
            for where, cell_areas, cell_years in groups:
                key = label(f"{table}/{outcome}/{where}", outcome=outcome, **where_of(table, where))
                events, banded_events = counts.events_of(outcome, cell_areas, cell_years)
                person_years, banded_years = counts.years_of(cell_areas, cell_years)
                cells.append(
                    Cell(
                        key=key,
                        atoms=_atoms(cell_areas, cell_years, outcome),
                        count=events,
                        denominator=person_years,
                        denominator_key=f"{table}/{RESIDENT_YEARS}/{where}",
                        derived=_rate_derived(
                            events, banded_events, person_years, banded_years, params
                        ),
                    )
                )
        return Table(table, tuple(cells))

    if grouping == Grouping.AREAS:
        tables.append(
            table_cells(
                "indicators_by_area",
                [(a, [a], [year]) for a in area_codes] + [(ALL, area_codes, [year])],
            )
        )
    bands = [b for b in suite.DISTANCE_BANDS if (areas["band"] == b).any()]
    band_areas_of = {
        b: areas.loc[areas["band"] == b, "area_code"].astype(str).tolist() for b in bands
    }
    tables.append(
        table_cells("indicators_by_distance", [(b, band_areas_of[b], [year]) for b in bands])
    )
    tables.append(table_cells("trend", [(str(y), area_codes, [y]) for y in years]))
    tables.append(table_cells("exposure_response", [(b, band_areas_of[b], years) for b in bands]))

    bio = _biomarker_frame(data, areas, year)
    bio_cells: list[Cell] = []
    bio_counts: dict[Atom, int] = {}
    references = data.datasets.codes.set_index("code")["reference_level"]
    area_band = dict(zip(areas["area_code"], areas["band"], strict=True))
    for code, group in bio.groupby("code", sort=True):
        group = group.assign(band=group["area_code"].map(area_band))
        reference = references.get(code)
        has_reference = reference is not None and not pd.isna(reference)
        values = np.where(group["below_lod"], 0.0, group["value"].fillna(0.0))
        above_mask = values > float(reference) if has_reference else np.zeros(len(group), bool)
        for (area, sex, band), n in group.groupby(["area_code", "sex", "age_band"]).size().items():
            bio_counts[Atom(str(area), str(sex), str(band), str(year), f"{code}:tested")] = int(n)
        above_rows = group[above_mask]
        for (area, sex, band), n in (
            above_rows.groupby(["area_code", "sex", "age_band"]).size().items()
        ):
            atom = Atom(str(area), str(sex), str(band), str(year), f"{code}:above_reference")
            bio_counts[atom] = int(n)
        for band in [*bands, ALL]:
            sub = group if band == ALL else group[group["band"] == band]
            band_areas = area_codes if band == ALL else band_areas_of[band]
            tested = _atoms(band_areas, [year], f"{code}:tested")
            derived: tuple[Derived, ...] = ()
            try:
                gm = biomonitoring.geometric_mean(
                    sub["value"].tolist(), sub["below_lod"].tolist(), sub["lod"].tolist()
                )
                if math.isfinite(gm.estimate):
                    derived = (
                        Derived(
                            "geometric_mean",
                            DerivedKind.GEOMETRIC_MEAN,
                            gm.estimate,
                            _finite(gm.ci_lower),
                            _finite(gm.ci_upper),
                        ),
                    )
            except StatsInputError:
                pass
            tested_key = label(
                f"biomonitoring/{code}/{band}/tested",
                outcome=str(code),
                area_code=ALL,
                period=str(year),
                stratum=f"distance_band={band}",
                count_measure="tested",
            )
            bio_cells.append(Cell(tested_key, tested, len(sub), derived=derived))
            if has_reference and len(sub):
                sub_values = np.where(sub["below_lod"], 0.0, sub["value"].fillna(0.0))
                above = int((sub_values > float(reference)).sum())
                share = rates.proportion(float(above), float(len(sub)))
                key = label(
                    f"biomonitoring/{code}/{band}/above_reference",
                    outcome=str(code),
                    area_code=ALL,
                    period=str(year),
                    stratum=f"distance_band={band}",
                    count_measure="above_reference",
                )
                bio_cells.append(
                    Cell(
                        key,
                        _atoms(band_areas, [year], f"{code}:above_reference"),
                        above,
                        denominator=len(sub),
                        denominator_key=tested_key,
                        derived=(
                            Derived(
                                "pct_above_reference",
                                DerivedKind.PERCENTAGE,
                                100 * share.estimate,
                                100 * (share.ci_lower or 0),
                                100 * (share.ci_upper or 0),
                            ),
                        ),
                    )
                )
    if bio_cells:
        tables.append(Table("biomonitoring", tuple(bio_cells)))

    # The census population of each area and sex: a count of people like any other.
    population = data.datasets.population
    population = population[
        (population["year"] == year) & population["area_code"].astype(str).isin(area_codes)
    ]
    population_counts: dict[Atom, int] = {}
    for row in population.itertuples(index=False):
        atom = Atom(str(row.area_code), str(row.sex), str(row.age_band), str(year), POPULATION)
        population_counts[atom] = population_counts.get(atom, 0) + int(row.population)
    population_cells = []
    for area in area_codes:
        for sex in SEXES:
            atoms = frozenset(Atom(area, sex, b, str(year), POPULATION) for b in AGE_BANDS)
            key = label(
                f"population/{area}/{sex}",
                outcome=POPULATION,
                area_code=area,
                period=str(year),
                stratum=f"sex={sex}",
                count_measure=POPULATION,
            )
            population_cells.append(
                Cell(key, atoms, sum(population_counts.get(a, 0) for a in atoms))
            )
    tables.append(Table("population", tuple(population_cells)))

    biomarkers = sorted(bio["code"].astype(str).unique()) if len(bio) else []
    extras = {
        "labels": labels,
        "ry": ry,
        "areas": areas,
        "bands": bands,
        "years": years,
        "outcomes": outcomes,
        "relations": layout_relations(outcomes, biomarkers),
        # Counted over all the data, every year and area: the ledger may hold a later year
        # (published first) or another site's areas, and the audit can tell a revised earlier
        # value from an unchanged one only where it knows the data (reports/privacy/audit.py).
        "atom_counts": {
            **_Counts(all_ry, outcomes).atom_counts(),
            **bio_counts,
            **population_counts,
        },
        "reference_levels": {
            str(k): (None if pd.isna(v) else float(v)) for k, v in references.items()
        },
    }
    return tables, extras


# --- from protected cells to the public content -------------------------------------------------

OUTCOME_LABELS = {suite.ACUTE_RESPIRATORY: ACUTE_RESPIRATORY_LABEL}
#: The name releases frozen before the outcome had one name carry; rendering shows the current
#: one instead (reports.rendering), and this keeps the old one translatable meanwhile.
RETIRED_OUTCOME_LABELS = (gettext_noop("Acute respiratory infection (J06 or J20)"),)


def _tidy(
    analysis: str,
    where: dict[str, str],
    measure: str,
    estimate: float | None,
    ci: tuple[float | None, float | None] = (None, None),
    numerator: float | None = None,
    denominator: float | None = None,
    p_value: float | None = None,
    flags: Iterable[str] = (),
) -> dict[str, Any]:
    return {
        "analysis": analysis,
        "outcome": where["outcome"],
        "area_code": where["area_code"],
        "period": where["period"],
        "stratum": where["stratum"],
        "measure": measure,
        "estimate": estimate,
        "ci_lower": ci[0],
        "ci_upper": ci[1],
        "numerator": numerator,
        "denominator": denominator,
        "p_value": p_value,
        "flags": ";".join(flags),
    }


def _published_rows(
    protected: ProtectedRelease, labels: dict[str, dict[str, str]]
) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in protected.tables:
        rows = tables.setdefault(table.name, [])
        for cell in table.cells:
            where = labels[cell.key]
            count_measure = where.get("count_measure", "events")
            rows.append(
                _tidy(
                    table.name,
                    where,
                    count_measure,
                    None if cell.count is None else float(cell.count),
                    numerator=None if cell.count is None else float(cell.count),
                    denominator=None if cell.denominator is None else float(cell.denominator),
                    flags=cell.flags,
                )
            )
            for d in cell.derived:
                rows.append(
                    _tidy(
                        table.name,
                        where,
                        d.measure,
                        d.value,
                        (d.ci_lower, d.ci_upper),
                        denominator=None if cell.denominator is None else float(cell.denominator),
                        flags=d.flags,
                    )
                )
    return tables


def _result(results: pd.DataFrame, **where: str) -> pd.DataFrame:
    frame = results
    for column, value in where.items():
        frame = frame[frame[column] == value]
    return frame


def assemble(
    data: ReportInput,
    protected: ProtectedRelease,
    extras: dict[str, Any],
    *,
    site_code: str,
    site_name: str,
    year: int,
    threshold: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The public content (tables as tidy rows, findings, notes) and the internal audit."""
    labels = extras["labels"]
    tables = _published_rows(protected, labels)
    published = {cell.key: cell for cell in protected.cells()}
    results = data.results
    years = extras["years"]
    codes = data.datasets.codes.set_index("code")
    names = {**{str(c): str(codes.loc[c, "label"]) for c in codes.index}, **OUTCOME_LABELS}

    def shown(key: str) -> bool:
        cell = published.get(key)
        return cell is not None and cell.count is not None

    # Exposure–response: the run's adjusted rate ratios, shown only where the band counts are.
    exposure_rows = tables.get("exposure_response", [])
    for outcome in extras["outcomes"]:
        for band in ("near", "middle"):
            if not (
                shown(f"exposure_response/{outcome}/{band}")
                and shown(f"exposure_response/{outcome}/far")
            ):
                continue
            found = _result(
                results,
                analysis="exposure_response",
                outcome=outcome,
                stratum=f"distance_band={band}",
                measure="adjusted_rate_ratio",
            )
            for r in found.to_dict("records"):
                exposure_rows.append(
                    _tidy(
                        "exposure_response",
                        {
                            "outcome": outcome,
                            "area_code": ALL,
                            "period": f"{years[0]}-{years[-1]}",
                            "stratum": f"distance_band={band}",
                        },
                        "adjusted_rate_ratio",
                        r["estimate"],
                        (r["ci_lower"], r["ci_upper"]),
                        p_value=r["p_value"],
                        flags=[f for f in str(r["flags"] or "").split(";") if f],
                    )
                )
    tables["exposure_response"] = exposure_rows

    # Trends: the annual percent change, withheld when any year of the outcome is suppressed.
    trend_rows = tables.get("trend", [])
    for outcome in extras["outcomes"]:
        # A fitted trend is a function of every year's events and resident-years.
        needed = [f"trend/{o}/{y}" for o in (outcome, RESIDENT_YEARS) for y in years]
        if not all(shown(key) for key in needed):
            continue
        for r in _result(results, analysis="trend", outcome=outcome).to_dict("records"):
            if r["measure"] != "apc_percent_per_year":
                continue
            trend_rows.append(
                _tidy(
                    "trend",
                    {
                        "outcome": outcome,
                        "area_code": ALL,
                        "period": f"{years[0]}-{years[-1]}",
                        "stratum": "",
                    },
                    "apc_percent_per_year",
                    r["estimate"],
                    (r["ci_lower"], r["ci_upper"]),
                    p_value=r["p_value"],
                )
            )
    tables["trend"] = trend_rows

    # Environmental monitoring: open data, no people: shown in full.
    environment = _result(results, analysis="environment", period=str(year))
    tables["environment"] = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in environment[list(suite.ROW_FIELDS)].to_dict("records")
    ]

    findings = _findings(tables, extras, names, year, data.parameters)
    year_cell = published.get(f"trend/{RESIDENT_YEARS}/{year}")
    seen = None if year_cell is None else year_cell.count
    visits = data.datasets.observations
    visits = visits[visits["visited_on"].dt.year == year]
    in_areas = data.datasets.residents.set_index("resident_id").loc[
        visits["resident_id"], "area_code"
    ]
    visits_in_areas = visits[in_areas.astype(str).isin(extras["areas"]["area_code"]).to_numpy()]
    summary = protected.summary
    content = {
        "template": "annual_community_health",
        "site": {"code": site_code, "name": site_name},
        "year": year,
        "years": years,
        "threshold": threshold,
        "parameters": {
            k: data.parameters[k] for k in ("near_km", "far_km", "standard", "pollutant")
        },
        "areas": [
            {
                "area_code": str(a["area_code"]),
                "name": str(a["name"]),
                "distance_km": round(float(a["distance_km"]), 1),
                "band": str(a["band"]),
            }
            for a in extras["areas"].to_dict("records")
        ],
        "outcome_labels": {
            **{o: names.get(o, o) for o in extras["outcomes"]},
            RESIDENT_YEARS: gettext_noop("Residents seen (resident-years)"),
            POPULATION: gettext_noop("Population (census)"),
        },
        "reference_levels": extras["reference_levels"],
        "tables": {name: tables[name] for name in TABLE_TITLES if name in tables},
        "table_titles": TABLE_TITLES,
        # English sentences (as before), and the same as messages the pages translate.
        "findings": [f.english({**names, "pm2_5": "PM2.5", "pm10": "PM10"}) for f in findings],
        "finding_messages": [f.as_json() for f in findings],
        "coverage": {
            # Residents seen is the year's resident-years cell: shown only as published.
            "residents_seen": seen,
            "visits": None if seen is None else int(visits_in_areas["visit_id"].nunique()),
            "areas": len(extras["areas"]),
            "years_of_follow_up": len(years),
        },
        "privacy": {
            "threshold": summary.threshold,
            "suppressed_cells": summary.suppressed_cells,
            "protected_sets": summary.protected_sets,
            "earlier_releases": summary.earlier_releases,
            "equations": summary.equations,
            "passed": summary.passed,
        },
    }
    content = _json_safe(content)
    internal = {
        # The unprotected cells, to re-audit at publication and to append to the ledger.
        "cells": [
            {
                "key": cell.key,
                "spec": atoms_to_spec(cell.atoms),
                "count": cell.count,
                "suppressed": protected.decisions[cell.key].suppressed,
            }
            for table in protected.source
            for cell in table.cells
        ],
        "decisions": {
            k: (d.reason.value if d.reason else None)
            for k, d in protected.decisions.items()
            if d.suppressed
        },
        "ranges": {r.key: [r.lo, r.hi] for r in protected.audit.ranges},
        "explain": protected.audit.explain(),
        "rounds": protected.rounds,
        # The true atom counts, so that publication's re-audit can tell earlier values that
        # late data made stale (counts of the run's data; staff-only, like the cells).
        "atom_counts": [
            [a.area, a.sex, a.age_band, a.period, a.outcome, n]
            for a, n in sorted(extras["atom_counts"].items())
        ],
        # What the reader may assume (re-audited at publication with the same relations).
        "relations": [
            {"lesser": list(n.lesser), "greater": list(n.greater), "name": n.name}
            for n in protected.relations
        ],
    }
    return content, internal


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity: an undefined or unbounded number is published as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


@dataclass(frozen=True)
class Finding:
    """A plain-language finding: its message (a msgid, English) and the values it names.

    `params` are strings: numbers as English digits (the page shows them in the reader's
    notation), and under "outcome" the outcome's code (the page shows its label)."""

    message: str
    params: dict[str, str]

    def english(self, names: dict[str, str]) -> str:
        params = dict(self.params)
        if "outcome" in params:
            params["outcome"] = names.get(params["outcome"], params["outcome"])
        if "outcome_lower" in params:
            code = params["outcome_lower"]
            params["outcome_lower"] = names.get(code, code).lower()
        return self.message % params

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "params": self.params}


def _findings(
    tables: dict[str, list[dict[str, Any]]],
    extras: dict[str, Any],
    names: dict[str, str],
    year: int,
    params: dict[str, Any],
) -> list[Finding]:
    findings: list[Finding] = []
    ratios = [
        r
        for r in tables.get("exposure_response", [])
        if r["measure"] == "adjusted_rate_ratio"
        and r["stratum"] == "distance_band=near"
        and r["estimate"] is not None
        and r["ci_lower"] is not None
        and r["ci_lower"] > 1
    ]
    for r in sorted(ratios, key=lambda r: -r["estimate"])[:3]:
        findings.append(
            Finding(
                gettext_noop(
                    "People living within %(near_km)s km of the site had %(outcome_lower)s "
                    "%(ratio)s times as often as people living %(far_km)s km or more away, "
                    "after taking age, sex, smoking and work at the site into account "
                    "(95%% interval %(low)s to %(high)s; %(period)s)."
                ),
                {
                    "near_km": f"{params['near_km']:g}",
                    "outcome_lower": r["outcome"],
                    "ratio": f"{r['estimate']:.1f}",
                    "far_km": f"{params['far_km']:g}",
                    "low": f"{r['ci_lower']:.1f}",
                    "high": f"{r['ci_upper']:.1f}",
                    "period": str(r["period"]),
                },
            )
        )
    for r in tables.get("trend", []):
        if r["measure"] != "apc_percent_per_year" or r["ci_lower"] is None:
            continue
        if r["ci_lower"] > 0 or r["ci_upper"] < 0:
            first, _sep, last = str(r["period"]).partition("-")
            trend = {
                "outcome": r["outcome"],
                "percent": f"{abs(r['estimate']):.0f}",
                "first": first,
                "last": last or first,
                "low": f"{r['ci_lower']:+.0f}",
                "high": f"{r['ci_upper']:+.0f}",
            }
            message = (
                gettext_noop(
                    "%(outcome)s became more common: about %(percent)s%% a year from %(first)s "
                    "to %(last)s (95%% interval %(low)s%% to %(high)s%% a year)."
                )
                if r["estimate"] > 0
                else gettext_noop(
                    "%(outcome)s became less common: about %(percent)s%% a year from %(first)s "
                    "to %(last)s (95%% interval %(low)s%% to %(high)s%% a year)."
                )
            )
            findings.append(Finding(message, trend))
    bio = {(r["outcome"], r["stratum"], r["measure"]): r for r in tables.get("biomonitoring", [])}
    near = bio.get(("lab.blood_lead", "distance_band=near", "geometric_mean"))
    far = bio.get(("lab.blood_lead", "distance_band=far", "geometric_mean"))
    if near and far and near["estimate"] is not None and far["estimate"] is not None:
        findings.append(
            Finding(
                gettext_noop(
                    "The typical (geometric mean) blood lead level in %(year)s was %(near)s "
                    "µg/dL near the site and %(far)s µg/dL far from it."
                ),
                {
                    "year": str(year),
                    "near": f"{near['estimate']:.1f}",
                    "far": f"{far['estimate']:.1f}",
                },
            )
        )
    above = bio.get(("lab.blood_lead", "distance_band=ALL", "pct_above_reference"))
    if above and above["estimate"] is not None:
        findings.append(
            Finding(
                gettext_noop(
                    "%(percent)s%% of the residents tested in %(year)s had blood lead above "
                    "the reference value of 3.5 µg/dL."
                ),
                {"percent": f"{above['estimate']:.0f}", "year": str(year)},
            )
        )
    env = [
        r
        for r in tables.get("environment", [])
        if r["measure"] == "mean" and r["outcome"] in ("pm2_5", "pm10")
    ]
    guidelines = {
        (r["outcome"], r["stratum"]): r["estimate"]
        for r in tables.get("environment", [])
        if r["measure"] == "guideline"
    }
    for pollutant in ("pm2_5", "pm10"):
        stations = [r for r in env if r["outcome"] == pollutant]
        over = [
            r
            for r in stations
            if guidelines.get((pollutant, r["stratum"])) is not None
            and r["estimate"] is not None
            and r["estimate"] > guidelines[(pollutant, r["stratum"])]
        ]
        if stations:
            findings.append(
                Finding(
                    gettext_noop(
                        "The %(year)s annual mean of %(outcome)s was above the WHO guideline at "
                        "%(over)s of %(stations)s air monitoring stations."
                    ),
                    {
                        "year": str(year),
                        "outcome": pollutant,
                        "over": str(len(over)),
                        "stations": str(len(stations)),
                    },
                )
            )
    if not findings:
        findings.append(
            Finding(gettext_noop("No clear differences between areas were found this year."), {})
        )
    return findings


def build_report(
    data: ReportInput,
    *,
    site_code: str,
    site_name: str,
    year: int,
    ledger: list[LedgerEntry],
    threshold: int = 10,
    revisions: RevisionPolicy = RevisionPolicy.REFUSE,
    grouping: Grouping = Grouping.AREAS,
) -> BuiltReport:
    """Build, protect (primary, complementary, audit against the ledger) and assemble.

    ``revisions`` and ``grouping`` are the ways out for late data (docs/privacy.md): suppress
    the cells a correction moves by 1..T−1, or publish at a coarser grouping; both audited.
    """
    tables, extras = build_tables(data, site_code=site_code, year=year, grouping=grouping)
    rules = Rules(threshold=threshold)
    if revisions == RevisionPolicy.REFUSE:
        shortfalls = revision_shortfalls(tables, ledger, rules)
        if shortfalls:
            describe = _describer(data, extras)
            raise LateDataRefusal(
                [
                    HeldRevision(describe(s.key), s.release, s.more_records, s.back_to_published)
                    for s in shortfalls
                ],
                threshold,
            )
    protected = protect_release(
        tables,
        ledger,
        rules,
        atom_counts=extras["atom_counts"],
        relations=extras["relations"],
        revisions=revisions,
    )
    content, internal = assemble(
        data,
        protected,
        extras,
        site_code=site_code,
        site_name=site_name,
        year=year,
        threshold=threshold,
    )
    return BuiltReport(protected=protected, content=content, internal=internal)


def _describer(data: ReportInput, extras: dict[str, Any]) -> Any:
    """Cell key → words a person reads ("Asthma, Riverside (A03), 2025"), never a bare code."""
    codes = data.datasets.codes.set_index("code")["label"]
    names = {
        **{str(k): str(v) for k, v in codes.items()},
        **OUTCOME_LABELS,
        RESIDENT_YEARS: "Residents seen",
        POPULATION: "Population",
    }
    areas = {str(a["area_code"]): str(a["name"]) for a in extras["areas"].to_dict("records")}

    def describe(key: str) -> str:
        where = extras["labels"][key]
        measure = where.get("count_measure", "events")
        what = names.get(where["outcome"], where["outcome"])
        if measure in ("tested", "above_reference"):
            what += ", " + ("number tested" if measure == "tested" else "above reference")
        area = where["area_code"]
        place = "all areas" if area == ALL else f"{areas.get(area, area)} ({area})"
        stratum = where["stratum"].replace("distance_band=", "").replace("sex=", "sex ")
        if stratum.startswith(("near", "middle", "far", ALL)):
            place = "all areas" if stratum == ALL else f"{stratum} the site"
        return f"{what}, {place}, {where['period']}"

    return describe


# --- atoms as compact products (cells are Cartesian products of dimension values) ---------------

DIMENSIONS = ("area", "sex", "age_band", "period", "outcome")


def atoms_to_spec(atoms: frozenset[Atom]) -> dict[str, list[str]]:
    """A product spec {dimension: values} when the atom set is a full product (always here)."""
    spec = {d: sorted({getattr(a, d) for a in atoms}) for d in DIMENSIONS}
    size = 1
    for values in spec.values():
        size *= len(values)
    if size != len(atoms):
        raise ValueError("atom set is not a product; store it in full")
    return spec


def spec_to_atoms(spec: dict[str, list[str]]) -> frozenset[Atom]:
    return frozenset(
        Atom(a, s, b, p, o)
        for a in spec["area"]
        for s in spec["sex"]
        for b in spec["age_band"]
        for p in spec["period"]
        for o in spec["outcome"]
    )
