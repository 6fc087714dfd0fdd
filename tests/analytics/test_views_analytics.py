"""The epidemiologist workspace: dashboard, runs, results, charts, alerts, and who may see them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.formats import get_format, number_format
from django.utils.html import escape

from analytics import services
from analytics.models import Alert, AnalysisRun, RunStatus
from surveys.models import DataQualityFlag
from tests.conftest import client_for
from tests.i18n import bt, h, label_of, t, tn

ACUTE_RESPIRATORY = "Acute respiratory infection (new J06 or J20 diagnosis)"
"""How the workspace names the acute-respiratory outcome (analytics.outcome_charts.Labels)."""


def chart_title(msgid: str) -> str:
    """A cough chart's SVG title in the active language (the outcome named by its label)."""
    return f"<title>{escape(t(msgid, outcome=label_of('symptom.cough')))}</title>"


@pytest.fixture
def finished_run(community: Path) -> AnalysisRun:
    run = services.analysis_run_request(user=None, enqueue=False)
    return services.analysis_run_execute_inline(run_id=run.pk)


@pytest.mark.django_db
def test_the_dashboard_shows_runs_open_alerts_and_the_quality_queue(
    finished_run: AnalysisRun, epidemiologist: User
) -> None:
    Alert.objects.create(
        outcome="acute_respiratory",
        area_code="A05",
        week="2025-10-13",
        method="farrington",
        observed=12,
        expected=3,
        upper_bound=7,
        first_run=finished_run,
        last_run=finished_run,
    )
    page = client_for(epidemiologist).get("/analysis/").content.decode()
    assert f"/analysis/runs/{finished_run.pk}/" in page
    assert 'data-table="alerts"' in page and "A05" in page
    waiting = DataQualityFlag.objects.filter(status="open").count()  # all are an epi's to see
    assert (
        escape(
            tn(
                "%(counter)s record waiting for review.",
                "%(counter)s records waiting for review.",
                waiting,
                counter=waiting,
            )
        )
        in page
    )
    assert "/analysis/outcomes/symptom.cough/" in page


@pytest.mark.django_db
def test_starting_a_run_from_the_form_queues_it_and_shows_its_page(
    epidemiologist: User, django_capture_on_commit_callbacks: object
) -> None:
    client = client_for(epidemiologist)
    with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
        response = client.post(
            "/analysis/runs/",
            {"near_km": "2", "far_km": "8", "standard": "us_2000", "pollutant": "pm2_5"},
        )
    run = AnalysisRun.objects.get()
    assert response.headers["Location"] == f"/analysis/runs/{run.pk}/"
    assert run.parameters["standard"] == "us_2000" and run.created_by == epidemiologist
    assert len(callbacks) == 1  # the start task is enqueued only once the row is committed
    page = client.get(f"/analysis/runs/{run.pk}/").content.decode()
    assert "<progress" in page and h("Queued") in page
    status = client.get(f"/analysis/runs/{run.pk}/status.json").json()
    assert status == {
        "status": "queued",
        "progress": 0,
        "parts_done": 0,
        "parts_total": 0,
        "finished": False,
        "error": "",
    }


@pytest.mark.django_db
def test_bad_run_parameters_are_shown_next_to_the_field(epidemiologist: User) -> None:
    response = client_for(epidemiologist).post(
        "/analysis/runs/",
        {"near_km": "9", "far_km": "8", "standard": "us_2000", "pollutant": "pm10"},
    )
    assert response.status_code == 400
    assert h("The far band must start beyond the near band.") in response.content.decode()
    assert not AnalysisRun.objects.exists()


@pytest.mark.django_db
def test_a_finished_run_links_every_result_table_as_tidy_csv(
    finished_run: AnalysisRun, epidemiologist: User
) -> None:
    client = client_for(epidemiologist)
    page = client.get(f"/analysis/runs/{finished_run.pk}/").content.decode()
    assert finished_run.status == RunStatus.SUCCEEDED
    url = f"/analysis/results/{finished_run.result_set_id}/rates.csv"
    assert url in page
    response = client.get(url)
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert table[0] == [
        "analysis",
        "outcome",
        "area_code",
        "period",
        "stratum",
        "measure",
        "estimate",
        "ci_lower",
        "ci_upper",
        "numerator",
        "denominator",
        "p_value",
        "flags",
    ]
    assert len(table) > 10 and all(r[0] == "rates" for r in table[1:])


