"""The data-quality queue: filters by rule, code, area, worker and visit date, sorting, counts by
rule, pages of 25, and one note for many flags, written exactly once under a double submit."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils.html import escape

from surveys import selectors, services
from surveys.models import (
    Area,
    DataQualityFlag,
    Observation,
    QualityFlagKind,
    QualityFlagStatus,
    Resident,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import pseudonymize
from surveys.selectors import QueueFilter
from surveys.validation import ValidationProblem
from tests.conftest import client_for
from tests.i18n import h, label_of, tn

pytestmark = pytest.mark.django_db

OUTLIER, ABOVE, SAME_DAY = (
    QualityFlagKind.OUTLIER,
    QualityFlagKind.ABOVE_REFERENCE,
    QualityFlagKind.SAME_DAY_VISIT,
)


@dataclass
class World:
    """Flags on visits of two areas, recorded by two workers, on two codes and two days."""

    lead_a: DataQualityFlag  # blood lead, area A, worker_a, 1 Mar 2024, outlier
    bmi_a: DataQualityFlag  # BMI, area A, worker_a, 1 Mar 2024, outlier
    lead_b: DataQualityFlag  # blood lead, area B, worker_b, 5 Jun 2024, above the reference
    same_day_b: DataQualityFlag  # a visit of area B, worker_b, 5 Jun 2024


def resident(area: Area, n: int) -> Resident:
    return Resident.objects.create(
        pseudonym=pseudonymize(f"Q-{area.code}-{n}").value,
        key_version=1,
        area=area,
        birth_year=1970,
        sex="F",
        enrolled_on=dt.date(2020, 1, 1),
    )


def observation(visit: Visit, code: str, value: float) -> Observation:
    return Observation.objects.create(
        visit=visit, code=VocabularyCode.objects.get(code=code), value=value
    )


@pytest.fixture
def world(worker_a: User, worker_b: User, area_a: Area, area_b: Area) -> World:
    visit_a = Visit.objects.create(
        resident=resident(area_a, 1), visited_on=dt.date(2024, 3, 1), health_worker=worker_a
    )
    visit_b = Visit.objects.create(
        resident=resident(area_b, 1), visited_on=dt.date(2024, 6, 5), health_worker=worker_b
    )

    def flag(kind: str, **subject: object) -> DataQualityFlag:
        return DataQualityFlag.objects.create(kind=kind, detail=f"{kind} detail", **subject)

    return World(
        lead_a=flag(OUTLIER, observation=observation(visit_a, "lab.blood_lead", 20.0)),
        bmi_a=flag(OUTLIER, observation=observation(visit_a, "vital.bmi", 61.0)),
        lead_b=flag(ABOVE, observation=observation(visit_b, "lab.blood_lead", 40.0)),
        same_day_b=flag(SAME_DAY, visit=visit_b),
    )


def pks(flags: object) -> set[int]:
    return {f.pk for f in flags}  # type: ignore[attr-defined]


# --- selectors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (QueueFilter(), {"lead_a", "bmi_a", "lead_b", "same_day_b"}),
        (QueueFilter(rule=OUTLIER), {"lead_a", "bmi_a"}),
        (QueueFilter(code="lab.blood_lead"), {"lead_a", "lead_b"}),
        (QueueFilter(area="B"), {"lead_b", "same_day_b"}),
        (QueueFilter(worker="worker_a"), {"lead_a", "bmi_a"}),
        (QueueFilter(visited_from=dt.date(2024, 4, 1)), {"lead_b", "same_day_b"}),
        (QueueFilter(visited_to=dt.date(2024, 3, 1)), {"lead_a", "bmi_a"}),
        (QueueFilter(code="lab.blood_lead", area="A"), {"lead_a"}),
    ],
)
def test_the_queue_filters_by_rule_code_area_worker_and_visit_date(
    world: World, epidemiologist: User, wanted: QueueFilter, expected: set[str]
) -> None:
    shown = selectors.quality_queue(epidemiologist, wanted)
    assert pks(shown) == {getattr(world, name).pk for name in expected}


def test_a_flag_on_a_visit_and_a_flag_on_an_observation_carry_the_same_readable_facts(
    world: World, epidemiologist: User
) -> None:
    rows = {f.pk: f for f in selectors.quality_queue(epidemiologist, QueueFilter())}
    lead, same_day = rows[world.lead_b.pk], rows[world.same_day_b.pk]
    for row in (lead, same_day):
        assert (row.area_name, row.worker_name) == ("Area B", "worker_b")  # type: ignore[attr-defined]
        assert row.visited_on == dt.date(2024, 6, 5)  # type: ignore[attr-defined]
    assert (lead.code_label, lead.value) == ("Blood lead", 40.0)  # type: ignore[attr-defined]
    assert same_day.code_label is None  # type: ignore[attr-defined]


def test_the_queue_sorts_as_asked_and_falls_back_to_oldest_first(
    world: World, epidemiologist: User
) -> None:
    def order(sort: str) -> list[int]:
        return [f.pk for f in selectors.quality_queue(epidemiologist, QueueFilter(sort=sort))]

    created = sorted(DataQualityFlag.objects.all(), key=lambda f: (f.created_at, f.pk))
    assert order("oldest") == [f.pk for f in created]
    assert order("newest") == [f.pk for f in reversed(created)]
    assert order("no such sort") == order("oldest")
    assert order("visit_date")[:2] == sorted([world.lead_b.pk, world.same_day_b.pk])
    by_code = order("code")
    assert by_code.index(world.lead_a.pk) < by_code.index(world.bmi_a.pk)  # Blood… < Body…
    assert order("area")[-2:] == sorted([world.lead_b.pk, world.same_day_b.pk])


def test_counts_by_rule_follow_the_other_filters_but_not_the_rule_filter(
    world: World, epidemiologist: User
) -> None:
    everything = selectors.quality_queue_counts_by_rule(epidemiologist, QueueFilter(rule=OUTLIER))
    assert everything == {OUTLIER: 2, ABOVE: 1, SAME_DAY: 1}
    of_b = selectors.quality_queue_counts_by_rule(epidemiologist, QueueFilter(area="B"))
    assert of_b == {OUTLIER: 0, ABOVE: 1, SAME_DAY: 1}


def test_health_workers_have_no_queue(world: World, worker_a: User) -> None:
    assert not selectors.quality_queue(worker_a, QueueFilter()).exists()
    assert set(selectors.quality_queue_counts_by_rule(worker_a, QueueFilter()).values()) == {0}


# --- the bulk service ---------------------------------------------------------------------


def test_one_note_resolves_every_selected_flag_and_only_those(
    world: World, epidemiologist: User
) -> None:
    chosen = [world.lead_a.pk, world.bmi_a.pk]
    done = services.quality_flags_resolve(
        user=epidemiologist, flag_ids=chosen, status="confirmed", note=" Lab re-ran both. "
    )
    assert sorted(done.resolved) == sorted(chosen) and done.already_reviewed == ()
    for flag in DataQualityFlag.objects.filter(pk__in=chosen):
        assert flag.status == QualityFlagStatus.CONFIRMED
        assert (flag.review_note, flag.reviewed_by) == ("Lab re-ran both.", epidemiologist)
    assert set(DataQualityFlag.objects.exclude(pk__in=chosen).values_list("status", flat=True)) == {
        QualityFlagStatus.OPEN
    }


def test_the_same_selection_sent_twice_resolves_each_flag_once_and_keeps_the_first_note(
    world: World, epidemiologist: User, admin_user: User
) -> None:
    chosen = [world.lead_b.pk, world.same_day_b.pk]
    services.quality_flags_resolve(
        user=epidemiologist, flag_ids=chosen, status="corrected", note="first"
    )
    second = services.quality_flags_resolve(
        user=admin_user, flag_ids=chosen, status="confirmed", note="second"
    )
    assert second.resolved == () and sorted(second.already_reviewed) == sorted(chosen)
    assert set(
        DataQualityFlag.objects.filter(pk__in=chosen).values_list(
            "status", "review_note", "reviewed_by"
        )
    ) == {(QualityFlagStatus.CORRECTED, "first", epidemiologist.pk)}


@pytest.mark.parametrize(
    ("status", "note", "extra_id", "field"),
    [
        ("confirmed", "  ", False, "note"),
        ("open", "checked", False, "status"),
        ("confirmed", "checked", True, "flags"),
    ],
)
def test_a_wrong_outcome_an_empty_note_or_an_unknown_flag_writes_nothing(
    world: World, epidemiologist: User, status: str, note: str, extra_id: bool, field: str
) -> None:
    ids = [world.lead_a.pk] + ([10_000_000] if extra_id else [])
    with pytest.raises(ValidationProblem) as problem:
        services.quality_flags_resolve(user=epidemiologist, flag_ids=ids, status=status, note=note)
    assert field in {e.field for e in problem.value.errors}
    assert not DataQualityFlag.objects.exclude(status=QualityFlagStatus.OPEN).exists()


def test_a_health_worker_cannot_resolve_flags(world: World, worker_a: User) -> None:
    with pytest.raises(services.AccessDenied):
        services.quality_flags_resolve(
            user=worker_a, flag_ids=[world.lead_a.pk], status="confirmed", note="mine"
        )
    world.lead_a.refresh_from_db()
    assert world.lead_a.status == QualityFlagStatus.OPEN


# --- the page -----------------------------------------------------------------------------


def test_the_page_shows_labels_names_and_counts_not_codes(
    world: World, epidemiologist: User
) -> None:
    html = client_for(epidemiologist).get(reverse("surveys:quality_queue")).content.decode()
    assert escape(label_of("lab.blood_lead")) in html and "Area B" in html and "worker_b" in html
    assert ">lab.blood_lead<" not in html and "area_id" not in html
    counts = dict(
        re.findall(r'data-rule="(\w+)"[^>]*>[^<]*<span class="badge" data-count>(\d+)', html)
    )
    assert counts == {OUTLIER: "2", ABOVE: "1", SAME_DAY: "1"}


def test_the_page_filters_from_the_query_string_and_ignores_a_stale_value(
    world: World, epidemiologist: User
) -> None:
    client = client_for(epidemiologist)
    html = client.get(reverse("surveys:quality_queue"), {"area": "A"}).content.decode()
    assert set(map(int, re.findall(r'data-flag="(\d+)"', html))) == {
        world.lead_a.pk,
        world.bmi_a.pk,
    }
    stale = client.get(reverse("surveys:quality_queue"), {"code": "lab.gone", "sort": "x"})
    assert stale.status_code == 200
    assert len(re.findall(r'data-flag="\d+"', stale.content.decode())) == 4


def test_the_queue_is_paged_by_25(world: World, epidemiologist: User) -> None:
    visit = world.same_day_b.visit
    assert visit is not None
    codes = VocabularyCode.objects.filter(kind="numeric").exclude(code="lab.blood_lead")[:1]
    for n in range(30):
        extra = Visit.objects.create(
            resident=visit.resident, visited_on=dt.date(2023, 1, n % 28 + 1)
        )
        DataQualityFlag.objects.create(
            kind=OUTLIER, detail="x", observation=observation(extra, codes[0].code, 50.0 + n)
        )
    client = client_for(epidemiologist)
    first = client.get(reverse("surveys:quality_queue")).content.decode()
    second = client.get(reverse("surveys:quality_queue"), {"page": 2}).content.decode()
    assert len(re.findall(r'data-flag="\d+"', first)) == 25
    assert len(re.findall(r'data-flag="\d+"', second)) == 34 - 25


def test_a_double_submitted_bulk_form_resolves_once_and_says_so_the_second_time(
    world: World, epidemiologist: User
) -> None:
    client = client_for(epidemiologist)
    form = {
        "flag": [str(world.lead_a.pk), str(world.bmi_a.pk)],
        "status": "confirmed",
        "note": "Checked with the lab",
        "query": "area=A&page=2",
    }
    first = client.post(reverse("surveys:quality_resolve"), form)
    second = client.post(reverse("surveys:quality_resolve"), {**form, "note": "again"})
    assert first.status_code == second.status_code == 302
    assert first["Location"] == reverse("surveys:quality_queue") + "?area=A"
    notes = set(
        DataQualityFlag.objects.exclude(status="open").values_list("review_note", flat=True)
    )
    assert notes == {"Checked with the lab"}
    page = client.get(second["Location"]).content.decode()
    left = tn(
        "%(n)d flag had already been reviewed and was left as it was.",
        "%(n)d flags had already been reviewed and were left as they were.",
        2,
        n=2,
    )
    assert escape(left) in page


def test_a_bulk_form_without_a_note_is_shown_again_with_the_selection_kept(
    world: World, epidemiologist: User
) -> None:
    response = client_for(epidemiologist).post(
        reverse("surveys:quality_resolve"),
        {"flag": [str(world.lead_a.pk)], "status": "confirmed", "note": ""},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert h("Say what you checked (a short note).") in html
    assert re.search(rf'value="{world.lead_a.pk}" checked', html)
    assert not DataQualityFlag.objects.exclude(status="open").exists()


def test_a_filter_still_applies_once_its_last_open_flag_is_resolved(
    world: World, epidemiologist: User
) -> None:
    services.quality_flags_resolve(
        user=epidemiologist,
        flag_ids=[world.lead_a.pk, world.bmi_a.pk],
        status="confirmed",
        note="checked",
    )
    html = (
        client_for(epidemiologist)
        .get(reverse("surveys:quality_queue"), {"area": "A"})
        .content.decode()
    )
    assert re.findall(r'data-flag="(\d+)"', html) == []  # not every open flag of area B


def test_a_bulk_form_with_a_flag_id_that_is_not_a_plain_number_is_an_error_not_a_crash(
    world: World, epidemiologist: User
) -> None:
    # "²" passes str.isdigit() but not int(): ignored like any other junk, never a 500.
    response = client_for(epidemiologist).post(
        reverse("surveys:quality_resolve"),
        {"flag": ["²", "9" * 40], "status": "confirmed", "note": "Checked"},
    )
    assert response.status_code in (302, 400)
    assert not DataQualityFlag.objects.exclude(status="open").exists()
