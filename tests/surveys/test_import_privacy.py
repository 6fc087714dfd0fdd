"""After importing residents and observations, no study ID is anywhere: not in the database,
not in the logs, not in what the import says back; the same study ID reaches the same resident.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from surveys.importing import ImportReport, import_csv
from surveys.importing.people import NO_RESIDENT
from surveys.models import Area, ProductionSite, Resident, Visit
from surveys.pseudonyms import pseudonymize
from tests.i18n import t

STUDY_IDS = ("PRIV-7Q3X-0001", "PRIV-7Q3X-0002", "PRIV-7Q3X-0003")
RESIDENTS = (
    "study_id,area_code,birth_year,sex,enrolled_on,latitude,longitude,works_at_site,smoking\n"
    "PRIV-7Q3X-0001,A,1961,F,2024-02-10,25.0101,110.0052,false,never\n"
    "priv-7q3x-0002,A,1988,M,2024-02-10,,,true,current\n"
)
OBSERVATIONS = (
    "study_id,observed_on,code,value,unit,below_lod,lod\n"
    "PRIV-7Q3X-0001,2024-02-10,lab.blood_lead,4.1,µg/dL,false,\n"
    " PRIV-7Q3X-0002 ,2024-02-10,symptom.cough,true,,,\n"
)


def run(kind: str, text: str) -> ImportReport:
    return import_csv(
        kind=kind, stream=io.BytesIO(text.encode()), file_name=f"{kind}.csv", user=None
    )


def assert_no_study_id(text: str) -> None:
    for study_id in STUDY_IDS:
        for form in (study_id, study_id.lower(), study_id.replace("-", "")):
            assert form not in text


def full_dump() -> str:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


@pytest.fixture
def imported(
    site: ProductionSite, area_a: Area, caplog: pytest.LogCaptureFixture
) -> list[ImportReport]:
    caplog.set_level(logging.DEBUG)
    return [run("residents", RESIDENTS), run("observations", OBSERVATIONS)]


def test_no_study_id_in_a_dump_of_the_whole_database(imported: list[ImportReport]) -> None:
    assert all(report.ok for report in imported)
    dump = full_dump()
    assert Resident.objects.count() == 2 and '"surveys.resident"' in dump
    assert_no_study_id(dump)


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="raw database bytes are read from SQLite; the dump test covers PostgreSQL",
)
def test_no_study_id_in_the_raw_bytes_of_the_sqlite_database(
    imported: list[ImportReport],
) -> None:
    raw = connection.connection.serialize()  # the database as bytes, as it is now
    assert pseudonymize(STUDY_IDS[0]).value.encode() in raw  # the bytes hold the import
    assert_no_study_id(raw.decode("latin-1"))


def test_no_study_id_in_the_logs(
    imported: list[ImportReport], caplog: pytest.LogCaptureFixture
) -> None:
    records = caplog.get_records("setup") + caplog.get_records("call")
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records)
    assert "of observations (observations.csv" in logged  # the imports did log
    assert_no_study_id(logged + caplog.text)


def test_no_study_id_in_reports_or_command_output_even_for_errors(
    site: ProductionSite, area_a: Area, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run("residents", RESIDENTS)
    bad = OBSERVATIONS + "PRIV-7Q3X-0003,2024-02-10,dx.J45,true,,,\n"
    bad += "PRIV-7Q3X-0001,2024-02-10,lab.blood_lead,4.1,µg/dL,false,\n"  # duplicate key
    report = run("observations", bad)
    assert [(e.row, e.column) for e in report.errors] == [(4, "study_id"), (5, "study_id")]
    assert_no_study_id(repr(report))
    path = tmp_path / "observations.csv"
    path.write_text(bad)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_csv", "observations", str(path), stdout=out, stderr=err)
    where = "row %(row)s, column %(column)s, value '%(value)s': %(reason)s"
    said = t(where, row=4, column="study_id", value="", reason=t(NO_RESIDENT))
    assert said in err.getvalue()
    assert_no_study_id(out.getvalue() + err.getvalue() + str(raised.value) + caplog.text)


def test_the_same_study_id_in_a_later_file_reaches_the_same_resident(
    imported: list[ImportReport],
) -> None:
    later = (
        "study_id,observed_on,code,value,unit,below_lod,lod\n"
        "priv-7q3x-0001,2024-05-02,lab.blood_lead,3.9,µg/dL,false,\n"
    )
    report = run("observations", later)
    assert report.ok and report.created == 1
    resident = Resident.objects.get(visits__observations__value=3.9)
    assert resident.visits.count() == 2
    assert Visit.objects.filter(resident=resident).values("resident").distinct().count() == 1
    first = Resident.objects.get(visits__visited_on="2024-02-10", visits__observations__value=4.1)
    assert first == resident
