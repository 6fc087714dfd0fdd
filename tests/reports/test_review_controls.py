"""The review controls of a release (issue 17, part 5): explicit decisions, comments apart,
Publish disabled with its reason until the quorum, retraction behind a confirmation."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.html import escape

from healthwatch.roles import Role
from reports import services
from reports.models import Release, ReleaseStatus, ReviewComment, ReviewDecision
from surveys.validation import ValidationProblem
from tests.conftest import client_for, make_user
from tests.i18n import h, rx, tn


def not_signed_off(*, approvals: int, quorum: int) -> str:
    """Why publishing waits, as reports.services says it (plural by the approvals missing),
    escaped as in the page."""
    missing = quorum - approvals
    return escape(
        tn(
            "The community has not signed off: %(approvals)d of %(quorum)d required "
            "approvals; needs %(missing)d more community approval.",
            "The community has not signed off: %(approvals)d of %(quorum)d required "
            "approvals; needs %(missing)d more community approvals.",
            missing,
            approvals=approvals,
            quorum=quorum,
            missing=missing,
        )
    )


pytestmark = pytest.mark.django_db


def page_of(user: User, release: Release) -> str:
    return client_for(user).get(f"/review/releases/{release.pk}/").content.decode()


def publish_button(page: str) -> str:
    match = re.search(r'<button type="submit" name="publish"[^>]*>', page)
    assert match, "the page shows a Publish button"
    return match.group(0)


# The controls do not depend on the report's tables: these releases carry a stand-in body
# (the workflow with real drafts is in test_release_workflow.py).
@pytest.fixture
def draft(db: None) -> Release:
    return Release.objects.create(
        site_code="RH-SEP", site_name="Red Hill", year=2025, rendered_html="<p>The report.</p>"
    )


@pytest.fixture
def published(db: None) -> Release:
    return Release.objects.create(
        site_code="RH-SEP",
        site_name="Red Hill",
        year=2025,
        status=ReleaseStatus.PUBLISHED,
        content_hash="0" * 64,
        rendered_html="<p>The report.</p>",
        published_at=timezone.now(),
    )


@pytest.fixture
def in_review(draft: Release, epidemiologist: User) -> Release:
    return services.release_approve(user=epidemiologist, release=draft)


def test_a_reviewer_sees_approve_and_ask_for_changes_as_two_buttons_and_nothing_preselected(
    in_review: Release, community_reviewer: User
) -> None:
    page = page_of(community_reviewer, in_review)
    assert 'name="decision" value="approve"' in page
    assert 'name="decision" value="request_changes"' in page
    assert "checked" not in page.split("data-review-decision")[1].split("</section>")[0]
    # The comment is its own form, after the decision.
    assert page.index("data-review-decision") < page.index("data-review-comment")


def test_a_post_without_a_decision_records_nothing_and_says_what_to_choose(
    in_review: Release, community_reviewer: User
) -> None:
    response = client_for(community_reviewer).post(
        f"/review/releases/{in_review.pk}/review/", {"body": "OK to publish"}, follow=True
    )
    assert h("Choose Approve or Ask for changes.") in response.content.decode()
    assert not ReviewComment.objects.filter(release=in_review).exists()


def test_the_approve_button_records_an_approval_that_counts_toward_the_quorum(
    in_review: Release, community_reviewer: User
) -> None:
    client_for(community_reviewer).post(
        f"/review/releases/{in_review.pk}/review/", {"decision": "approve", "body": "OK to publish"}
    )
    review = ReviewComment.objects.get(release=in_review)
    assert review.decision == ReviewDecision.APPROVE
    assert services.community_approvals(in_review) == 1


def test_a_comment_is_a_separate_action_that_decides_nothing(
    in_review: Release, community_reviewer: User, epidemiologist: User
) -> None:
    client_for(community_reviewer).post(
        f"/review/releases/{in_review.pk}/review/",
        {"decision": "comment", "body": "Could the map be larger?"},
    )
    client_for(epidemiologist).post(
        f"/review/releases/{in_review.pk}/review/",
        {"decision": "comment", "body": "Will do."},
    )
    assert list(
        ReviewComment.objects.filter(release=in_review).values_list("decision", flat=True)
    ) == [ReviewDecision.COMMENT, ReviewDecision.COMMENT]
    assert services.community_approvals(in_review) == 0
    with pytest.raises(ValidationProblem, match=rx("Write the comment.")):
        services.release_review(
            user=community_reviewer, release=in_review, decision="comment", body="  "
        )


def test_an_epidemiologist_cannot_take_a_community_decision(
    in_review: Release, epidemiologist: User
) -> None:
    client_for(epidemiologist).post(
        f"/review/releases/{in_review.pk}/review/", {"decision": "approve", "body": ""}
    )
    assert services.community_approvals(in_review) == 0
    assert "data-review-decision" not in page_of(epidemiologist, in_review)


def test_publish_is_disabled_with_the_missing_approvals_until_the_quorum_is_met(
    in_review: Release, epidemiologist: User, community_reviewer: User
) -> None:
    Release.objects.filter(pk=in_review.pk).update(quorum=2)
    in_review.refresh_from_db()
    page = page_of(epidemiologist, in_review)
    assert "disabled" in publish_button(page)
    assert not_signed_off(approvals=0, quorum=2) in page
    services.release_review(user=community_reviewer, release=in_review, decision="approve", body="")
    page = page_of(epidemiologist, in_review)
    assert "disabled" in publish_button(page) and not_signed_off(approvals=1, quorum=2) in page
    second = make_user("reviewer_2", Role.COMMUNITY_REVIEWER)
    services.release_review(user=second, release=in_review, decision="approve", body="")
    page = page_of(epidemiologist, in_review)
    assert "disabled" not in publish_button(page)
    assert "data-publish-blocker" not in page


def test_a_forced_publish_post_is_refused_by_the_service_with_the_same_reason(
    in_review: Release, epidemiologist: User
) -> None:
    response = client_for(epidemiologist).post(
        f"/review/releases/{in_review.pk}/publish/", follow=True
    )
    assert not_signed_off(approvals=0, quorum=1) in response.content.decode()
    in_review.refresh_from_db()
    assert in_review.status == ReleaseStatus.EPI_APPROVED


def test_a_draft_shows_publish_disabled_with_what_comes_first(
    draft: Release, epidemiologist: User
) -> None:
    page = page_of(epidemiologist, draft)
    assert "disabled" in publish_button(page)
    assert h("Approve the draft and send it to community review first.") in page


def test_retract_is_a_link_to_a_confirmation_page_not_a_button_on_the_release_page(
    published: Release, epidemiologist: User
) -> None:
    page = page_of(epidemiologist, published)
    assert f'href="/review/releases/{published.pk}/retract/"' in page
    assert f'action="/review/releases/{published.pk}/retract/"' not in page
    confirm = client_for(epidemiologist).get(f"/review/releases/{published.pk}/retract/")
    assert confirm.status_code == 200
    assert 'name="confirm"' in confirm.content.decode()
    published.refresh_from_db()
    assert published.status == ReleaseStatus.PUBLISHED


# msgids, looked up in the active language when the test runs
CONFIRM = "Confirm that the release is to be retracted with this public reason."
REASON = "Give the public reason for retracting."


@pytest.mark.parametrize(
    ("post", "message", "not_said"),
    [
        ({"reason": "A data entry error."}, CONFIRM, REASON),
        ({"confirm": "on", "reason": " "}, REASON, CONFIRM),
    ],
)
def test_a_retraction_without_confirmation_or_reason_is_refused_by_the_server(
    published: Release, epidemiologist: User, post: dict[str, str], message: str, not_said: str
) -> None:
    response = client_for(epidemiologist).post(f"/review/releases/{published.pk}/retract/", post)
    assert response.status_code == 400
    page = response.content.decode()
    assert h(message) in page and h(not_said) not in page
    published.refresh_from_db()
    assert published.status == ReleaseStatus.PUBLISHED
    with pytest.raises(ValidationProblem, match=rx(CONFIRM)):
        services.release_retract(
            user=epidemiologist, release=published, reason="Because.", confirmed=False
        )


def test_a_confirmed_retraction_with_a_reason_retracts_and_keeps_the_reason(
    published: Release, epidemiologist: User
) -> None:
    response = client_for(epidemiologist).post(
        f"/review/releases/{published.pk}/retract/",
        {"confirm": "on", "reason": "A data entry error in area A03."},
    )
    assert response.status_code == 302
    published.refresh_from_db()
    assert published.status == ReleaseStatus.RETRACTED
    assert published.retraction_reason == "A data entry error in area A03."


def test_a_community_reviewer_cannot_reach_the_retraction_page(
    published: Release, community_reviewer: User
) -> None:
    response = client_for(community_reviewer).get(f"/review/releases/{published.pk}/retract/")
    assert response.status_code == 403
