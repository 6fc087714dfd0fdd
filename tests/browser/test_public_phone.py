"""Every public page on a 360 px phone: nothing wider than the screen, no serious or critical
accessibility violation (axe-core, injected by Playwright), a superseded version pointing to
the current one. Screenshots go to HEALTHWATCH_SHOTS (when set) for the issue's note."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import PHONE, publish_tiny_release
from tests.conftest import in_ci

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@pytest.fixture
def axe_source() -> str:
    if not AXE.exists():
        message = f"axe-core is not installed at {AXE} (make browser-deps runs npm ci)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text()


def check_page(page: Any, url: str, axe_source: str) -> dict[str, Any]:
    """Open a page at 360×740; its overflow, axe's blocking violations and bytes on the wire."""
    sizes: list[int] = []
    page.on("requestfinished", lambda request: sizes.append(_transferred(request)))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    width = page.evaluate("() => document.documentElement.scrollWidth")
    page.add_script_tag(content=axe_source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    blocking = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]
    return {"width": width, "blocking": blocking, "bytes": sum(sizes)}


def _transferred(request: Any) -> int:
    sizes = request.sizes()
    return int(sizes["responseBodySize"]) + int(sizes["responseHeadersSize"])


def test_every_public_page_fits_a_phone_and_has_no_serious_accessibility_violation(
    browser: Any,
    live_server: Any,
    axe_source: str,
    tiny_community: Path,
    vocabulary_and_groups: None,
    epidemiologist: User,
    community_reviewer: User,
) -> None:
    from analytics.models import AnalysisRun
    from reports import services

    first = publish_tiny_release(tiny_community, epidemiologist, community_reviewer)
    run = AnalysisRun.objects.latest("pk")
    correction = services.release_correct(
        user=epidemiologist,
        release=first,
        run=run,
        erratum="The skin rash counts of 2024 were entered twice in one area.",
    )
    services.release_approve(user=epidemiologist, release=correction)
    services.release_review(
        user=community_reviewer, release=correction, decision="approve", body="ok"
    )
    second = services.release_publish(user=epidemiologist, release_id=correction.pk)
    services.open_data_snapshot_create()

    v1 = f"{live_server.url}/reports/RH-SEP/2025/v1/"
    v2 = f"{live_server.url}/reports/RH-SEP/2025/v2/"
    pages = [
        f"{live_server.url}/",
        v2,
        *[v2 + f"tables/{name}/" for name in second.content["tables"]],
        f"{live_server.url}/privacy/",
        f"{live_server.url}/methodology/",
        f"{live_server.url}/open-data/",
        v2 + "comments/",
        v1,
    ]
    # axe is injected as a script tag: the CSP (tested in test_csp) is bypassed for it only here.
    context = browser.new_context(viewport=PHONE, bypass_csp=True)
    report: dict[str, dict[str, Any]] = {}
    for url in pages:
        page = context.new_page()
        report[url.removeprefix(live_server.url)] = check_page(page, url, axe_source)
        page.close()
    print()
    for url, seen in report.items():
        print(f"{seen['bytes']:>8} B transferred  width {seen['width']:>4}  {url}")
    too_wide = {
        url: seen["width"] for url, seen in report.items() if seen["width"] > PHONE["width"]
    }
    assert not too_wide, too_wide
    blocking = {url: seen["blocking"] for url, seen in report.items() if seen["blocking"]}
    assert not blocking, blocking

    page = context.new_page()
    page.goto(v1)
    notice = page.locator("[data-superseded]")
    assert "version 2 is the current report" in notice.inner_text()
    page.click("[data-current-version]")
    assert page.url == v2
    assert (
        "2025 report, version 2 (corrects version 1: The skin rash counts"
        in page.locator("[data-version-line]").inner_text()
    )
    # Keyboard: the first Tab reaches the skip link, and it is visible when focused.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0
    shots = os.environ.get("HEALTHWATCH_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.goto(v2)
        page.screenshot(path=str(Path(shots) / "release-top-360.png"))
        page.goto(v2 + "tables/indicators_by_area/")
        page.screenshot(path=str(Path(shots) / "table-indicators-by-area-360.png"))
        page.goto(v1)
        page.screenshot(path=str(Path(shots) / "superseded-v1-top-360.png"))
    context.close()
