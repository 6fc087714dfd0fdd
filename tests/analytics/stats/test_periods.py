"""Complete and incomplete calendar periods at a data end date."""

from __future__ import annotations

import datetime as dt

from analytics.stats import periods


def test_a_year_is_complete_only_once_its_last_day_is_covered() -> None:
    assert periods.year_complete(2025, dt.date(2025, 12, 31))
    assert not periods.year_complete(2025, dt.date(2025, 12, 30))
    assert not periods.year_complete(2026, dt.date(2026, 1, 2))
    assert not periods.year_complete(2025, None)
    assert periods.last_complete_year(dt.date(2026, 1, 2)) == 2025
    assert periods.last_complete_year(dt.date(2025, 12, 31)) == 2025


def test_a_month_is_complete_from_its_last_day_february_of_a_leap_year_included() -> None:
    assert periods.month_complete(2024, 2, dt.date(2024, 2, 29))
    assert not periods.month_complete(2024, 2, dt.date(2024, 2, 28))
    assert periods.month_complete(2025, 12, dt.date(2026, 1, 1))
    assert not periods.month_complete(2026, 1, dt.date(2026, 1, 30))


def test_the_latest_complete_week_ends_on_the_last_sunday_covered() -> None:
    wednesday = dt.date(2025, 12, 31)
    monday = periods.last_complete_week(wednesday)
    assert monday == dt.date(2025, 12, 22) and monday.weekday() == 0
    assert periods.week_complete(monday, wednesday)
    assert not periods.week_complete(monday + dt.timedelta(days=7), wednesday)
    sunday = dt.date(2026, 1, 4)
    assert periods.last_complete_week(sunday) == dt.date(2025, 12, 29)