@pytest.mark.django_db
def test_an_outcome_page_serves_the_charts_stored_with_the_run_and_draws_none(
    finished_run: AnalysisRun,
    epidemiologist: User,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
) -> None:
    from analytics import charts
    from analytics.models import ResultChart
    from surveys.models import Area

    stored = ResultChart.objects.filter(result_set=finished_run.result_set)
    assert stored.filter(outcome="symptom.cough", key="trend").exists()
    assert stored.filter(outcome="acute_respiratory", key="weekly:A05").exists()

    def no_drawing(*args: object, **kwargs: object) -> str:
        raise AssertionError("the page drew a chart instead of serving the stored one")

    for name in ("trend_chart", "weekly_chart", "forest_chart", "group_chart", "scan_map"):
        monkeypatch.setattr(charts, name, no_drawing)
    client = client_for(epidemiologist)
    client.get("/analysis/")  # session and login settled before counting
    with django_assert_max_num_queries(12):
        page = client.get("/analysis/outcomes/symptom.cough/").content.decode()
    assert page.count('data-stored="true"') >= 3  # trend, exposure–response, the scan maps
    # chart text names the outcome by its label, never by its code
    assert chart_title("%(outcome)s: rate ratios against the far band") in page
    assert chart_title("%(outcome)s: age-standardized rate, all areas") in page
    assert "<title>symptom.cough" not in page
    # tables show measures by their labels, the codes in the tooltips
    # the rate's base in the locale's format ("1,000" in English, "1 000" in French)
    per = number_format(1000, 0, force_grouping=True)
    rate = h("age-standardized rate per %(per)s resident-years", per=per)
    assert f'<td title="age_standardized_rate_per_1000">{rate}</td>' in page
    weekly = client.get("/analysis/outcomes/acute_respiratory/").content.decode()
    weekly_title = escape(
        t(
            "%(outcome)s: weekly cases in %(area)s, weeks to %(last)s",
            outcome=t(ACUTE_RESPIRATORY),
            area=Area.objects.get(code="A05").name,
            last="LAST",
        )
    )
    assert re.search(re.escape(weekly_title).replace("LAST", r"[^<]+"), weekly)
    lead = client.get("/analysis/outcomes/lab.blood_lead/").content.decode()
    lead_title = t(
        "%(outcome)s: geometric mean by distance band", outcome=label_of("lab.blood_lead")
    )
    assert escape(lead_title) in lead


# Two shipped languages are enough to see charts drawn per language (each takes ~0.1 s a chart).
TWO_LANGUAGES = [("en", "English"), ("fr", "Français")]


def two_languages_with_the_sites(settings: Any) -> None:
    site = settings.LANGUAGE_CODE
    settings.LANGUAGES = [*TWO_LANGUAGES, *([] if site in ("en", "fr") else [(site, site)])]


def other_language() -> str:
    from django.conf import settings

    return "fr" if settings.LANGUAGE_CODE != "fr" else "en"


@pytest.mark.django_db
def test_computing_a_part_again_replaces_its_stored_charts_without_duplicates(
    finished_run: AnalysisRun, settings: Any
) -> None:
    from analytics.models import ResultChart

    two_languages_with_the_sites(settings)
    result_set = finished_run.result_set
    assert result_set is not None
    site = ResultChart.objects.filter(result_set=result_set, language=settings.LANGUAGE_CODE)
    before = sorted(site.values_list("outcome", "key", "svg"))
    assert not ResultChart.objects.exclude(language=settings.LANGUAGE_CODE).exists()
    services.result_set_charts_render(result_set=result_set)
    after = sorted(site.values_list("outcome", "key", "svg"))
    assert after == before and len(after) > 5  # the same charts, drawn the same, once each
    other = ResultChart.objects.filter(result_set=result_set, language=other_language())
    assert sorted(other.values_list("outcome", "key")) == [(o, k) for o, k, _svg in before]


@pytest.mark.django_db
def test_a_reader_in_another_language_than_the_sites_gets_the_charts_drawn_in_theirs(
    finished_run: AnalysisRun, epidemiologist: User, settings: Any
) -> None:
    from django.utils import translation

    from analytics.models import ResultChart

    settings.LANGUAGES = TWO_LANGUAGES
    theirs = other_language()
    assert finished_run.result_set_id is not None
    client = client_for(epidemiologist)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = theirs
    page = client.get("/analysis/outcomes/symptom.cough/", headers={"accept-language": theirs})
    with translation.override(theirs):
        title = chart_title("%(outcome)s: age-standardized rate, all areas")
    assert title not in page.content.decode()  # until a worker draws them: the site's
    note = f'data-charts-language="{settings.LANGUAGE_CODE}"'
    assert note in page.content.decode()  # and the page says so
    drawn = services.result_set_charts_translate(result_set_id=finished_run.result_set_id)
    # Every shipped language but the site's (English too, on a site in a third language).
    assert drawn == ResultChart.objects.exclude(language=settings.LANGUAGE_CODE).count()
    assert ResultChart.objects.filter(language=theirs).count() > 5
    page = client.get("/analysis/outcomes/symptom.cough/", headers={"accept-language": theirs})
    assert title in page.content.decode()
    assert "data-charts-language" not in page.content.decode()


