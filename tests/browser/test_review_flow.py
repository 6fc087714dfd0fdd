"""The review controls in headless Chromium (issue 17, part 5): Publish disabled with its reason,
Ask for changes and Approve as explicit buttons, a comment apart, retraction confirmed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from reports.models import Release, ReleaseStatus, ReviewComment
from tests.browser.conftest import log_in
from tests.conftest import load_community

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def draft(tiny_community: Path, vocabulary_and_groups: None, epidemiologist: User) -> Release:
    from analytics import services as analytics_services
    from reports import services

    load_community(tiny_community)
    run = analytics_services.analysis_run_request(user=None, enqueue=False)
    run = analytics_services.analysis_run_execute_inline(run_id=run.pk)
    return services.release_build_draft(user=epidemiologist, run=run, site_code="RH-SEP", year=2025)


def messages_of(page: Any) -> str:
    return str(page.locator(".messages").inner_text())


def test_the_review_flow_with_explicit_decisions_a_guarded_publish_and_a_confirmed_retraction(
    browser: Any,
    live_server: Any,
    draft: Release,
    epidemiologist: User,
    community_reviewer: User,
) -> None:
    staff_url = f"{live_server.url}/review/releases/{draft.pk}/"
    epi = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    epi.set_default_timeout(15_000)
    log_in(epi, live_server, "epi")
    epi.goto(staff_url)
    publish = epi.locator("button[name=publish]")
    assert publish.is_disabled()
    assert "send it to community review first" in epi.locator("[data-publish-blocker]").inner_text()
    epi.click("button[name=approve]")
    assert "Sent to community review." in messages_of(epi)
    assert publish.is_disabled()
    assert "needs 1 more community approval" in epi.locator("[data-publish-blocker]").inner_text()

    reviewer = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    reviewer.set_default_timeout(15_000)
    log_in(reviewer, live_server, "reviewer")
    reviewer.goto(staff_url)
    approve = "button[name=decision][value=approve]"
    ask = "button[name=decision][value=request_changes]"
    assert reviewer.locator(approve).is_visible() and reviewer.locator(ask).is_visible()
    reviewer.click(ask)  # without saying what should change
    assert "Say what should change." in messages_of(reviewer)
    reviewer.fill("#id_body", "Explain resident-years in plain words.")
    reviewer.click(ask)
    assert "Your request for changes is recorded" in messages_of(reviewer)
    assert reviewer.locator(approve).count() == 0  # back with the epidemiologists

    epi.goto(staff_url)
    assert "asked for changes" in epi.locator("[data-publish-blocker]").inner_text()
    epi.click("button[name=approve]")

    reviewer.goto(staff_url)
    reviewer.fill("#id_comment_body", "Thank you, much clearer.")
    reviewer.click("text=Add comment")
    assert "Your comment is recorded (no decision)." in messages_of(reviewer)
    reviewer.click(approve)
    assert "Your approval is recorded." in messages_of(reviewer)
    decisions = list(ReviewComment.objects.filter(release=draft).values_list("decision", flat=True))
    assert decisions == ["request_changes", "comment", "approve"]
    reviews = reviewer.locator("#reviews-h + ul").inner_text()
    assert "Ask for changes" in reviews and "Comment (no decision)" in reviews
    assert "request_changes" not in reviews  # labels, not codes

    epi.goto(staff_url)
    assert not epi.locator("button[name=publish]").is_disabled()
    assert epi.locator("[data-publish-blocker]").count() == 0
    epi.click("button[name=publish]")
    assert "Published." in messages_of(epi)

    # Retract: a link to a confirmation page, which refuses without the confirmation.
    assert epi.locator("form[action$='/retract/']").count() == 0
    epi.click("[data-retract-link]")
    epi.fill("textarea[name=reason]", "A data entry error in area A03.")
    epi.click("button[name=retract]")
    assert "Confirm that the release is to be retracted" in epi.locator("main").inner_text()
    draft.refresh_from_db()
    assert draft.status == ReleaseStatus.PUBLISHED
    epi.check("input[name=confirm]")
    epi.click("button[name=retract]")
    assert "Retracted." in messages_of(epi)
    draft.refresh_from_db()
    assert draft.status == ReleaseStatus.RETRACTED

    visitor = browser.new_context().new_page()
    visitor.goto(f"{live_server.url}/reports/RH-SEP/2025/v1/")
    assert "A data entry error in area A03." in visitor.locator("main").inner_text()
