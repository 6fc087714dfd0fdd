"""Incomplete periods in the suite: a few records in a new period move neither the trends nor
the alerts (issue #17); the new year's rates are flagged, and withheld on too few resident-years."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.stats import periods
from tests.analytics.conftest import NEW_YEAR_VISITS, CommunityResults


@pytest.mark.django_db
def test_two_visits_in_a_new_year_leave_every_trend_estimate_unchanged(
    community_results: CommunityResults, new_year_results: CommunityResults
) -> None:
    before = community_results.outputs["trends"].rows.reset_index(drop=True)
    after = new_year_results.outputs["trends"].rows.reset_index(drop=True)
    assert new_year_results.fingerprint != community_results.fingerprint  # the data did change
    assert len(before) > 0 and "acute_respiratory" in set(after["outcome"])
    pd.testing.assert_frame_equal(after, before)


@pytest.mark.django_db
def test_two_visits_in_a_new_year_leave_the_alerts_and_the_weekly_series_unchanged(
    community_results: CommunityResults, new_year_results: CommunityResults
) -> None:
    before = community_results.outputs["aberration"]
    after = new_year_results.outputs["aberration"]
    assert before.alerts, "the planted outbreak should raise alerts"
    assert set(after.alerts) == set(before.alerts)
    pd.testing.assert_frame_equal(
        after.rows.reset_index(drop=True), before.rows.reset_index(drop=True)
    )
    # the weekly series end at the latest complete week: not the week straddling 31 Dec
    assert after.rows["period"].max() < "2025-12-29"


@pytest.mark.django_db
def test_the_new_years_rates_are_flagged_incomplete_and_not_shown_as_rates(
    community_results: CommunityResults, new_year_results: CommunityResults
) -> None:
    rows = new_year_results.outputs["rates"].rows
    new_year = rows[rows["period"] == NEW_YEAR_VISITS[0][:4]]
    assert len(new_year) > 0
    assert all(periods.PARTIAL_PERIOD in f.split(";") for f in new_year["flags"])
    assert (new_year["denominator"] < periods.MIN_PERSON_YEARS).all()
    assert new_year["estimate"].isna().all() and new_year["ci_upper"].isna().all()
    assert all(periods.LOW_PERSON_TIME in f.split(";") for f in new_year["flags"])
    # complete years are neither flagged nor withheld, and their rows did not move
    old = rows[rows["period"] != NEW_YEAR_VISITS[0][:4]].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        old, community_results.outputs["rates"].rows.reset_index(drop=True)
    )


def test_a_run_may_name_its_data_end_date_and_a_bad_one_is_refused() -> None:
    import datetime as dt

    from analytics import suite

    assert suite.clean_parameters({})["data_end"] is None
    given = suite.clean_parameters({"data_end": dt.date(2025, 12, 31)})
    assert given["data_end"] == "2025-12-31"  # stored as text: run parameters are JSON
    assert suite.clean_parameters({"data_end": ""})["data_end"] is None
    with pytest.raises(suite.ParameterError, match="data_end"):
        suite.clean_parameters({"data_end": "31/12/2025"})
