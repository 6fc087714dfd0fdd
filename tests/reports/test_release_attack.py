"""Issue 12 acceptance, end to end: what an anonymous visitor downloads narrows nothing.

A small area (fewer than T residents, all enrolled in the latest year) joins the community;
release v1 of the latest year is built and published, then v2 from a run with other distance
bands (near_km/far_km). The public CSV downloads of both — fetched as an anonymous visitor —
are parsed into the independent attacker's equations (tests/reports/privacy/attacker.py):
no suppressed cell may be narrower than T, and no count or denominator in 1..T−1 may show.

Layout knowledge the attacker uses is public: the release page lists the areas with their
distance band (``content["areas"]``), the years of follow-up, and what each row sums (its
analysis, area, period and band). Atoms are area × year × outcome: every published row sums
over all sexes and age groups, so finer atoms would give the attacker nothing more.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports import services
from reports.models import Release
from reports.privacy import Atom, Nesting
from tests.conftest import load_community
from tests.reports.privacy.attacker import (
    PublicCell,
    PublicRelease,
    attack,
    describe,
)

pytestmark = pytest.mark.django_db

T = 10
NEW_AREA = "A11"
ALL = "ALL"
#: What any reader may assume about the outcomes (the attacker's own list, not the layout's).
ACUTE = ("dx.J06", "dx.J20")


def small_area_community(source: Path, target: Path) -> Path:
    """The tiny community plus area A11 (2.5 km from the plant): 6 residents enrolled in 2025."""
    shutil.copytree(source, target)
    with (target / "areas.csv").open("a") as f:
        f.write(f"{NEW_AREA},Hollow End,44.1725,-105.9000\n")
    bands = ["0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44"]
    bands += ["45-49", "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85+"]
    with (target / "population.csv").open("a") as f:
        for year in range(2021, 2026):
            for sex in ("F", "M"):
                for band in bands:
                    f.write(f"{NEW_AREA},{year},{sex},{band},3\n")
    residents = [
        ("HW-900001", 1980, "F"),
        ("HW-900002", 1975, "M"),
        ("HW-900003", 1990, "F"),
        ("HW-900004", 1962, "M"),
        ("HW-900005", 2001, "F"),
        ("HW-900006", 1955, "M"),
    ]
    with (target / "residents.csv").open("a") as f:
        for study_id, born, sex in residents:
            f.write(
                f"{study_id},{NEW_AREA},{born},{sex},2025-02-10,44.17251,-105.90012,false,never\n"
            )
    with (target / "observations.csv").open("a") as f:
        for i, (study_id, _, _) in enumerate(residents):
            f.write(
                f"{study_id},2025-03-1{i},symptom.cough,{'true' if i % 2 else 'false'},,false,\n"
            )
            f.write(f"{study_id},2025-03-1{i},dx.J45,{'true' if i < 2 else 'false'},,false,\n")
            f.write(f"{study_id},2025-03-1{i},dx.J20,{'true' if i == 3 else 'false'},,false,\n")
    return target


@pytest.fixture
def small_area(tiny_community: Path, tmp_path: Path, db: None) -> Path:
    folder = small_area_community(tiny_community, tmp_path / "community")
    load_community(folder)
    return folder


def publish(release: Release, epidemiologist: User, reviewer: User) -> Release:
    services.release_approve(user=epidemiologist, release=release)
    services.release_review(user=reviewer, release=release, decision="approve", body="ok")
    return services.release_publish(user=epidemiologist, release_id=release.pk)


def downloads(client: Client, path: str) -> dict[str, list[dict[str, str]]]:
    """Every table CSV an anonymous visitor reaches from the public release page (through its
    table pages), parsed."""
    page = client.get(path).content.decode()
    table_pages = sorted(set(re.findall(r'href="([^"]*/tables/[a-z_]+/)"', page)))
    assert table_pages, "the release page links its table pages"
    links: set[str] = set()
    for table_page in table_pages:
        response = client.get(table_page)
        assert response.status_code == 200
        links |= set(re.findall(r'href="([^"]*/[a-z_]+\.csv)"', response.content.decode()))
    assert links, "the table pages link their CSV downloads"
    tables = {}
    for link in sorted(links):
        response = client.get(link)
        assert response.status_code == 200
        text = response.content  # downloads are stored snapshots, served whole
        name = link.rsplit("/", 1)[-1].removesuffix(".csv")
        tables[name] = list(csv.DictReader(io.StringIO(text.decode())))
    return tables


def number(text: str) -> int | None:
    return None if text == "" else round(float(text))


def public_release(name: str, content: dict[str, Any], tables: dict[str, Any]) -> PublicRelease:
    """The attacker's view of one release: each count row as atoms and its published value."""
    areas = [a["area_code"] for a in content["areas"]]
    band_of = {a["area_code"]: a["band"] for a in content["areas"]}

    def where(row: dict[str, str]) -> tuple[list[str], list[str]]:
        band = row["stratum"].removeprefix("distance_band=") if row["stratum"] else ""
        if band and band != ALL:
            chosen = [a for a in areas if band_of[a] == band]
        elif row["area_code"] in ("", ALL):
            chosen = areas
        else:
            chosen = [row["area_code"]]
        first, _, last = row["period"].partition("-")
        years = [str(y) for y in range(int(first), int(last or first) + 1)]
        return chosen, years

    cells: dict[str, PublicCell] = {}
    for table, rows in tables.items():
        if table in ("environment", "population"):
            continue  # no residents: open environmental data and census populations
        for row in rows:
            measure = row["measure"]
            outcome = row["outcome"]
            key = "|".join((table, outcome, row["area_code"], row["period"], row["stratum"]))
            chosen, years = where(row)
            if measure in ("events", "resident_years", "tested", "above_reference"):
                what = outcome if measure == "events" else f"{outcome}:{measure}"
                if measure == "resident_years":
                    what = "resident_years"
                atoms = frozenset(Atom(a, "all", "all", y, what) for a in chosen for y in years)
                cells[f"{key}|{measure}"] = PublicCell(
                    f"{key}|{measure}",
                    atoms,
                    number(row["estimate"]),
                    number(row["denominator"]),
                )
    # A rate or percentage shown beside its count row.
    for table, rows in tables.items():
        for row in rows:
            if row["measure"].startswith(("crude_rate", "dsr", "pct_")) and row["estimate"]:
                for suffix in ("events", "above_reference"):
                    full = "|".join(
                        (table, row["outcome"], row["area_code"], row["period"], row["stratum"])
                    )
                    count = cells.get(f"{full}|{suffix}")
                    if count is not None:
                        cells[count.key] = PublicCell(
                            count.key, count.atoms, count.value, count.denominator, ratio=True
                        )
    return PublicRelease(name, tuple(cells.values()))


