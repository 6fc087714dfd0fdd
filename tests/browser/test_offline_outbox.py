"""Field work without a network, on a 360 px phone in headless Chromium.

A health worker logs in online, loses the network, registers a resident and records three
visits (one with an impossible value), reloads the page while still offline, and gets the
network back: the two good visits are stored exactly once, the bad one waits in the outbox
with its field message. A send whose answer is lost (the network drops mid-send) is sent again
with the same submission key and stores nothing more.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from surveys.models import Area, AreaAssignment, Observation, ProductionSite, Resident, Visit
from surveys.pseudonyms import pseudonymize
from tests.browser.conftest import PHONE, log_in
from tests.browser.test_csp import Watched

pytestmark = pytest.mark.django_db(transaction=True)

STUDY_ID = "HW-OFFLINE-0001"
SEND = "**/field/outbox/send/"


@pytest.fixture
def area_a(worker_a: User, vocabulary_and_groups: None) -> Area:
    ProductionSite.objects.create(
        code="SEP1",
        name="Separation plant",
        kind="separation_plant",
        latitude=25.0,
        longitude=110.0,
    )
    area = Area.objects.create(code="A", name="Area A", latitude=25.01, longitude=110.0)
    AreaAssignment.objects.create(user=worker_a, area=area)
    return area


@pytest.fixture
def phone(browser: Any) -> Iterator[tuple[Any, Any]]:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield context, page
    context.close()


def status(page: Any) -> str:
    return str(page.locator("#outbox-status").inner_text())


def go_offline_ready(context: Any, page: Any, live_server: Any) -> None:
    """Log in with a network; the field pages are cached; then the network goes."""
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    page.wait_for_selector("html[data-outbox-ready]", state="attached")
    context.set_offline(True)


def register_offline(page: Any, study_id: str) -> None:
    page.fill("#id_study_id", study_id)
    page.click("button:has-text('Find resident')")
    page.wait_for_selector("h1:has-text('Register a resident')")
    assert page.input_value("#id_study_id") == study_id
    page.fill("#id_birth_year", "1968")
    page.check("#id_sex_0")
    page.fill("#id_enrolled_on", "2024-01-10")
    page.click("button:has-text('Register resident')")
    page.wait_for_url(re.compile(r".*/field/visits/offline/\?provisional="))
    page.wait_for_selector("text=New resident, born 1968, Area A")


def save_visit(page: Any, visited_on: str, **values: str) -> None:
    page.fill("#id_visited_on", visited_on)
    page.check('[name="symptom.cough.value"]')
    for name, value in values.items():
        page.fill(f'[name="{name}"]', value)
    page.click("button:has-text('Save visit on this phone')")


def outbox_items(page: Any) -> Any:
    return page.locator("[data-outbox-item]")


def known_resident(worker: User, area: Area, study_id: str) -> Resident:
    """A resident registered online before the network goes (their visit form can be cached)."""
    import datetime as dt

    from surveys import services

    return services.resident_register(
        user=worker,
        study_id=study_id,
        area=area,
        birth_year=1950,
        sex="M",
        enrolled_on=dt.date(2024, 1, 10),
        latitude=None,
        longitude=None,
    )


def test_visits_recorded_offline_are_sent_once_when_the_network_returns(
    phone: tuple[Any, Any], live_server: Any, worker_a: User, area_a: Area
) -> None:
    context, page = phone
    watched = Watched(page)  # the script, its worker and the cached pages stay under the CSP
    sent_bodies: list[str] = []
    page.on(
        "request",
        lambda r: sent_bodies.append(r.post_data) if r.url.endswith("/outbox/send/") else None,
    )
    go_offline_ready(context, page, live_server)
    assert page.evaluate("navigator.onLine") is False

    register_offline(page, STUDY_ID)
    assert "registered when the visit is sent" in status(page)
    save_visit(page, "2024-03-01", **{"lab.blood_lead.value": "4.2"})
    page.wait_for_selector("#outbox-status:has-text('1 visit waiting')")
    assert "Saved on this phone, not yet sent" in status(page)
    save_visit(page, "2024-03-02", **{"lab.blood_lead.value": "5"})
    page.wait_for_selector("#outbox-status:has-text('2 visits waiting')")
    save_visit(page, "2024-03-03", **{"vital.bmi.value": "3"})  # impossible: refused later
    page.wait_for_selector("#outbox-status:has-text('3 visits waiting')")
    assert Visit.objects.count() == 0 and Resident.objects.count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Reload while still offline: the page comes from the phone, the outbox is still there.
    page.reload()
    page.wait_for_selector("#outbox-status:has-text('3 visits waiting')")
    # The page shown again from the phone's copy gets a key of its own for the next visit.
    keys = page.evaluate("window.healthwatchOutbox.allItems().then(i => i.map(x => x.key))")
    assert len(set(keys)) == 3
    assert page.input_value('[name="submission_key"]') not in keys
    # Really offline (the worker's fetches too): a page never opened shows the cached /field/.
    page.goto(f"{live_server.url}/field/stations/")
    assert page.locator("h1").inner_text() == "Field workspace"
    page.wait_for_selector("[data-outbox-list][data-count='3']", state="attached")
    assert outbox_items(page).count() == 3
    assert "New resident, born 1968, Area A" in outbox_items(page).first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The network returns: the outbox sends by itself.
    context.set_offline(False)
    page.wait_for_selector("#outbox-status:has-text('2 sent to the server')")
    assert Resident.objects.count() == 1
    resident = Resident.objects.get()
    assert resident.pseudonym == pseudonymize(STUDY_ID).value
    assert sorted(str(v.visited_on) for v in Visit.objects.all()) == ["2024-03-01", "2024-03-02"]
    assert Observation.objects.filter(code__code="lab.blood_lead").count() == 2

    # The refused visit stays, with the field's label and message.
    assert outbox_items(page).count() == 1
    refused = outbox_items(page).first
    assert refused.get_attribute("data-state") == "refused"
    message = refused.locator('[data-error-for="vital.bmi.value"]').inner_text()
    assert "Body mass index" in message and "outside the valid range" in message

    # Edit it on the phone, send again: stored, the outbox empties.
    refused.locator("a:has-text('Edit')").click()
    page.wait_for_selector("h1:has-text('Record a visit')")
    assert page.input_value('[name="vital.bmi.value"]') == "3"
    page.fill('[name="vital.bmi.value"]', "23.5")
    page.click("button:has-text('Save visit on this phone')")
    page.wait_for_url(f"{live_server.url}/field/")
    page.wait_for_selector("#outbox-status:has-text('1 sent to the server')")
    assert outbox_items(page).count() == 0
    assert Visit.objects.count() == 3 and Resident.objects.count() == 1

    # A forced duplicate send of a key already stored: answered with that visit, nothing new.
    observations = Observation.objects.count()
    first_body = next(b for b in sent_bodies if "2024-03-01" in (b or ""))
    answer = page.evaluate(
        """async (body) => {
            const token = document.getElementById("outbox-config").dataset.csrf;
            const r = await fetch("/field/outbox/send/", {method: "POST", body,
              headers: {"Content-Type": "application/x-www-form-urlencoded",
                        "X-CSRFToken": token}});
            return {status: r.status, json: await r.json()};
        }""",
        first_body,
    )
    assert answer["status"] == 200 and answer["json"]["stored_before"] is True
    assert Visit.objects.count() == 3 and Observation.objects.count() == observations
    assert watched.violations() == []


def test_a_send_whose_answer_is_lost_is_sent_again_and_stored_once(
    phone: tuple[Any, Any], live_server: Any, worker_a: User, area_a: Area
) -> None:
    context, page = phone
    go_offline_ready(context, page, live_server)
    register_offline(page, "HW-OFFLINE-0002")
    save_visit(page, "2024-03-01", **{"lab.blood_lead.value": "4.2"})
    page.wait_for_selector("#outbox-status:has-text('1 visit waiting')")
    page.goto(f"{live_server.url}/field/")
    page.wait_for_selector("[data-outbox-list][data-count='1']", state="attached")

    # The network drops mid-send: the server stores the visit, the answer never arrives.
    reached: list[int] = []

    def lose_the_answer(route: Any) -> None:
        response = route.fetch()
        reached.append(response.status)
        route.abort("internetdisconnected")

    page.route(SEND, lose_the_answer)
    context.set_offline(False)
    page.wait_for_selector("#outbox-status:has-text('No network')")
    assert reached == [201]
    assert Visit.objects.count() == 1
    assert outbox_items(page).count() == 1  # the phone does not know it was stored

    # The next try sends the same key: the server answers with the stored visit.
    page.unroute(SEND)
    answers: list[Any] = []
    page.on("response", lambda r: answers.append(r) if r.url.endswith("/outbox/send/") else None)
    page.click("button:has-text('Send now')")
    page.wait_for_selector("#outbox-status:has-text('1 sent to the server')")
    assert [a.status for a in answers] == [200]
    assert json.loads(answers[0].text())["stored_before"] is True
    assert outbox_items(page).count() == 0
    assert Visit.objects.count() == 1 and Resident.objects.count() == 1


def test_a_known_residents_visit_form_works_offline_and_posts_as_before_online(
    phone: tuple[Any, Any], live_server: Any, worker_a: User, area_a: Area
) -> None:
    known = [known_resident(worker_a, area_a, study_id) for study_id in ("KNOWN-1", "KNOWN-2")]
    context, page = phone
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    page.wait_for_selector("html[data-outbox-ready]", state="attached")
    # Online, the form of a known resident posts as a plain form (and is kept for offline use).
    page.goto(f"{live_server.url}/field/residents/{known[0].pk}/visits/new/")
    page.fill("#id_visited_on", "2024-03-01")
    page.click("button:has-text('Save visit')")
    page.wait_for_url(re.compile(r".*/field/visits/\d+/$"))
    assert Visit.objects.filter(resident=known[0]).count() == 1

    context.set_offline(True)
    page.goto(f"{live_server.url}/field/residents/{known[0].pk}/visits/new/")
    page.fill("#id_visited_on", "2024-03-02")
    page.click("button:has-text('Save visit')")
    page.wait_for_selector("#outbox-status:has-text('1 visit waiting')")
    # A resident whose form was never opened online: the phone's copy of the visit form.
    page.goto(f"{live_server.url}/field/residents/{known[1].pk}/visits/new/")
    page.wait_for_selector(f"text=Resident #{known[1].pk}")
    page.fill("#id_visited_on", "2024-03-03")
    page.click("button:has-text('Save visit')")
    page.wait_for_selector("#outbox-status:has-text('2 visits waiting')")
    page.fill("#id_visited_on", "2024-03-04")  # saved by mistake: discarded on /field/
    page.click("button:has-text('Save visit')")
    page.wait_for_selector("#outbox-status:has-text('3 visits waiting')")
    page.goto(f"{live_server.url}/field/")
    page.wait_for_selector("[data-outbox-list][data-count='3']", state="attached")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("[data-outbox-item]:has-text('2024-03-04') button:has-text('Discard')").click()
    page.wait_for_selector("[data-outbox-list][data-count='2']", state="attached")
    assert Visit.objects.count() == 1

    context.set_offline(False)
    page.wait_for_selector("#outbox-status:has-text('2 sent to the server')")
    assert Visit.objects.filter(resident=known[0]).count() == 2
    assert Visit.objects.filter(resident=known[1]).count() == 1


def test_logging_out_warns_about_unsent_visits_then_clears_the_phone(
    phone: tuple[Any, Any], live_server: Any, worker_a: User, area_a: Area
) -> None:
    context, page = phone
    go_offline_ready(context, page, live_server)
    register_offline(page, "HW-OFFLINE-0003")
    save_visit(page, "2024-03-01", **{"lab.blood_lead.value": "4.2"})
    page.wait_for_selector("#outbox-status:has-text('1 visit waiting')")
    page.goto(f"{live_server.url}/field/")
    page.wait_for_selector("[data-outbox-list][data-count='1']", state="attached")
    page.route(SEND, lambda route: route.abort("internetdisconnected"))  # still nothing sent
    context.set_offline(False)
    page.wait_for_selector("#outbox-status:has-text('No network')")
    dialogs: list[str] = []

    def answer(dialog: Any) -> None:
        dialogs.append(dialog.message)
        if len(dialogs) == 1:
            dialog.dismiss()  # "no, keep them"
        else:
            dialog.accept()

    page.on("dialog", answer)
    page.click("button:has-text('Log out')")
    page.wait_for_timeout(300)
    assert page.url == f"{live_server.url}/field/" and outbox_items(page).count() == 1
    assert "Visits on this phone not sent yet: 1." in dialogs[0]
    page.click("button:has-text('Log out')")
    page.wait_for_url(f"{live_server.url}/")
    assert len(dialogs) == 2
    databases = page.evaluate("indexedDB.databases().then(d => d.map(x => x.name))")
    assert not [name for name in databases if name.startswith("healthwatch-outbox")]
    assert page.evaluate("caches.keys()") == []
    assert Visit.objects.count() == 0


# Budget for one field page with everything it loads (HTML, styles, outbox script, worker),
# uncompressed: a phone on a weak network must still open it in a few seconds.
PAGE_BUDGET_BYTES = 80_000


def test_the_field_pages_with_the_outbox_script_stay_small(
    phone: tuple[Any, Any], live_server: Any, worker_a: User, area_a: Area
) -> None:
    """Prints each page's weight (`-s` shows them): raw bytes and gzip bytes, as served."""
    import gzip

    _context, page = phone
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    page.wait_for_selector("html[data-outbox-ready]", state="attached")
    weights: dict[str, tuple[int, int]] = {}
    for path in (
        "/field/",
        "/field/residents/new/",
        "/field/visits/offline/",
        "/field/visits/mine/",
    ):
        bodies: list[bytes] = []

        def keep(response: Any, into: list[bytes] = bodies) -> None:
            if response.request.resource_type in {"document", "stylesheet", "script"}:
                into.append(response.body())

        page.on("response", keep)
        # A fresh load from the network (not the worker's cache): what a first visit costs.
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        page.remove_listener("response", keep)
        sw = page.evaluate("fetch('/field/sw.js').then(r => r.text())")
        raw = sum(len(b) for b in bodies) + len(sw.encode())
        zipped = sum(len(gzip.compress(b)) for b in bodies) + len(gzip.compress(sw.encode()))
        weights[path] = (raw, zipped)
    for path, (raw, zipped) in weights.items():
        print(f"field page weight {path}: {raw:,} bytes ({zipped:,} gzip)")
    assert all(raw < PAGE_BUDGET_BYTES for raw, _ in weights.values()), weights


