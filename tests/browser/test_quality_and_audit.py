"""On a 360 px phone: an epidemiologist filters the data-quality queue and resolves many flags
with one note (with and without JavaScript); a health worker changes a visit and reads the
history of that edit in words."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from surveys import services
from surveys.models import (
    Area,
    AreaAssignment,
    DataQualityFlag,
    Observation,
    QualityFlagKind,
    Resident,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import pseudonymize
from surveys.services import ObservationInput
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

PHONE_WIDTH = 360
# Set to a folder to keep screenshots of the pages (e.g. /tmp) for a human to look at.
SCREENSHOT_DIR = os.environ.get("HEALTHWATCH_SCREENSHOT_DIR", "")


def snapshot(page: Any, name: str) -> None:
    if SCREENSHOT_DIR:
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=True)


def fits_the_phone(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH)


@pytest.fixture
def areas(vocabulary_and_groups: None) -> tuple[Area, Area]:
    return (
        Area.objects.create(code="A", name="Riverside", latitude=25.01, longitude=110.0),
        Area.objects.create(code="B", name="Hilltop", latitude=25.1, longitude=110.1),
    )


def flags_in(area: Area, n: int, worker: User | None = None) -> list[DataQualityFlag]:
    """n open outlier flags on blood lead values of residents of `area`."""
    lead = VocabularyCode.objects.get(code="lab.blood_lead")
    flags = []
    for i in range(n):
        resident = Resident.objects.create(
            pseudonym=pseudonymize(f"QQ-{area.code}-{i}").value,
            key_version=1,
            area=area,
            birth_year=1970,
            sex="F",
            enrolled_on=dt.date(2020, 1, 1),
        )
        visit = Visit.objects.create(
            resident=resident, visited_on=dt.date(2024, 3, 1 + i % 28), health_worker=worker
        )
        observation = Observation.objects.create(visit=visit, code=lead, value=20.0 + i)
        flags.append(
            DataQualityFlag.objects.create(
                kind=QualityFlagKind.OUTLIER,
                observation=observation,
                detail=f"Blood lead = {20 + i} µg/dL is 3.5 SD of log values from the mean.",
            )
        )
    return flags


def test_an_epidemiologist_resolves_a_page_of_flags_with_one_note_on_a_phone(
    phone_page: Any,
    live_server: Any,
    epidemiologist: User,
    worker_a: User,
    areas: tuple[Area, Area],
) -> None:
    riverside, hilltop = areas
    near = flags_in(riverside, 30, worker_a)
    far = flags_in(hilltop, 3)
    page = phone_page
    log_in(page, live_server, "epi")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/field/quality/")
    assert page.locator("[data-quality-queue] > li").count() == 25  # a page, not 39,000 px
    assert fits_the_phone(page)
    assert page.evaluate("document.documentElement.scrollHeight") < 8000
    counts = page.locator(f'[data-rule="{QualityFlagKind.OUTLIER}"] [data-count]')
    assert counts.inner_text() == str(len(near) + len(far))

    # Filter: the flags of Riverside only, newest visits first.
    page.click("summary:has-text('Filter and sort')")
    page.select_option("#id_area", "A")
    page.select_option("#id_sort", "visit_date")
    page.click("[data-queue-filters] button:has-text('Show')")
    page.wait_for_url(re.compile(r".*area=A.*"))
    snapshot(page, "quality_queue_filtered")
    assert "Riverside" in page.locator("[data-quality-queue]").inner_text()
    assert "Hilltop" not in page.locator("[data-quality-queue]").inner_text()
    shown = [
        int(pk)
        for pk in page.locator("[data-flag]").evaluate_all(
            "items => items.map(i => i.dataset.flag)"
        )
    ]
    assert len(shown) == 25 and set(shown) <= {f.pk for f in near}

    # Select the whole page (JavaScript box), one note, one tap.
    page.check("[data-select-all] input")
    assert page.locator('input[name="flag"]:checked').count() == 25
    page.fill("textarea[name='note']", "Lab confirmed the batch of 1 March")
    page.click("button:has-text('Values are right')")
    page.wait_for_url(re.compile(r".*/field/quality/\?.*area=A.*"))
    assert "25 flags resolved" in page.content()
    snapshot(page, "quality_queue_resolved")
    resolved = DataQualityFlag.objects.filter(status="confirmed")
    assert set(resolved.values_list("pk", flat=True)) == set(shown)
    assert set(resolved.values_list("review_note", "reviewed_by")) == {
        ("Lab confirmed the batch of 1 March", epidemiologist.pk)
    }
    # What is left under the filter: Riverside's last five.
    assert page.locator("[data-flag]").count() == len(near) - 25
    assert fits_the_phone(page)

    # A double tap on the last five: each flag is resolved once, with the one note.
    page.check("[data-select-all] input")
    page.fill("textarea[name='note']", "Checked twice by accident")
    page.dblclick("button:has-text('Values are right')")
    expect(page.locator("[data-flag]")).to_have_count(0)  # retried across the navigations
    expect(page.locator("text=/5 flags (resolved|had already been reviewed)/")).to_be_visible()
    assert not DataQualityFlag.objects.filter(pk__in=[f.pk for f in near], status="open").exists()
    assert set(
        DataQualityFlag.objects.filter(review_note="Checked twice by accident").values_list(
            "pk", flat=True
        )
    ) == {f.pk for f in near} - set(shown)
    assert DataQualityFlag.objects.filter(status="open").count() == len(far)


def test_the_queue_resolves_ticked_flags_without_javascript(
    browser: Any,
    live_server: Any,
    epidemiologist: User,
    areas: tuple[Area, Area],
) -> None:
    flags = flags_in(areas[0], 4)
    context = browser.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server, "epi")
        page.wait_for_load_state()
        page.goto(f"{live_server.url}/field/quality/")
        assert not page.locator("[data-select-all]").is_visible()  # shown by JavaScript only
        for flag in flags[:2]:
            page.check(f'input[name="flag"][value="{flag.pk}"]')
        page.fill("textarea[name='note']", "Re-measured")
        page.click("button:has-text('Were corrected')")
        page.wait_for_url(re.compile(r".*/field/quality/$"))
        corrected = set(
            DataQualityFlag.objects.filter(status="corrected").values_list("pk", flat=True)
        )
        assert corrected == {flags[0].pk, flags[1].pk}
        assert page.locator("[data-flag]").count() == 2
    finally:
        context.close()


def test_a_health_worker_reads_the_history_of_their_own_edit_on_a_phone(
    phone_page: Any, live_server: Any, worker_a: User, areas: tuple[Area, Area]
) -> None:
    riverside = areas[0]
    AreaAssignment.objects.create(user=worker_a, area=riverside)
    resident = services.resident_register(
        user=worker_a,
        study_id="HIST-1",
        area=riverside,
        birth_year=1960,
        sex="M",
        enrolled_on=dt.date(2024, 1, 10),
        latitude=None,
        longitude=None,
    )
    visit = services.visit_record(
        user=worker_a,
        resident=resident,
        visited_on=dt.date(2024, 3, 1),
        observations=[ObservationInput("vital.bmi", "23.4", unit="kg/m²")],
    )
    page = phone_page
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    page.goto(f"{live_server.url}/field/visits/{visit.pk}/")
    page.click("a:has-text('Change this visit')")
    page.fill('[name="vital.bmi.value"]', "24.0")
    page.fill("#id_reason", "Scale recalibrated")
    page.click("button:has-text('Save')")
    page.wait_for_url(re.compile(rf".*/field/visits/{visit.pk}/$"))

    page.click("[data-history-link]")
    page.wait_for_url(re.compile(rf".*/field/audit/visits/{visit.pk}/$"))
    snapshot(page, "visit_history")
    newest = page.locator("[data-audit] > li").first
    text = " ".join(newest.inner_text().split())
    assert text.startswith("worker_a changed visit of 1 Mar 2024")
    assert "reason: Scale recalibrated" in text
    assert "Body mass index: 23.4 kg/m² → 24 kg/m²" in text
    assert "vital.bmi" not in page.content() and "code_id" not in page.content()
    assert page.locator("[data-audit] > li").count() == 2  # created, changed: one entry each
    assert fits_the_phone(page)

    # The list of changes to my records holds it too, and its CSV can be downloaded.
    page.goto(f"{live_server.url}/field/audit/")
    assert page.locator(f'[data-record="visit-{visit.pk}"]').count() == 2
    with page.expect_download() as download:
        page.click("[data-audit-export]")
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Scale recalibrated" in content and "Body mass index" in content
