"""Reports world: the tiny community analysed, and a report built from it.

Django is imported inside the fixtures so that tests/reports/privacy also runs without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from analytics.models import AnalysisRun
    from reports.models import Release


@pytest.fixture
def finished_run(community: Path) -> AnalysisRun:
    from analytics import services

    run = services.analysis_run_request(user=None, enqueue=False)
    return services.analysis_run_execute_inline(run_id=run.pk)


@pytest.fixture
def draft(finished_run: AnalysisRun, epidemiologist: User) -> Release:
    from reports import services

    return services.release_build_draft(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )


@pytest.fixture
def published(draft: Release, epidemiologist: User, community_reviewer: User) -> Release:
    from reports import services

    services.release_approve(user=epidemiologist, release=draft)
    services.release_review(
        user=community_reviewer, release=draft, decision="approve", body="agreed"
    )
    return services.release_publish(user=epidemiologist, release_id=draft.pk)
