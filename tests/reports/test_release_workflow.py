"""From analysis run to published release: disclosure control, review, sign-off, immutability."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from reports import services
from reports.models import AppendOnlyError, LedgerEntry, Release, ReleaseFile, ReleaseStatus
from surveys.validation import ValidationProblem
from tests.conftest import client_for
from tests.i18n import bt, h, rx, t, tn

pytestmark = pytest.mark.django_db


def published_counts(release: Release) -> list[float | None]:
    return [
        row["estimate"]
        for rows in release.content["tables"].values()
        for row in rows
        if row["measure"] in ("events", "tested", "above_reference")
    ]


def test_a_draft_publishes_no_count_between_one_and_t_minus_one(draft: Release) -> None:
    counts = published_counts(draft)
    assert counts, "the draft has count cells"
    shown = [c for c in counts if c is not None]
    assert all(c == 0 or c >= draft.threshold for c in shown)
    assert any(c is None for c in counts), "the tiny community has small counts to suppress"
    assert draft.content["privacy"]["passed"] is True
    assert draft.status == ReleaseStatus.DRAFT and draft.version == 1


def test_suppressed_cells_carry_no_value_and_say_why(draft: Release) -> None:
    for rows in draft.content["tables"].values():
        for row in rows:
            if row["estimate"] is None and row["analysis"] != "environment":
                assert row["flags"], row


def test_publication_needs_the_community_s_approval(
    draft: Release, epidemiologist: User, community_reviewer: User
) -> None:
    services.release_approve(user=epidemiologist, release=draft)
    not_signed = tn(
        "The community has not signed off: %(approvals)d of %(quorum)d required "
        "approvals; needs %(missing)d more community approval.",
        "The community has not signed off: %(approvals)d of %(quorum)d required "
        "approvals; needs %(missing)d more community approvals.",
        1,
        approvals=0,
        quorum=1,
        missing=1,
    )
    with pytest.raises(ValidationProblem, match=re.escape(not_signed)):
        services.release_publish(user=epidemiologist, release_id=draft.pk)
    services.release_review(user=community_reviewer, release=draft, decision="approve", body="ok")
    release = services.release_publish(user=epidemiologist, release_id=draft.pk)
    assert release.status == ReleaseStatus.PUBLISHED
    assert len(release.content_hash) == 64 and "<svg" in release.rendered_html


def test_a_request_for_changes_sends_the_release_back_and_resets_approvals(
    draft: Release, epidemiologist: User, community_reviewer: User
) -> None:
    services.release_approve(user=epidemiologist, release=draft)
    services.release_review(user=community_reviewer, release=draft, decision="approve", body="fine")
    with pytest.raises(ValidationProblem, match=rx("Say what should change.")):
        services.release_review(
            user=community_reviewer, release=draft, decision="request_changes", body=""
        )
    services.release_review(
        user=community_reviewer,
        release=draft,
        decision="request_changes",
        body="Explain resident-years in plain words.",
    )
    draft.refresh_from_db()
    assert draft.status == ReleaseStatus.CHANGES_REQUESTED
    services.release_approve(user=epidemiologist, release=draft)
    assert services.community_approvals(draft) == 0


def test_a_community_reviewer_cannot_approve_their_own_way_past_the_epidemiologist(
    draft: Release, community_reviewer: User
) -> None:
    with pytest.raises(PermissionError):
        services.release_approve(user=community_reviewer, release=draft)
    with pytest.raises(
        ValidationProblem, match=rx("Only a release in community review can be reviewed.")
    ):
        services.release_review(user=community_reviewer, release=draft, decision="approve", body="")


def test_publishing_appends_every_cell_to_the_ledger_which_never_changes(
    published: Release,
) -> None:
    entries = LedgerEntry.objects.filter(release=published)
    assert entries.count() == len(published.internal_audit["cells"])
    suppressed = entries.filter(value__isnull=True).count()
    assert suppressed == sum(1 for c in published.internal_audit["cells"] if c["suppressed"])
    entry = entries.first()
    assert entry is not None
    entry.value = 99
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_a_published_release_cannot_be_approved_or_published_again(
    published: Release, epidemiologist: User
) -> None:
    with pytest.raises(ValidationProblem):
        services.release_approve(user=epidemiologist, release=published)
    with pytest.raises(ValidationProblem):
        services.release_publish(user=epidemiologist, release_id=published.pk)
    assert ReleaseFile.objects.filter(release=published, name="release.zip").exists()


def test_retraction_needs_a_public_reason_shown_on_the_page(
    published: Release, epidemiologist: User, anonymous: object
) -> None:
    with pytest.raises(ValidationProblem, match=rx("Give the public reason for retracting.")):
        services.release_retract(user=epidemiologist, release=published, reason=" ", confirmed=True)
    services.release_retract(
        user=epidemiologist,
        release=published,
        reason="A data entry error in area A03.",
        confirmed=True,
    )
    page = anonymous.get("/reports/RH-SEP/2025/v1/").content.decode()  # type: ignore[attr-defined]
    assert h("Retracted") in page and "A data entry error in area A03." in page


def test_a_correction_is_a_new_version_and_the_old_one_stays_readable(
    published: Release, epidemiologist: User, community_reviewer: User, anonymous: object
) -> None:
    assert published.result_set is not None
    run = published.result_set.runs.first()
    assert run is not None
    correction = services.release_correct(
        user=epidemiologist, release=published, run=run, erratum="Area A03 names fixed."
    )
    assert (correction.version, correction.supersedes_id) == (2, published.pk)
    services.release_approve(user=epidemiologist, release=correction)
    services.release_review(
        user=community_reviewer, release=correction, decision="approve", body=""
    )
    services.release_publish(user=epidemiologist, release_id=correction.pk)
    published.refresh_from_db()
    assert published.superseded and published.status == ReleaseStatus.PUBLISHED
    old = anonymous.get("/reports/RH-SEP/2025/v1/").content.decode()  # type: ignore[attr-defined]
    assert (
        bt(
            "This is version %(version)s, which has been corrected: version %(current_version)s "
            "is the current report.",
            version=1,
            current_version=2,
        )
        in old
    )
    assert "/reports/RH-SEP/2025/v2/" in old
    new = anonymous.get("/reports/RH-SEP/2025/v2/").content.decode()  # type: ignore[attr-defined]
    assert h("Erratum:") in new and "Area A03 names fixed." in new


def test_community_reviewers_see_only_releases_sent_for_review(
    draft: Release, community_reviewer: User, epidemiologist: User
) -> None:
    reviewer = client_for(community_reviewer)
    assert reviewer.get(f"/review/releases/{draft.pk}/").status_code == 404
    services.release_approve(user=epidemiologist, release=draft)
    page = reviewer.get(f"/review/releases/{draft.pk}/").content.decode()
    internal_audit = h("Internal disclosure audit (epidemiologists only; never published)")
    assert h("Your decision") in page
    assert internal_audit not in page  # ranges and reasons stay with staff
    epi_page = client_for(epidemiologist).get(f"/review/releases/{draft.pk}/").content.decode()
    assert internal_audit in epi_page


def test_a_second_year_is_audited_against_the_first_year_s_ledger(
    published: Release, epidemiologist: User
) -> None:
    assert published.result_set is not None
    run = published.result_set.runs.first()
    assert run is not None
    second = services.release_build_draft(
        user=epidemiologist, run=run, site_code="RH-SEP", year=2024
    )
    assert second.content["privacy"]["earlier_releases"] == 1
    assert second.content["privacy"]["passed"] is True


def test_a_correction_at_a_coarser_grouping_publishes_no_single_area(
    published: Release,
    epidemiologist: User,
    build_worker: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Option (c) for late data, chosen on the release page: the draft keeps the distance
    # bands, the trend and the exposure tables, and drops the per-area indicators.
    assert published.result_set is not None
    run = published.result_set.runs.first()
    assert run is not None
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(epidemiologist).post(
            f"/review/releases/{published.pk}/correct/",
            {"run": run.pk, "erratum": "Late records for 2025.", "late_data": "coarser"},
        )
    correction = Release.objects.get(supersedes=published)
    assert response.status_code == 302
    assert client_for(epidemiologist).get(response["Location"])["Location"] == (
        f"/review/releases/{correction.pk}/"
    )
    assert "indicators_by_area" not in correction.content["tables"]
    assert "indicators_by_area" in published.content["tables"]
    assert "indicators_by_distance" in correction.content["tables"]


def test_published_denominators_are_never_small_counts(published: Release) -> None:
    # Resident-years, numbers tested and census populations are counts of people: none of
    # 1..T−1 is published, in any table or in the denominator column.
    small = range(1, published.threshold)
    for table, rows in published.content["tables"].items():
        if table == "environment":
            continue
        for row in rows:
            if row["measure"] in ("resident_years", "tested", "above_reference", "population"):
                assert row["estimate"] is None or row["estimate"] not in small, row
            assert row["denominator"] is None or row["denominator"] not in small, row


def approved(release: Release, epidemiologist: User, community_reviewer: User) -> Release:
    services.release_approve(user=epidemiologist, release=release)
    services.release_review(user=community_reviewer, release=release, decision="approve", body="")
    return release


def test_publication_audits_again_only_when_something_was_published_since_the_draft(
    draft: Release,
    epidemiologist: User,
    community_reviewer: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert draft.result_set is not None
    run = draft.result_set.runs.first()
    assert run is not None
    earlier = services.release_build_draft(
        user=epidemiologist, run=run, site_code="RH-SEP", year=2024
    )
    assert draft.internal_audit["ledger_mark"][:2] == [0, 0]  # entries, last id: none yet
    audits: list[int] = []
    real_audit = services.audit

    def counted(*args: Any, **kwargs: Any) -> Any:
        audits.append(len(args[2]))  # the ledger it was held against
        return real_audit(*args, **kwargs)

    monkeypatch.setattr(services, "audit", counted)
    services.release_publish(
        user=epidemiologist,
        release_id=approved(earlier, epidemiologist, community_reviewer).pk,
    )
    assert audits == []  # the ledger is as the draft's own audit saw it: nothing to redo
    cells = LedgerEntry.objects.filter(release=earlier).count()
    try:
        services.release_publish(
            user=epidemiologist, release_id=approved(draft, epidemiologist, community_reviewer).pk
        )
    except services.DisclosureProblem:
        pass  # on the tiny community 2024's tables do narrow 2025's: a new draft is needed
    assert audits == [cells]  # 2024 was published since: audited against it


def test_a_draft_audited_by_an_older_auditor_is_audited_again_at_publication(
    draft: Release,
    epidemiologist: User,
    community_reviewer: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audits: list[int] = []
    real_audit = services.audit

    def counted(*args: Any, **kwargs: Any) -> Any:
        audits.append(1)
        return real_audit(*args, **kwargs)

    monkeypatch.setattr(services, "audit", counted)
    monkeypatch.setattr(services, "AUDIT_VERSION", "a newer auditor")
    services.release_publish(
        user=epidemiologist, release_id=approved(draft, epidemiologist, community_reviewer).pk
    )
    assert audits == [1]  # the ledger did not grow, but the auditor changed


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_draft_for_a_year_without_visits_is_refused_in_the_epidemiologist_s_language(
    finished_run: Any, epidemiologist: User, language: str
) -> None:
    english = "No resident was visited in %(year)s in the areas of %(site)s."
    with translation.override(language):
        with pytest.raises(ValidationProblem) as refused:
            services.release_build_draft(
                user=epidemiologist, run=finished_run, site_code="RH-SEP", year=1999
            )
        said = t(english, year=1999, site="RH-SEP")
    [error] = refused.value.errors
    assert error.field == "year" and error.message == said
    assert (said == english % {"year": 1999, "site": "RH-SEP"}) == (language == "en")