def test_a_visit_waiting_on_a_french_phone_shows_its_day_as_a_french_reader_writes_it(
    phone: tuple[Any, Any], live_server: Any, worker_a: User, area_a: Area
) -> None:
    import datetime as dt

    from django.utils import translation
    from django.utils.formats import date_format
    from django.utils.translation import gettext

    from healthwatch.models import UserProfile

    UserProfile.objects.create(user=worker_a, language="fr")
    known = known_resident(worker_a, area_a, "KNOWN-FR")
    context, page = phone
    log_in(page, live_server, "worker_a")
    page.wait_for_url(f"{live_server.url}/field/")
    page.wait_for_selector('html[lang="fr"][data-outbox-ready]', state="attached")

    context.set_offline(True)
    page.goto(f"{live_server.url}/field/residents/{known.pk}/visits/new/")
    page.wait_for_selector('html[lang="fr"]', state="attached")  # the phone's French copy
    page.fill("#id_visited_on", "2024-03-09")
    page.click("form.visit-form button[type=submit]")
    with translation.override("fr"):
        waiting = gettext("1 visit waiting to be sent.")
    assert waiting != "1 visit waiting to be sent."  # the French catalogue is there
    page.wait_for_selector(f"#outbox-status:has-text({json.dumps(waiting, ensure_ascii=False)})")
    page.goto(f"{live_server.url}/field/")
    page.wait_for_selector("[data-outbox-list][data-count='1']", state="attached")

    with translation.override("fr"):
        day = date_format(dt.date(2024, 3, 9), "SHORT_DATE_FORMAT")
    assert day == "09/03/2024"  # day first; the pattern is Django's, the test pins its shape
    title = outbox_items(page).first.inner_text()
    assert title.startswith(f"{day} — "), title
    assert "2024-03-09" not in title
