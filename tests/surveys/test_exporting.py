"""CSV export: same shape as the import, scoped by role, every export logged."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.core.management import call_command
from django.core.management.base import CommandError

from surveys.exporting import EXPORT_COLUMNS, export_csv
from surveys.importing import import_csv
from surveys.models import Area, ProductionSite, RecordAccess
from surveys.pseudonyms import pseudonymize
from surveys.services import AccessDenied

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
ROUND_TRIP_KINDS = ("sites", "areas", "population", "stations", "measurements")


def load(kind: str, text: str) -> None:
    report = import_csv(
        kind=kind, stream=io.BytesIO(text.encode()), file_name=f"{kind}.csv", user=None
    )
    assert report.errors == [], report.errors


def export(kind: str, user: User | AnonymousUser | None) -> list[dict[str, str]]:
    out = io.StringIO()
    count = export_csv(kind=kind, user=user, out=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == count
    return rows


@pytest.fixture
def two_areas(site: ProductionSite, area_a: Area, area_b: Area) -> None:
    load(
        "residents",
        "study_id,area_code,birth_year,sex,enrolled_on,latitude,longitude,works_at_site,smoking\n"
        "EXP-A1,A,1970,F,2024-01-05,25.0101,110.0052,false,never\n"
        "EXP-B1,B,1980,M,2024-01-06,,,true,current\n",
    )
    load(
        "observations",
        "study_id,observed_on,code,value,unit,below_lod,lod\n"
        "EXP-A1,2024-02-01,lab.blood_lead,0.2,µmol/L,false,\n"
        "EXP-A1,2024-02-01,symptom.cough,true,,,\n"
        "EXP-B1,2024-02-02,lab.urine_cadmium,,µg/L,true,0.2\n",
    )
    load("population", "area_code,year,sex,age_band,population\nA,2024,F,0-4,10\nB,2024,F,0-4,7\n")


@pytest.mark.parametrize(
    ("fixture", "residents", "observations", "population"),
    [
        ("worker_a", {"EXP-A1"}, 2, {"A"}),
        ("worker_b", {"EXP-B1"}, 1, {"B"}),
        ("epidemiologist", {"EXP-A1", "EXP-B1"}, 3, {"A", "B"}),
        ("admin_user", {"EXP-A1", "EXP-B1"}, 3, {"A", "B"}),
    ],
)
def test_each_role_exports_what_its_chokepoint_lets_it_see(
    request: pytest.FixtureRequest,
    two_areas: None,
    worker_a: User,
    worker_b: User,
    fixture: str,
    residents: set[str],
    observations: int,
    population: set[str],
) -> None:
    user = request.getfixturevalue(fixture)
    expected = {pseudonymize(study_id).value for study_id in residents}
    assert {row["pseudonym"] for row in export("residents", user)} == expected
    rows = export("observations", user)
    assert len(rows) == observations and {row["pseudonym"] for row in rows} == expected
    assert {row["area_code"] for row in export("population", user)} == population
    assert {row["area_code"] for row in export("areas", user)} == population


@pytest.mark.parametrize("fixture", ["community_reviewer", None])
def test_community_reviewers_and_anonymous_visitors_get_nothing(
    request: pytest.FixtureRequest, two_areas: None, fixture: str | None
) -> None:
    user = request.getfixturevalue(fixture) if fixture else AnonymousUser()
    for kind in EXPORT_COLUMNS:
        out = io.StringIO()
        with pytest.raises(AccessDenied):
            export_csv(kind=kind, user=user, out=out)
        assert out.getvalue() == ""
    assert RecordAccess.objects.count() == 0


def test_every_export_is_logged_with_who_what_and_how_many(
    two_areas: None, worker_a: User, epidemiologist: User
) -> None:
    export("residents", worker_a)
    export("observations", epidemiologist)
    logged = list(
        RecordAccess.objects.order_by("id").values_list("user", "action", "resource", "row_count")
    )
    assert logged == [
        (worker_a.pk, "export", "residents", 1),
        (epidemiologist.pk, "export", "observations", 3),
    ]


def test_residents_export_pseudonyms_and_distance_never_coordinates_or_study_ids(
    two_areas: None, epidemiologist: User
) -> None:
    out = io.StringIO()
    export_csv(kind="residents", user=epidemiologist, out=out)
    text = out.getvalue()
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS["residents"])
    assert "EXP-A1" not in text and "EXP-B1" not in text
    rows = {row["pseudonym"]: row for row in csv.DictReader(io.StringIO(text))}
    near = rows[pseudonymize("EXP-A1").value]
    assert (near["latitude"], near["longitude"], near["distance_to_site_km"]) == ("", "", "1.2")
    assert rows[pseudonymize("EXP-B1").value]["distance_to_site_km"] == ""


def test_observations_export_values_in_the_unit_they_were_entered_in(
    two_areas: None, epidemiologist: User
) -> None:
    rows = {row["code"]: row for row in export("observations", epidemiologist)}
    assert (rows["lab.blood_lead"]["value"], rows["lab.blood_lead"]["unit"]) == ("0.2", "µmol/L")
    assert (rows["symptom.cough"]["value"], rows["symptom.cough"]["unit"]) == ("true", "")
    cadmium = rows["lab.urine_cadmium"]
    assert (cadmium["value"], cadmium["below_lod"], cadmium["lod"]) == ("", "true", "0.2")


@pytest.mark.parametrize("kind", ROUND_TRIP_KINDS)
def test_an_export_re_imports_as_unchanged(db: None, admin_user: User, kind: str) -> None:
    for earlier in ROUND_TRIP_KINDS[: ROUND_TRIP_KINDS.index(kind) + 1]:
        load(earlier, (EXAMPLES / f"{earlier}.csv").read_text())
    out = io.StringIO()
    count = export_csv(kind=kind, user=admin_user, out=out)
    report = import_csv(
        kind=kind,
        stream=io.BytesIO(out.getvalue().encode()),
        file_name="export.csv",
        user=admin_user,
    )
    assert report.errors == []
    assert (report.created, report.unchanged) == (0, count)
    assert count == len((EXAMPLES / f"{kind}.csv").read_text().splitlines()) - 1


def test_text_a_spreadsheet_would_run_is_exported_with_a_leading_quote(
    admin_user: User,
) -> None:
    ProductionSite.objects.create(
        code="X1", name="=1+1", kind="mine", latitude=-25.5, longitude=-110.25
    )
    row = export("sites", admin_user)[0]
    assert (row["name"], row["latitude"], row["longitude"]) == ("'=1+1", "-25.5", "-110.25")


def test_the_export_command_writes_a_file_and_refuses_reviewers(
    two_areas: None, community_reviewer: User, tmp_path: Path
) -> None:
    path = tmp_path / "areas.csv"
    call_command("export_csv", "areas", "--out", str(path), stderr=io.StringIO())
    assert path.read_text().splitlines() == [
        "area_code,name,latitude,longitude",
        "A,Area A,25.01,110.0",
        "B,Area B,25.1,110.1",
    ]
    stdout = io.StringIO()
    call_command("export_csv", "stations", stdout=stdout)
    assert stdout.getvalue() == "station_code,name,medium,latitude,longitude\n"
    assert RecordAccess.objects.filter(user=None, action="export").count() == 2
    with pytest.raises(CommandError, match="Only health workers"):
        call_command("export_csv", "residents", "--user", "reviewer")
