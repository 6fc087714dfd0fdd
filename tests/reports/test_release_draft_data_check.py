"""A draft is built only from the data its analysis run read, and cheaply when nothing changed.

The run stores a change marker with its result set (surveys.selectors.data_change_marker) and
keeps the data it read; a draft trusts an equal marker instead of extracting and hashing all the
data again, and falls back to extracting and comparing fingerprints when anything was written.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from analytics import services as analytics_services
from analytics.extraction import Datasets
from analytics.models import AnalysisRun
from reports import services
from surveys.models import Resident
from surveys.selectors import data_change_marker
from surveys.validation import ValidationProblem
from tests.i18n import t

pytestmark = pytest.mark.django_db


def build(run: AnalysisRun, user: User) -> Any:
    run.refresh_from_db()
    return services.release_build_draft(user=user, run=run, site_code="RH-SEP", year=2025)


def forbid(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{name} was called")

    monkeypatch.setattr(target, name, refuse)


def test_the_run_stores_the_marker_of_the_data_it_read(finished_run: AnalysisRun) -> None:
    assert finished_run.result_set is not None
    assert finished_run.result_set.input_marker == data_change_marker()


def test_a_draft_of_unchanged_data_reads_nothing_again(
    finished_run: AnalysisRun, epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid(monkeypatch, analytics_services, "extract_all")
    forbid(monkeypatch, Datasets, "fingerprint")
    assert build(finished_run, epidemiologist).content["tables"]


def test_without_the_kept_data_an_unchanged_marker_spares_the_hashing(
    finished_run: AnalysisRun, epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert finished_run.result_set is not None
    analytics_services._cache_drop(finished_run.result_set.input_fingerprint)
    forbid(monkeypatch, Datasets, "fingerprint")
    assert build(finished_run, epidemiologist).content["tables"]


def test_a_draft_after_new_data_is_refused_until_the_analysis_runs_again(
    finished_run: AnalysisRun, epidemiologist: User
) -> None:
    first = Resident.objects.order_by("pk").first()
    assert first is not None
    Resident.objects.filter(pk=first.pk).update(birth_year=first.birth_year - 1)
    with pytest.raises(ValidationProblem) as refused:
        build(finished_run, epidemiologist)
    assert refused.value.errors[0].message == t(
        "The recorded data changed since this analysis ran; run the analysis again and build "
        "the report from the new run."
    )


def test_a_write_that_left_the_data_as_it_was_costs_an_extraction_not_the_draft(
    finished_run: AnalysisRun, epidemiologist: User
) -> None:
    first = Resident.objects.order_by("pk").first()
    assert first is not None
    before = data_change_marker()
    Resident.objects.filter(pk=first.pk).update(birth_year=first.birth_year)
    assert data_change_marker() != before  # the marker cannot tell: the fingerprint does
    assert build(finished_run, epidemiologist).content["tables"]