@pytest.fixture
def charts_sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The result sets whose charts in other languages were sent to the queue."""
    from analytics import tasks

    sent: list[int] = []
    monkeypatch.setattr(
        tasks.draw_charts_in_languages, "apply_async", lambda args, **kw: sent.append(args[0])
    )
    return sent


def redraw_wait(settings: Any) -> dt.timedelta:
    """How long a drawing may take before the sweep counts it lost: queued, then run."""
    return dt.timedelta(
        seconds=max(settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS, settings.CELERY_TASK_TIME_LIMIT)
    )


@pytest.mark.django_db
def test_the_sweep_sends_the_charts_in_other_languages_again_a_bounded_number_of_times(
    finished_run: AnalysisRun,
    epidemiologist: User,
    settings: Any,
    charts_sent: list[int],
) -> None:
    two_languages_with_the_sites(settings)
    result_set = finished_run.result_set
    assert result_set is not None and result_set.completed_at is not None
    wait = redraw_wait(settings)
    # The drawing queued at completion may still be on its way: not yet.
    moment = result_set.completed_at
    assert services.analysis_runs_sweep(now=moment + wait / 2)["charts_requeued"] == 0
    for _attempt in range(settings.HEALTHWATCH_RUN_MAX_ATTEMPTS):
        moment += wait
        assert services.analysis_runs_sweep(now=moment)["charts_requeued"] == 1
        # Each re-send has its own time to wait in the queue and run: none bunched after it.
        assert services.analysis_runs_sweep(now=moment + wait / 2)["charts_requeued"] == 0
    # A drawing that fails for good is not sent for ever, and the page stops promising it.
    assert services.analysis_runs_sweep(now=moment + wait * 100)["charts_requeued"] == 0
    assert charts_sent == [result_set.pk] * settings.HEALTHWATCH_RUN_MAX_ATTEMPTS
    client = client_for(epidemiologist)
    theirs = other_language()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = theirs
    page = client.get("/analysis/outcomes/symptom.cough/", headers={"accept-language": theirs})
    with translation.override(theirs):
        language = str(translation.get_language_info(settings.LANGUAGE_CODE)["name_translated"])
        never = bt(
            "The charts on this page are in %(language)s: they are not drawn in your language.",
            language=language,
        )
    assert never in page.content.decode()


@pytest.mark.django_db
def test_a_queue_that_refuses_the_re_send_costs_no_attempt(
    finished_run: AnalysisRun, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError as BrokerUnavailable

    from analytics import tasks
    from analytics.models import ResultSet

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.draw_charts_in_languages, "apply_async", refuse)
    two_languages_with_the_sites(settings)
    result_set = finished_run.result_set
    assert result_set is not None and result_set.completed_at is not None
    later = result_set.completed_at + redraw_wait(settings)
    assert services.analysis_runs_sweep(now=later)["charts_requeued"] == 0
    stored = ResultSet.objects.get(pk=result_set.pk)
    assert (stored.charts_translate_attempts, stored.charts_translate_sent_at) == (0, None)


@pytest.mark.django_db
def test_the_sweep_leaves_charts_drawn_in_every_language_alone(
    finished_run: AnalysisRun, settings: Any, charts_sent: list[int]
) -> None:
    two_languages_with_the_sites(settings)
    result_set = finished_run.result_set
    assert result_set is not None and result_set.completed_at is not None
    services.result_set_charts_translate(result_set_id=result_set.pk)
    later = result_set.completed_at + dt.timedelta(hours=1)
    assert services.analysis_runs_sweep(now=later)["charts_requeued"] == 0
    assert charts_sent == []


@pytest.mark.django_db
def test_an_epidemiologist_acknowledges_an_alert_with_a_note_kept_in_its_history(
    epidemiologist: User,
) -> None:
    alert = Alert.objects.create(
        outcome="acute_respiratory",
        area_code="A05",
        week="2025-10-13",
        method="farrington",
        observed=12,
        expected=3,
        upper_bound=7,
    )
    client = client_for(epidemiologist)
    empty = client.post(f"/analysis/alerts/{alert.pk}/", {"annotation": "", "acknowledge": "1"})
    assert empty.status_code == 200 and h("This field is required.").encode() in empty.content
    client.post(
        f"/analysis/alerts/{alert.pk}/", {"annotation": "school cluster", "acknowledge": "1"}
    )
    alert.refresh_from_db()
    assert (alert.status, alert.annotation, alert.acknowledged_by) == (
        "acknowledged",
        "school cluster",
        epidemiologist,
    )
    assert alert.history.first().history_change_reason == "acknowledged"  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_only_epidemiologists_and_admins_reach_the_analysis_pages(
    worker_a: User, community_reviewer: User, admin_user: User
) -> None:
    for user, allowed in ((worker_a, False), (community_reviewer, False), (admin_user, True)):
        status = client_for(user).get("/analysis/").status_code
        assert (status == 200) is allowed, user.username


@pytest.mark.django_db
def test_an_undetermined_week_shows_as_an_alert_with_a_label_never_as_no_alarm(
    epidemiologist: User,
) -> None:
    from analytics import suite

    alert = Alert.objects.create(
        outcome="acute_respiratory",
        area_code="A02",
        week="2025-03-03",
        method=suite.alert_method("ears_c3", undetermined=True),
        observed=9,
        expected=2,
        upper_bound=0,
    )
    client = client_for(epidemiologist)
    dashboard = client.get("/analysis/").content.decode()
    assert (
        h("%(method)s — undetermined (no variation in the baseline)", method=t("EARS C3"))
        in dashboard
    )
    assert 'title="ears_c3:undetermined"' in dashboard  # the code only in the tooltip
    assert h("not determined") in dashboard
    page = client.get(f"/analysis/alerts/{alert.pk}/").content.decode()
    assert "data-alert-undetermined" in page
    assert "upper bound 0.0" not in page


@pytest.mark.django_db
def test_an_outcome_page_shows_the_scan_as_a_map_and_a_map_ready_table(
    finished_run: AnalysisRun, epidemiologist: User
) -> None:
    page = client_for(epidemiologist).get("/analysis/outcomes/symptom.cough/").content.decode()
    assert 'data-scan="spatial_scan_site"' in page and 'data-scan="spatial_scan"' in page
    assert chart_title("%(outcome)s: raised risk around the production sites") in page
    assert h("Raised risk around the production sites (site-centred scan)") in page
    assert 'data-table="scan-locations"' in page and 'data-table="scan-clusters"' in page
    # labels on screen, codes in tooltips: the centre is the site's name
    assert 'title="RH-' in page and "Red Hollow" in page
    # a grid cell by its position, in the locale's decimal format
    number = rf"-?\d+{re.escape(get_format('DECIMAL_SEPARATOR'))}\d{{4}}"
    cell = h("grid cell at %(lat)s, %(lon)s", lat="LAT", lon="LON")
    assert re.search(re.escape(cell).replace("LAT", number).replace("LON", number), page)


@pytest.mark.django_db
def test_staff_pages_name_outcomes_areas_parts_and_parameters_by_their_labels(
    finished_run: AnalysisRun, epidemiologist: User
) -> None:
    from surveys.models import Area

    area = Area.objects.order_by("code").first()
    assert area is not None
    alert = Alert.objects.create(
        outcome="dx.J45",
        area_code=area.code,
        week="2025-10-13",
        method="farrington_flexible",
        observed=12,
        expected=3,
        upper_bound=7,
        first_run=finished_run,
        last_run=finished_run,
    )
    client = client_for(epidemiologist)
    dashboard = client.get("/analysis/").content.decode()
    alert_page = client.get(f"/analysis/alerts/{alert.pk}/").content.decode()
    for page in (dashboard, alert_page):
        assert area.name in page and escape(label_of("dx.J45")) in page
        assert ">dx.J45<" not in page and f">{area.code}<" not in page  # codes only as tooltips
        assert h("Farrington flexible (Noufaily 2013)") in page
        assert ">farrington_flexible<" not in page
    assert h(ACUTE_RESPIRATORY) in dashboard  # the outcome list, by label
    run_page = client.get(f"/analysis/runs/{finished_run.pk}/").content.decode()
    assert "{&#x27;near_km&#x27;" not in run_page and "{'near_km'" not in run_page
    assert f"{h('Near band: under (km)')}: 2<" in run_page and 'title="near_km"' in run_page
    assert h("Outbreak detection") in run_page and ">aberration<" not in run_page


@pytest.mark.django_db
def test_a_chart_that_cannot_be_drawn_never_costs_a_part_its_rows_or_alerts(
    community: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics import outcome_charts
    from analytics.models import ResultChart, ResultRow

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a drawing bug")

    monkeypatch.setattr(outcome_charts, "render_part", broken)
    run = services.analysis_run_request(user=None, enqueue=False)
    run = services.analysis_run_execute_inline(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED
    assert ResultRow.objects.filter(result_set=run.result_set, part="aberration").exists()
    assert not ResultChart.objects.filter(result_set=run.result_set).exists()
