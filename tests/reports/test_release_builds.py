"""Building a report is a job: the page answers at once, shows progress, and the draft is made
exactly once — through double taps, redelivered messages, a queue outage and a lost worker."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnavailable

from analytics.models import AnalysisRun
from reports import selectors, services, tasks
from reports.forms import ReleaseForm
from reports.models import BuildStatus, Release, ReleaseBuild
from reports.privacy import DisclosureError
from surveys.models import ProductionSite
from surveys.validation import ValidationProblem
from tests.conftest import client_for
from tests.i18n import bt, h, rx, t, tn

# The queue's refusal as the build stores it (the broker error's class name in brackets).
QUEUE_DOWN = "Not started: the job queue is unavailable (%(error)s). Build it again later."
UNSAFE = (
    "These tables cannot be published safely: some hidden numbers could be worked out from what "
    "this report (and earlier reports) would publish, and hiding more cells does not help. If "
    "this is a correction, try publishing it at a coarser grouping, or wait for more data."
)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Build ids sent to the queue, instead of sending them."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.build_release, "apply_async", lambda args, **kw: ids.append(args[0]))
    return ids


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.build_release, "apply_async", refuse)


def ask(user: User, run: AnalysisRun, capture: Any, year: int = 2025) -> Any:
    with capture(execute=True):
        return client_for(user).post(
            "/review/releases/", {"run": run.pk, "site_code": "RH-SEP", "year": year}
        )


@pytest.mark.django_db
def test_asking_for_a_report_answers_at_once_with_a_page_that_follows_the_build(
    finished_run: AnalysisRun,
    epidemiologist: User,
    sent: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    response = ask(epidemiologist, finished_run, django_capture_on_commit_callbacks)
    build = ReleaseBuild.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/review/builds/{build.pk}/"
    assert sent == [build.pk] and build.status == BuildStatus.QUEUED
    assert not Release.objects.exists()
    page = client_for(epidemiologist).get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and 'http-equiv="refresh"' in html
    assert h("Waiting for a worker") in html and "no-store" in page["Cache-Control"]
    site = ProductionSite.objects.get(code="RH-SEP")
    assert bt("The %(site)s %(year)s report", site=site.name, year=2025) in html  # by its name


@pytest.mark.django_db
def test_a_finished_build_takes_the_epidemiologist_to_the_draft(
    finished_run: AnalysisRun,
    epidemiologist: User,
    build_worker: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    response = ask(epidemiologist, finished_run, django_capture_on_commit_callbacks)
    build = ReleaseBuild.objects.get()
    draft = Release.objects.get()
    assert build.status == BuildStatus.SUCCEEDED and build.release == draft
    assert build.finished_at is not None and build.stage == t("Built")
    page = client_for(epidemiologist).get(response["Location"])
    assert page.status_code == 302 and page["Location"] == f"/review/releases/{draft.pk}/"
    followed = client_for(epidemiologist).get(page["Location"]).content.decode()
    assert "2025" in followed and draft.content["privacy"]["passed"] is True


@pytest.mark.django_db
def test_a_double_tap_builds_one_draft(
    finished_run: AnalysisRun,
    epidemiologist: User,
    sent: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = ask(epidemiologist, finished_run, django_capture_on_commit_callbacks)
    second = ask(epidemiologist, finished_run, django_capture_on_commit_callbacks)
    assert first["Location"] == second["Location"]
    assert ReleaseBuild.objects.count() == 1 and len(sent) == 1
    for build_id in sent * 2:  # and the message delivered twice
        services.release_build_execute(build_id)
    assert Release.objects.count() == 1


@pytest.mark.django_db
def test_a_build_that_cannot_be_queued_fails_with_a_message_and_no_server_error(
    finished_run: AnalysisRun,
    epidemiologist: User,
    broker_down: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    response = ask(epidemiologist, finished_run, django_capture_on_commit_callbacks)
    build = ReleaseBuild.objects.get()
    assert response.status_code == 302
    refusal = t(QUEUE_DOWN, error="OperationalError")  # kombu's OperationalError
    assert build.status == BuildStatus.FAILED and build.problems == [refusal]
    page = client_for(epidemiologist).get(response["Location"])
    assert page.status_code == 200 and h(refusal) in page.content.decode()
    assert 'http-equiv="refresh"' not in page.content.decode()
    # and the failed build does not block the next attempt once the queue is back
    assert ReleaseBuild.objects.filter(status__in=["queued", "running"]).count() == 0


@pytest.mark.django_db
def test_the_database_going_away_mid_build_gives_the_build_back_to_the_queue(
    finished_run: AnalysisRun, epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    build, _ = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )

    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "build_report", database_gone)
    with pytest.raises(OperationalError):
        services.release_build_execute(build.pk)
    build.refresh_from_db()
    assert build.status == BuildStatus.QUEUED and not Release.objects.exists()
    monkeypatch.undo()
    assert services.release_build_execute(build.pk) is not None  # the task's retry
    build.refresh_from_db()
    assert build.status == BuildStatus.SUCCEEDED


@pytest.mark.django_db
def test_an_unprotectable_report_shows_plain_words_and_the_equations_behind_a_fold(
    finished_run: AnalysisRun, epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    build, _ = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )

    def unprotectable(*args: Any, **kwargs: Any) -> None:
        raise DisclosureError("x[3] + x[4] = 7 pins x[3] to [2, 2]")

    monkeypatch.setattr(services, "build_report", unprotectable)
    assert services.release_build_execute(build.pk) is None
    build.refresh_from_db()
    assert build.status == BuildStatus.FAILED and build.problems == [t(UNSAFE)]
    html = client_for(epidemiologist).get(f"/review/builds/{build.pk}/").content.decode()
    assert h(UNSAFE) in html
    fold = html.index("<details>")
    assert html.index("pins x[3]") > fold and html.index(h(UNSAFE)) < fold


@pytest.mark.django_db
def test_a_build_a_lost_worker_left_running_is_sent_again_then_failed(
    finished_run: AnalysisRun, epidemiologist: User, sent: list[int], settings: Any
) -> None:
    build, _ = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )
    long_ago = timezone.now() - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    ReleaseBuild.objects.filter(pk=build.pk).update(status=BuildStatus.RUNNING, started_at=long_ago)
    assert services.release_builds_sweep() == {"builds_requeued": 1, "builds_failed": 0}
    build.refresh_from_db()
    assert build.status == BuildStatus.QUEUED and build.attempts == 2 and sent == [build.pk]
    assert build.stage == t("Worker lost or queue delayed: trying again")
    assert services.release_builds_sweep() == {"builds_requeued": 0, "builds_failed": 0}

    ReleaseBuild.objects.filter(pk=build.pk).update(
        attempts=settings.HEALTHWATCH_RUN_MAX_ATTEMPTS, queued_at=long_ago
    )
    assert services.release_builds_sweep() == {"builds_requeued": 0, "builds_failed": 1}
    build.refresh_from_db()
    gave_up = tn(
        "Not built after %(n)d attempt: the job queue or its workers are unavailable. Build it "
        "again when they are back.",
        "Not built after %(n)d attempts: the job queue or its workers are unavailable. Build it "
        "again when they are back.",
        settings.HEALTHWATCH_RUN_MAX_ATTEMPTS,
        n=settings.HEALTHWATCH_RUN_MAX_ATTEMPTS,
    )
    assert build.status == BuildStatus.FAILED and build.problems == [gave_up]


@pytest.mark.django_db
def test_a_draft_finished_after_the_sweep_gave_up_is_not_kept(
    finished_run: AnalysisRun, epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    build, _ = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )
    real = services.build_report

    def slow_then_given_up(*args: Any, **kwargs: Any) -> Any:
        ReleaseBuild.objects.filter(pk=build.pk).update(status=BuildStatus.FAILED)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "build_report", slow_then_given_up)
    assert services.release_build_execute(build.pk) is None
    assert not Release.objects.exists()


@pytest.mark.django_db
def test_a_build_is_for_epidemiologists_only(
    finished_run: AnalysisRun, epidemiologist: User, community_reviewer: User, worker_a: User
) -> None:
    build, _ = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )
    for outsider in (community_reviewer, worker_a):
        assert client_for(outsider).get(f"/review/builds/{build.pk}/").status_code in (302, 403)
    with pytest.raises(PermissionError):
        services.release_build_request(
            user=community_reviewer, run=finished_run, site_code="RH-SEP", year=2025
        )


@pytest.mark.django_db
def test_the_new_report_form_proposes_the_latest_run_and_the_latest_ended_year(
    finished_run: AnalysisRun,
) -> None:
    run, year = selectors.default_report_year(today=dt.date(2026, 3, 1))
    assert run == finished_run.pk and year == 2025
    # a year still under way is not proposed while an ended one exists
    assert selectors.default_report_year(today=dt.date(2025, 6, 1))[1] == 2024
    form = ReleaseForm()
    assert form.initial["run"] == finished_run.pk and form.initial["year"] in (2025, 2026)
    sites = dict(form.fields["site_code"].choices)  # type: ignore[attr-defined]
    assert all(name != code for code, name in sites.items())  # names, not codes
    label = form.fields["run"].label_from_instance(finished_run)  # type: ignore[attr-defined]
    assert "standard_suite" not in label and str(finished_run.pk) in label


@pytest.mark.django_db
def test_a_different_build_of_the_same_report_waits_for_the_one_under_way(
    finished_run: AnalysisRun, epidemiologist: User, sent: list[int]
) -> None:
    first, new = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )
    assert new
    again, new = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )
    assert again == first and not new  # the same request: the build under way
    under_way = "Another build of this report is under way; wait for it to finish, then ask again."
    with pytest.raises(ValidationProblem, match=rx(under_way)):
        services.release_build_request(
            user=epidemiologist,
            run=finished_run,
            site_code="RH-SEP",
            year=2025,
            late_data="coarser",
        )
    assert ReleaseBuild.objects.count() == 1


@pytest.mark.django_db
def test_a_correction_of_a_release_retracted_before_the_worker_took_it_is_not_built(
    published: Release, epidemiologist: User, sent: list[int]
) -> None:
    assert published.result_set is not None
    run = published.result_set.runs.first()
    assert run is not None
    build, _ = services.release_build_request(
        user=epidemiologist,
        run=run,
        site_code="RH-SEP",
        year=2025,
        erratum="Late records.",
        supersedes=published,
    )
    services.release_retract(
        user=epidemiologist, release=published, reason="A data entry error.", confirmed=True
    )
    assert services.release_build_execute(build.pk) is None
    build.refresh_from_db()
    retracted = t("The release to correct is no longer published (it was retracted).")
    assert build.status == BuildStatus.FAILED and build.problems == [retracted]
    assert not Release.objects.filter(supersedes=published).exists()


@pytest.mark.django_db
def test_an_approval_sent_twice_at_once_moves_the_release_once(
    draft: Release, epidemiologist: User
) -> None:
    stale = Release.objects.get(pk=draft.pk)  # the second request read it as a draft too
    services.release_approve(user=epidemiologist, release=draft)
    with pytest.raises(
        services.ReleaseStateError, match=rx("This release has already been approved.")
    ):
        services.release_approve(user=epidemiologist, release=stale)


def ask_with_form_key(user: User, run: AnalysisRun, capture: Any, key: str) -> Any:
    with capture(execute=True):
        return client_for(user).post(
            "/review/releases/",
            {"run": run.pk, "site_code": "RH-SEP", "year": 2025, "request_key": key},
        )


@pytest.mark.django_db
def test_the_same_form_sent_again_after_its_build_finished_builds_no_second_draft(
    finished_run: AnalysisRun,
    epidemiologist: User,
    build_worker: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    key = ReleaseForm().fields["request_key"].initial()
    first = ask_with_form_key(epidemiologist, finished_run, django_capture_on_commit_callbacks, key)
    assert ReleaseBuild.objects.get().status == BuildStatus.SUCCEEDED
    # the browser's "resend", or a retry after the answer was lost on a bad connection
    again = ask_with_form_key(epidemiologist, finished_run, django_capture_on_commit_callbacks, key)
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert ReleaseBuild.objects.count() == 1 and Release.objects.count() == 1
    # a new form (a new key) is a new request, and builds a new version
    other = ReleaseForm().fields["request_key"].initial()
    assert other != key
    ask_with_form_key(epidemiologist, finished_run, django_capture_on_commit_callbacks, other)
    assert ReleaseBuild.objects.count() == 2


@pytest.mark.django_db
def test_the_build_form_carries_a_hidden_one_time_key_and_no_label_for_it(
    epidemiologist: User,
) -> None:
    pages = [client_for(epidemiologist).get("/review/").content.decode() for _ in range(2)]
    keys = [page.split('name="request_key" value="')[1].split('"')[0] for page in pages]
    assert len(keys[0]) == 32 and keys[0] != keys[1]
    assert 'type="hidden" name="request_key"' in pages[0]
    assert 'for="id_request_key"' not in pages[0]


@pytest.mark.django_db
def test_a_colleague_cannot_take_over_another_epidemiologists_form_key(
    finished_run: AnalysisRun,
    epidemiologist: User,
    sent: list[int],
) -> None:
    colleague = User.objects.create_user("colleague-epi")
    colleague.groups.add(*epidemiologist.groups.all())
    _build, new = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025, request_key="k" * 32
    )
    assert new
    with pytest.raises(ValidationProblem, match=rx("This form was already used; reload the page.")):
        services.release_build_request(
            user=colleague, run=finished_run, site_code="RH-SEP", year=2025, request_key="k" * 32
        )
    assert ReleaseBuild.objects.count() == 1


@pytest.mark.django_db
def test_a_build_speaks_its_requester_s_saved_language_and_drafts_the_same_report(
    finished_run: AnalysisRun, epidemiologist: User
) -> None:
    from django.utils import translation

    from healthwatch.i18n import save_language
    from healthwatch.roles import Role
    from tests.conftest import make_user

    theirs = "fr" if translation.get_language() != "fr" else "en"
    colleague = make_user("epi_colleague", Role.EPIDEMIOLOGIST)
    save_language(colleague, theirs)
    refused, _ = services.release_build_request(
        user=colleague, run=finished_run, site_code="RH-SEP", year=1999
    )
    services.release_build_execute(refused.pk)
    refused.refresh_from_db()
    with translation.override(theirs):
        said = t(
            "No resident was visited in %(year)s in the areas of %(site)s.",
            year=1999,
            site="RH-SEP",
        )
    assert refused.status == BuildStatus.FAILED and refused.problems == [said]

    mine, _ = services.release_build_request(
        user=epidemiologist, run=finished_run, site_code="RH-SEP", year=2025
    )
    draft = services.release_build_execute(mine.pk)
    theirs_build, _ = services.release_build_request(
        user=colleague, run=finished_run, site_code="RH-SEP", year=2025
    )
    assert theirs_build.pk != mine.pk  # the first one has finished: a new build
    their_draft = services.release_build_execute(theirs_build.pk)
    theirs_build.refresh_from_db()
    with translation.override(theirs):
        assert theirs_build.stage == t("Built")
    assert draft is not None and their_draft is not None
    assert their_draft.content == draft.content  # the draft does not depend on the language
