"""The staff outcome page in headless Chromium: stored charts, and a new year's few records
marked as an incomplete period that neither the trend nor the charts are pulled by (#17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.analytics.conftest import NEW_YEAR_VISITS, write_new_year_visits
from tests.browser.conftest import log_in
from tests.conftest import load_community

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run_with_new_year_visits(
    tiny_community: Path, vocabulary_and_groups: None, tmp_path: Path
) -> Any:
    from django.core.management import call_command

    from analytics import services

    load_community(tiny_community)
    extra = write_new_year_visits(tiny_community, tmp_path / "observations.csv")
    call_command("import_csv", "observations", str(extra), verbosity=0)
    run = services.analysis_run_request(user=None, enqueue=False)
    run = services.analysis_run_execute_inline(run_id=run.pk)
    # what a worker does after the run: its charts in the other shipped languages
    assert run.result_set_id is not None
    services.result_set_charts_translate(result_set_id=run.result_set_id)
    return run


def test_the_outcome_page_shows_stored_charts_and_marks_the_incomplete_new_year(
    desktop_page: Any, live_server: Any, run_with_new_year_visits: Any, epidemiologist: User
) -> None:
    from analytics.models import ResultChart

    page = desktop_page
    log_in(page, live_server, "epi")
    page.goto(f"{live_server.url}/analysis/outcomes/dx.J45/")
    # the charts stored in the page's language (the browser's English, whatever the site's)
    language = page.locator("html").get_attribute("lang")
    assert language == "en"
    stored = ResultChart.objects.get(
        result_set=run_with_new_year_visits.result_set,
        outcome="dx.J45",
        key="trend",
        language=language,
    )

    assert page.locator("h1").inner_text() == "Asthma (new diagnosis)"  # a label, not dx.J45
    trend = page.locator('figure[data-chart="trend"][data-stored="true"] svg')
    assert trend.count() == 1 and trend.is_visible()
    drawn = trend.text_content() or ""  # SVG text: not an HTML element, so no inner_text
    assert trend.locator("title").text_content() == stored.title  # the stored chart, as drawn
    # the new year is marked in the chart and in the table, and its rate is not shown
    new_year = NEW_YEAR_VISITS[0][:4]
    assert f"{new_year}*" in drawn
    assert "incomplete period (not in the trend)" in drawn
    row = page.locator(f'table[data-table="rates"] tr[data-partial="true"]:has-text("{new_year}")')
    assert row.count() == 1
    assert "incomplete" in row.locator('[data-flag="partial_period"]').inner_text()
    assert "too few resident-years for a rate" in row.inner_text()
    assert row.locator("td").nth(4).inner_text() == "—"
    note = page.locator(".period-note")
    assert note.get_attribute("data-data-end") == NEW_YEAR_VISITS[-1]
    # the trend fit names complete years only
    assert page.locator(f'table[data-table="trend"]:has-text("{new_year}")').count() == 0
    assert page.locator('tr[data-partial="true"]').count() == 1
