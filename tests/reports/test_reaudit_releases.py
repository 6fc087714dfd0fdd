"""Every publication's audit run again with today's auditor (manage.py reaudit_releases)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from analytics.models import AnalysisRun
from reports import services
from reports.models import Release

pytestmark = pytest.mark.django_db


def publish(run: AnalysisRun, year: int, epidemiologist: User, reviewer: User) -> Release:
    draft = services.release_build_draft(
        user=epidemiologist, run=run, site_code="RH-SEP", year=year
    )
    services.release_approve(user=epidemiologist, release=draft)
    services.release_review(user=reviewer, release=draft, decision="approve", body="agreed")
    return services.release_publish(user=epidemiologist, release_id=draft.pk)


def test_with_nothing_published_the_command_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("reaudit_releases")
    assert "No release has been published" in capsys.readouterr().out


def test_releases_published_later_year_first_all_pass_again_in_their_order(
    finished_run: AnalysisRun,
    epidemiologist: User,
    community_reviewer: User,
    capsys: pytest.CaptureFixture[str],
) -> None:
    publish(finished_run, 2025, epidemiologist, community_reviewer)
    publish(finished_run, 2024, epidemiologist, community_reviewer)

    replayed = services.publication_audits_replayed()

    assert [(r.release, r.earlier_releases, r.passed) for r in replayed] == [
        ("RH-SEP 2025 version 1", 0, True),
        ("RH-SEP 2024 version 1", 1, True),
    ]
    call_command("reaudit_releases")
    assert "All 2 published releases pass today's audit." in capsys.readouterr().out


def test_a_release_that_let_a_small_count_out_is_named_and_the_command_fails(
    published: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    # What an older, faulty auditor would have let through: a hidden cell of 1..T−1 published.
    internal = published.internal_audit
    threshold = published.threshold
    small = next(
        c for c in internal["cells"] if c["suppressed"] and 0 < int(c["count"]) < threshold
    )
    small["suppressed"] = False
    Release.objects.filter(pk=published.pk).update(internal_audit=internal)

    with pytest.raises(CommandError, match="1 of 1 published releases would be refused"):
        call_command("reaudit_releases")

    out = capsys.readouterr().out
    assert "RH-SEP 2025 version 1 (against 0 earlier releases): WOULD BE REFUSED TODAY" in out
