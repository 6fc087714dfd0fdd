"""Issue #21 end to end at 360 px: a community monitor records a water sample on the phone form,
the lab's CSV is imported, a validator validates the result, the public station page shows it
with its history and the exceedance line, and the open-data zip's datapackage.json validates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from healthwatch.roles import Role
from tests.browser.conftest import PHONE, log_in
from tests.browser.test_csp import Watched
from tests.conftest import make_user
from tests.monitoring.datapackage import problems_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def monitoring_world(vocabulary_and_groups: None) -> dict[str, Any]:
    from monitoring.guidelines import load_guidelines
    from monitoring.models import Guideline, MonitorAssignment
    from surveys.models import Station, VocabularyCode

    load_guidelines(Guideline, VocabularyCode)
    station = Station.objects.create(
        code="W-01", name="River at the bridge", medium="water", latitude=24.9, longitude=110.1
    )
    monitor = make_user("ana_sampler", Role.COMMUNITY_MONITOR)
    MonitorAssignment.objects.create(monitor=monitor, station=station)
    make_user("epi", Role.EPIDEMIOLOGIST)
    return {"station": station}


def _fits(page: Any) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def test_a_community_sample_goes_from_the_phone_to_the_lab_the_validator_and_the_public(
    browser: Any, live_server: Any, monitoring_world: dict[str, Any], tmp_path: Any
) -> None:
    yesterday = (dt.datetime.now() - dt.timedelta(days=1)).replace(hour=8, minute=30)
    # 1. The monitor, on a phone.
    monitor = browser.new_context(viewport=PHONE)
    page = monitor.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server, "ana_sampler")
    page.wait_for_url("**/monitoring/my/")
    _fits(page)
    page.click("[data-action=new-sample]")
    page.fill("#id_code", "RB-2026-001")
    page.select_option("#id_station", label="River at the bridge · Water")
    page.fill("#id_collected_at", yesterday.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_container", "HDPE bottle 500 mL")
    page.fill("#id_preservation", "cooled to 4 °C")
    page.fill("#id_lab", "Provincial water lab")
    page.fill("#id_handed_at", (yesterday + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    _fits(page)
    page.click("main form.stacked button[type=submit]")
    page.wait_for_url("**/monitoring/my/")
    assert "RB-2026-001" in page.inner_text("[data-my-samples]")
    assert page.goto(f"{live_server.url}/field/").status == 403  # no health data
    monitor.close()

    # 2. The validator imports the lab's CSV, then validates the result.
    staff = browser.new_context(viewport=PHONE)
    page = staff.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server, "epi")
    page.goto(f"{live_server.url}/monitoring/lab-results/")
    lab_csv = tmp_path / "lab.csv"
    lab_csv.write_text(
        "sample_id,pollutant,value,unit,below_lod,lod,method,lab\n"
        "RB-2026-001,fluoride,2.4,mg/L,false,0.05,ISO 10304-1 ion chromatography,"
        "Provincial water lab\n",
        encoding="utf-8",
    )
    page.set_input_files("#id_file", str(lab_csv))
    page.click("[data-form=lab-csv] button[type=submit]")
    page.wait_for_url("**/monitoring/validation/")
    card = page.locator("[data-reading]").first
    card.locator("input[value=validated]").check()
    card.locator("input[name=reason]").fill("Field blank and duplicate within limits")
    card.locator("button[type=submit]").click()
    page.wait_for_url("**/monitoring/validation/")
    assert "Nothing waits for validation" in page.content()
    staff.close()

    # 3. The worker refreshes the public snapshot (the writes enqueued it; the test's broker has
    # no worker, so the test does the worker's part), then the public, on a phone: the station
    # page, then the open data.
    from monitoring.tasks import sweep_public

    sweep_public()
    public = browser.new_context(viewport=PHONE)
    page = public.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/monitoring/stations/W-01/")
    _fits(page)
    line = page.inner_text("[data-exceedance-line]")
    assert "1.6 times the WHO guidelines for drinking-water quality" in line
    assert "validated" in line
    assert page.locator("[data-validated-exceedance]").count() == 1
    history = page.inner_text("[data-history]")
    assert "Preliminary" in history and "Validated" in history
    assert "Field blank and duplicate within limits" in history
    custody = page.inner_text("[data-custody]")
    assert "Handed to the lab" in custody and "Lab result attached" in custody
    assert "ana_sampler" not in page.content()
    download = page.request.get(f"{live_server.url}/monitoring/open-data.zip")
    assert download.status == 200
    assert problems_of(download.body()) == []
    public.close()


def test_a_sample_recorded_offline_on_the_phone_is_stored_exactly_once_when_back_online(
    browser: Any, live_server: Any, monitoring_world: dict[str, Any]
) -> None:
    from monitoring.models import CustodyEvent, Sample

    yesterday = (dt.datetime.now() - dt.timedelta(days=1)).replace(hour=8, minute=30)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    watched = Watched(page)  # the script, its worker and the kept pages stay under the CSP
    sent: list[Any] = []
    page.on(
        "request",
        lambda r: sent.append(r) if "/monitoring/my/" in r.url and r.method == "POST" else None,
    )
    log_in(page, live_server, "ana_sampler")
    page.wait_for_url("**/monitoring/my/")
    page.wait_for_selector("html[data-outbox-ready]", state="attached")  # pages kept
    context.set_offline(True)
    assert page.evaluate("navigator.onLine") is False

    # Offline: the form opens from the phone's copy and the sample waits on the phone.
    page.click("[data-action=new-sample]")
    page.wait_for_selector("h1:has-text('Record a sample')")
    page.fill("#id_code", "RB-OFF-001")
    page.select_option("#id_station", label="River at the bridge · Water")
    page.fill("#id_collected_at", yesterday.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_lab", "Provincial water lab")
    _fits(page)
    page.click("main form.stacked button[type=submit]")
    page.wait_for_selector("#outbox-status:has-text('1 entry waiting')")
    assert "Saved on this phone, not yet sent" in page.inner_text("#outbox-status")
    assert page.input_value("#id_code") == ""  # ready for the next sample, with a new key
    [item] = page.evaluate("window.healthwatchOutbox.allItems()")
    assert page.input_value('[name="submission_key"]') != item["key"]
    page.goto(f"{live_server.url}/monitoring/my/")  # the home page, from the phone
    page.wait_for_selector("[data-outbox-list][data-count='1']", state="attached")
    assert "Sample RB-OFF-001" in page.inner_text("[data-outbox-list]")
    _fits(page)
    assert not Sample.objects.exists() and sent == []

    # Back online: sent by itself, stored once.
    context.set_offline(False)
    page.wait_for_selector("#outbox-status:has-text('1 sent to the server')")
    assert page.locator("[data-outbox-item]").count() == 0
    sample = Sample.objects.get()
    assert (sample.code, sample.community_collected, str(sample.submission_key)) == (
        "RB-OFF-001",
        True,
        item["key"],
    )

    # A replay of the same item (a lost answer, a second tab): answered, nothing more stored.
    [post] = sent
    answer = page.evaluate(
        """async ([url, body]) => {
            const token = document.getElementById("outbox-config").dataset.csrf;
            const r = await fetch(url, {method: "POST", body,
              headers: {"Content-Type": "application/x-www-form-urlencoded",
                        "X-CSRFToken": token, "Accept": "application/json"}});
            return {status: r.status, json: await r.json()};
        }""",
        [post.url, post.post_data],
    )
    assert answer == {"status": 200, "json": {"sample": "RB-OFF-001", "stored_before": True}}
    assert Sample.objects.count() == 1 and CustodyEvent.objects.count() == 1  # collected
    assert watched.violations() == []
    context.close()
