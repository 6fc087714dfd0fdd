"""Complete and incomplete calendar periods (pure: no Django).

A run's *data end date* is the latest visit date among the records it analyses (docs/methods.md,
"Complete and incomplete periods"). A period — an ISO year, a calendar month or a Monday-start
week — is *complete* when it ends on or before the data end date; the period that straddles it
and every period after it are *incomplete*. Trend fits use complete periods only; incomplete
periods are flagged where they are shown (flag ``partial_period``).
"""

from __future__ import annotations

import datetime as dt

PARTIAL_PERIOD = "partial_period"
"""Flag of a result row whose period is not complete at the run's data end date."""

LOW_PERSON_TIME = "low_person_time"
"""Flag of a rate row withheld because its person-time is under MIN_PERSON_YEARS."""

MIN_PERSON_YEARS = 20.0
"""Rates on fewer resident-years than this are not shown as rates (the estimate and its
interval are left empty; events and resident-years stay). The same floor as the published
tables' "no rate on a denominator under 20" (docs/privacy.md)."""


def year_end(year: int) -> dt.date:
    return dt.date(year, 12, 31)


def month_end(year: int, month: int) -> dt.date:
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def week_end(monday: dt.date) -> dt.date:
    return monday + dt.timedelta(days=6)


def year_complete(year: int, data_end: dt.date | None) -> bool:
    """Whether the calendar year lies wholly on or before the data end date."""
    return data_end is not None and year_end(year) <= data_end


def month_complete(year: int, month: int, data_end: dt.date | None) -> bool:
    return data_end is not None and month_end(year, month) <= data_end


def week_complete(monday: dt.date, data_end: dt.date | None) -> bool:
    """Whether the Monday-start week ending on the Sunday after `monday` is complete."""
    return data_end is not None and week_end(monday) <= data_end


def last_complete_week(data_end: dt.date) -> dt.date:
    """The Monday of the latest complete Monday-start week at the data end date."""
    sunday = data_end - dt.timedelta(days=(data_end.weekday() + 1) % 7)
    return sunday - dt.timedelta(days=6)


def last_complete_year(data_end: dt.date) -> int:
    """The latest calendar year wholly on or before the data end date."""
    return data_end.year if data_end == year_end(data_end.year) else data_end.year - 1