def relations(outcomes: set[str]) -> list[Nesting]:
    people = "resident_years"
    found = [Nesting((o,), (people,)) for o in outcomes if ":" not in o and o != people]
    found += [Nesting((o,), (people,)) for o in outcomes if o.endswith(":tested")]
    found += [
        Nesting((f"{o.split(':')[0]}:above_reference",), (f"{o.split(':')[0]}:tested",))
        for o in outcomes
        if o.endswith(":tested")
    ]
    group = "acute_respiratory"
    found += [Nesting((code,), (group,)) for code in ACUTE]
    found.append(Nesting((group,), ACUTE))
    return found


def test_a_new_small_area_across_two_band_groupings_leaks_nothing_to_an_anonymous_visitor(
    small_area: Path, epidemiologist: User, community_reviewer: User, anonymous: Client
) -> None:
    from analytics import services as analytics

    first = analytics.analysis_run_execute_inline(
        run_id=analytics.analysis_run_request(user=None, enqueue=False).pk
    )
    v1 = publish(
        services.release_build_draft(user=epidemiologist, run=first, site_code="RH-SEP", year=2025),
        epidemiologist,
        community_reviewer,
    )
    regrouped = analytics.analysis_run_execute_inline(
        run_id=analytics.analysis_run_request(
            user=None, parameters={"near_km": 3.5, "far_km": 10.0}, enqueue=False
        ).pk
    )
    v2 = publish(
        services.release_correct(
            user=epidemiologist, release=v1, run=regrouped, erratum="Distance bands redrawn."
        ),
        epidemiologist,
        community_reviewer,
    )
    bands = [{a["area_code"]: a["band"] for a in r.content["areas"]} for r in (v1, v2)]
    assert bands[0] != bands[1] and NEW_AREA in bands[0], "two different band groupings"
    releases = [
        public_release(
            f"RH-SEP/2025/v{r.version}",
            r.content,
            downloads(anonymous, f"/reports/RH-SEP/2025/v{r.version}/"),
        )
        for r in (v1, v2)
    ]
    outcomes = {a.outcome for r in releases for c in r.cells for a in c.atoms}
    findings = attack(releases, threshold=T, relations=relations(outcomes))
    assert not findings, describe(findings)
