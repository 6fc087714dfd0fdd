"""Hostile text: one identifier rule at every entrance, one formula neutralizer for every CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.i18n import h, t

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_CODES = ["=1+2", "+1", "-1", "@SUM(A1)", "\tA1", "\rA1", "A 1", "<b>A1</b>", "A1\x00", ""]
IDENTIFIER_MAX_LENGTH = 32  # the columns that hold codes are 32 characters wide
# healthwatch.text.IDENTIFIER_RULE's message, looked up in the active language (tests/i18n.py)
RULE = (
    "a code starts with a letter or digit and has only letters, digits, '-' and '_' "
    "(at most 32 characters)"
)
GOOD_CODES = ["A01", "RH-SEP", "AQ-01", "wq_3", "X" * IDENTIFIER_MAX_LENGTH]


@pytest.mark.parametrize("code", GOOD_CODES)
def test_ordinary_identifiers_pass_the_rule(code: str) -> None:
    from healthwatch.text import identifier_problem

    assert identifier_problem(code) is None


@pytest.mark.parametrize("code", [*HOSTILE_CODES, "X" * (IDENTIFIER_MAX_LENGTH + 1)])
def test_formula_leaders_spaces_markup_and_overlong_identifiers_fail_the_rule(code: str) -> None:
    from healthwatch.text import identifier_problem

    problem = identifier_problem(code)
    assert problem == t("%(value)s is not a valid code: %(rule)s.", value=repr(code), rule=t(RULE))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain text", "plain text"),
        ("", ""),
        ("-3.5", "-3.5"),
        ("+2e-3", "+2e-3"),
        (-3.5, -3.5),
        (7, 7),
        (None, None),
    ],
)
def test_a_csv_cell_neutralizes_formula_leaders_but_leaves_numbers_alone(
    value: object, written: object
) -> None:
    from healthwatch.text import csv_cell

    assert csv_cell(value) == written


def test_the_csv_writer_neutralizes_every_cell_of_every_row() -> None:
    from healthwatch.text import csv_writer

    out = io.StringIO()
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(["=A1", -1.5, "ok"])
    writer.writerows([["@x", "-2"]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["'=A1", "-1.5", "ok"], ["'@x", "-2"]]


def test_no_module_writes_csv_except_through_the_one_neutralizing_writer() -> None:
    """A new csv.writer anywhere in the apps would bypass the neutralizer."""
    offenders = []
    for folder in ("healthwatch", "surveys", "analytics", "reports"):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            # The synthetic-community generator writes test inputs for the importer, not files the
            # system hands to people; the importer's own formula rule guards what it reads.
            if relative in {"healthwatch/text.py", "surveys/synthetic/writer.py"}:
                continue
            if re.search(r"csv\.(writer|DictWriter)\(|\.to_csv\(", path.read_text()):
                offenders.append(relative)
    assert offenders == []


# --- the identifier rule at every entrance -----------------------------------------------------

STATION = {"name": "School roof", "medium": "air", "latitude": 25, "longitude": 110}


@pytest.mark.parametrize("code", ["=1+2", "<b>AQ</b>", "AQ 1"])
def test_a_hostile_station_code_is_refused_by_the_model(code: str, db: None) -> None:
    from surveys.models import Station

    with pytest.raises(ValidationError) as refused:
        Station(code=code, **STATION).full_clean()
    assert "code" in refused.value.message_dict


@pytest.mark.parametrize("code", ["=1+2", "<b>AQ</b>", "AQ 1"])
def test_a_hostile_station_code_is_refused_by_the_api_naming_the_field(
    code: str, worker_a: User
) -> None:
    from surveys.models import Station

    client = APIClient()
    client.force_authenticate(worker_a)
    response = client.post("/api/v1/stations/", {"code": code, **STATION}, format="json")
    assert response.status_code == 400
    assert "code" in str(response.json())
    assert not Station.objects.exists()


@pytest.mark.parametrize("code", ["=1+2", "<b>AQ</b>", "AQ 1"])
def test_a_hostile_station_code_is_refused_by_the_field_form(code: str, worker_a: User) -> None:
    from surveys.models import Station

    client = Client()
    client.force_login(worker_a)
    response = client.post(reverse("surveys:station_create"), {"code": code, **STATION})
    assert response.status_code == 400
    assert h(RULE) in response.content.decode()
    assert not Station.objects.exists()


@pytest.mark.parametrize(
    ("kind", "header", "row"),
    [
        ("stations", "station_code,name,medium,latitude,longitude", "{code},Roof,air,25,110"),
        ("areas", "area_code,name,latitude,longitude", "{code},Village,25,110"),
        (
            "sites",
            "site_code,name,kind,latitude,longitude,operator,opened_on",
            "{code},Mine,mine,25,110,,",
        ),
    ],
)
@pytest.mark.parametrize("code", ["AQ 1", "<b>AQ</b>", "A;B"])
def test_a_hostile_code_in_a_csv_import_is_refused_with_its_row_and_column(
    kind: str, header: str, row: str, code: str, tmp_path: Path, db: None
) -> None:
    from surveys.models import Area, ProductionSite, Station

    file = tmp_path / f"{kind}.csv"
    file.write_text(f"{header}\n{row.format(code=code)}\n")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(BaseException):  # noqa: B017 - the command exits non-zero on bad input
        call_command("import_csv", kind, str(file), stdout=out, stderr=err)
    message = out.getvalue() + err.getvalue()
    reason = t("is not a valid code: %(rule)s.", rule=t(RULE))
    where = "row %(row)s, column %(column)s, value '%(value)s': %(reason)s"
    column = header.split(",")[0]
    assert t(where, row=2, column=column, value=code, reason=reason) in message
    assert not (
        Station.objects.exists() or Area.objects.exists() or ProductionSite.objects.exists()
    )


# --- every writer neutralizes ------------------------------------------------------------------


def test_the_open_data_csv_neutralizes_a_hostile_cell(db: None) -> None:
    from reports import rendering

    rows = [
        {
            "station_code": "AQ1",
            "sampled_on": "2024-01-01",
            "pollutant": '=HYPERLINK("http://x")',
            "value": -1.5,
            "unit": "@µg",
            "below_lod": False,
            "lod": None,
            "status": "validated",
        }
    ]
    written = list(csv.reader(io.StringIO(rendering.open_data_csv(rows).decode())))
    assert written[1] == [
        "AQ1",
        "2024-01-01",
        '\'=HYPERLINK("http://x")',
        "-1.5",
        "'@µg",
        "false",
        "",
        "validated",
    ]


def test_a_release_table_csv_neutralizes_a_hostile_cell() -> None:
    from reports import rendering

    row: dict[str, object] = dict.fromkeys(rendering.ROW_COLUMNS, "")
    row.update({"outcome": "+cmd", "estimate": -0.25})
    written = list(csv.reader(io.StringIO(rendering.table_csv([row]).decode())))
    values = dict(zip(written[0], written[1], strict=True))
    assert values["outcome"] == "'+cmd" and values["estimate"] == "-0.25"


def test_a_staff_export_neutralizes_a_hostile_station_name(admin_user: User) -> None:
    from surveys.exporting import export_csv
    from surveys.models import Station

    Station.objects.create(code="AQ1", name="=cmd()", medium="air", latitude=1, longitude=2)
    out = io.StringIO()
    export_csv(kind="stations", user=admin_user, out=out)
    assert "'=cmd()" in out.getvalue() and "\n=cmd()" not in out.getvalue()


@pytest.mark.parametrize("station", ["x\x00", "=1+2", "AQ 1"])
def test_a_measurement_naming_a_station_by_a_hostile_code_is_refused_by_the_rule(
    station: str, worker_a: User
) -> None:
    client = APIClient()
    client.force_authenticate(worker_a)
    response = client.post(
        "/api/v1/measurements/",
        {
            "station": station,
            "sampled_on": "2024-06-01",
            "pollutant": "pm2_5",
            "value": 3,
            "unit": "µg/m³",
        },
        format="json",
    )
    assert response.status_code == 400
    messages = [error["message"] for error in response.json()["errors"]]
    assert (
        t("%(value)s is not a valid code: %(rule)s.", value=repr(station), rule=t(RULE)) in messages
    )
