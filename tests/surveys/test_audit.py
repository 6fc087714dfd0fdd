"""The audit trail as people read it: one entry per change, labels and names instead of ids,
filters, a CSV whose cells a spreadsheet cannot run, and who may read which history."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.timezone import localtime

from surveys import audit, services
from surveys.audit import AuditFilter
from surveys.models import Area, RecordAccess, Resident, Visit
from surveys.services import ObservationInput
from tests.conftest import client_for
from tests.i18n import bt, dec, label_of, t
from tests.surveys.test_views_field import register

pytestmark = pytest.mark.django_db

BMI = "vital.bmi"


def day(year: int, month: int, date: int) -> str:
    """A day as the audit trail writes it, in the active language."""
    return date_format(dt.date(year, month, date), "DATE_FORMAT")


def resident_of(area: Area, user: User) -> Resident:
    return register(user, area)


def visit_by(user: User, resident: Resident, bmi: str = "23.4") -> Visit:
    return services.visit_record(
        user=user,
        resident=resident,
        visited_on=dt.date(2024, 3, 1),
        observations=[ObservationInput(BMI, bmi, "kg/m²")],
    )


def edit_in_the_browser(user: User, visit: Visit, bmi: str, reason: str) -> None:
    """The visit form posted by `user` (the request names the person in the history)."""
    response = client_for(user).post(
        reverse("surveys:visit_edit", args=[visit.pk]),
        {
            "visited_on": "2024-03-02",
            "checklist_asked": "on",
            "symptom.cough.value": "on",
            f"{BMI}.value": bmi,
            f"{BMI}.unit": "kg/m²",
            "reason": reason,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def test_one_save_of_a_visit_and_its_observations_is_one_entry_in_words(
    worker_a: User, area_a: Area, epidemiologist: User
) -> None:
    visit = visit_by(worker_a, resident_of(area_a, worker_a))
    edit_in_the_browser(worker_a, visit, "24.0", "Scale recalibrated")
    entries = audit.record_history(epidemiologist, "visit", visit.pk)
    assert entries is not None
    assert [(e.action, e.user) for e in entries] == [
        ("created", "worker_a"),
        ("changed", "worker_a"),
    ]
    change = entries[-1]
    assert change.reason == "Scale recalibrated"
    assert change.record == t(
        "visit of %(day)s, resident #%(n)d", day=day(2024, 3, 2), n=visit.resident_id
    )
    changes = {(c.label, c.old, c.new) for c in change.changes}
    named = {
        (t("Visit date"), day(2024, 3, 1), day(2024, 3, 2)),
        (label_of(BMI), f"{dec('23.4')} kg/m²", "24 kg/m²"),
        (label_of("symptom.cough"), "", t("yes")),
    }
    assert named <= changes
    # The checklist was asked: every other symptom and diagnosis is now recorded as "no".
    asked = visit.observations.exclude(code__code__in=[BMI, "symptom.cough"])
    assert changes - named == {(label_of(o.code.code), "", t("no")) for o in asked}
    assert len(changes) == len(change.changes)  # one line per field or observation


def test_no_entry_shows_an_internal_id_or_code_or_the_pseudonym(
    worker_a: User, area_a: Area, epidemiologist: User
) -> None:
    resident = resident_of(area_a, worker_a)
    visit = visit_by(worker_a, resident)
    edit_in_the_browser(worker_a, visit, "24.0", "Scale recalibrated")
    entries = audit.audit_entries(epidemiologist, AuditFilter())
    words = " ".join(f"{e.record} {c.label} {c.old} {c.new}" for e in entries for c in e.changes)
    assert "Area A" in words and label_of(BMI) in words and t("Female") in words
    for internal in ("area_id", "code_id", "_id", BMI, resident.pseudonym, "True", "None"):
        assert internal not in words


def test_a_health_worker_reads_the_history_of_what_they_created_or_edited_and_nothing_else(
    worker_a: User, worker_b: User, area_a: Area, admin_user: User, community_reviewer: User
) -> None:
    resident = resident_of(area_a, admin_user)  # registered by the admin
    theirs = visit_by(admin_user, resident)
    mine = visit_by(worker_a, resident, "25.0")
    assert audit.record_history(worker_a, "visit", mine.pk) is not None
    assert audit.record_history(worker_a, "visit", theirs.pk) is None
    assert audit.record_history(worker_a, "resident", resident.pk) is None
    edit_in_the_browser(worker_a, theirs, "24.0", "Weighed again")
    seen = audit.record_history(worker_a, "visit", theirs.pk)
    assert seen is not None and [e.user for e in seen] == ["admin", "worker_a"]
    listed = {(e.record_type, e.record_id) for e in audit.audit_entries(worker_a, AuditFilter())}
    assert listed == {("visit", mine.pk), ("visit", theirs.pk)}
    for outsider in (worker_b, community_reviewer):
        assert audit.record_history(outsider, "visit", mine.pk) is None
        assert audit.audit_entries(outsider, AuditFilter()) == []


def test_the_list_filters_by_record_type_person_and_date(
    worker_a: User, area_a: Area, admin_user: User, epidemiologist: User
) -> None:
    resident = resident_of(area_a, admin_user)
    visit = visit_by(admin_user, resident)
    edit_in_the_browser(worker_a, visit, "24.0", "Weighed again")

    def listed(**wanted: object) -> set[tuple[str, str, str]]:
        entries = audit.audit_entries(epidemiologist, AuditFilter(**wanted))  # type: ignore[arg-type]
        return {(e.record_type, e.action, e.user) for e in entries}

    everything = listed()
    assert everything == {
        ("resident", "created", "admin"),
        ("visit", "created", "admin"),
        ("visit", "changed", "worker_a"),
    }
    assert listed(record_type="visit") == everything - {("resident", "created", "admin")}
    assert listed(user="worker_a") == {("visit", "changed", "worker_a")}
    today = dt.date.today()
    assert listed(date_from=today, date_to=today) == everything
    assert listed(date_to=today - dt.timedelta(days=1)) == set()


def test_the_csv_has_a_row_per_changed_field_and_neutralizes_formulas(
    worker_a: User, area_a: Area, epidemiologist: User
) -> None:
    visit = visit_by(worker_a, resident_of(area_a, worker_a))
    edit_in_the_browser(worker_a, visit, "24.0", '=HYPERLINK("http://x")')
    response = client_for(epidemiologist).get(reverse("surveys:audit_export"), {"user": "worker_a"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    changed = [r for r in rows if r["action"] == "changed"]
    # The header, actions and record types are codes; the field is named in the reader's words.
    labels = {t("Visit date"), label_of(BMI), label_of("symptom.cough")}
    assert labels <= {r["field"] for r in changed}
    assert len(changed) == 2 + visit.observations.exclude(code__code=BMI).count()
    assert {r["reason"] for r in changed} == {'\'=HYPERLINK("http://x")'}
    assert RecordAccess.objects.filter(
        user=epidemiologist, action="export", resource="audit"
    ).exists()


def test_staff_reads_of_the_audit_stay_logged(
    worker_a: User, area_a: Area, epidemiologist: User
) -> None:
    visit = visit_by(worker_a, resident_of(area_a, worker_a))
    client = client_for(epidemiologist)
    assert client.get(reverse("surveys:audit")).status_code == 200
    assert client.get(reverse("surveys:audit_visit", args=[visit.pk])).status_code == 200
    resources = set(
        RecordAccess.objects.filter(user=epidemiologist, action="read").values_list(
            "resource", flat=True
        )
    )
    assert {"audit", "audit:visit"} <= resources


def test_the_page_reads_as_sentences_and_a_worker_gets_404_for_a_colleagues_record(
    worker_a: User, area_a: Area, admin_user: User
) -> None:
    resident = resident_of(area_a, admin_user)
    theirs = visit_by(admin_user, resident)
    mine = visit_by(worker_a, resident, "25.0")
    client = client_for(worker_a)
    html = client.get(reverse("surveys:audit_visit", args=[mine.pk])).content.decode()
    created = localtime(mine.history.earliest().history_date)  # type: ignore[attr-defined]
    record = t("visit of %(day)s, resident #%(n)d", day=day(2024, 3, 1), n=resident.pk)
    assert (
        bt(
            "<strong>%(who)s</strong> %(action)s %(record)s on %(day)s",
            who="worker_a",
            action=t("created"),
            record=record,
            day=date_format(created, "DATETIME_FORMAT"),
        )
        in html
    )
    assert escape(label_of(BMI)) in html and "25 kg/m²" in html
    assert client.get(reverse("surveys:audit_visit", args=[theirs.pk])).status_code == 404
    listed = client.get(reverse("surveys:audit")).content.decode()
    assert f'data-record="visit-{mine.pk}"' in listed
    assert f'data-record="visit-{theirs.pk}"' not in listed
