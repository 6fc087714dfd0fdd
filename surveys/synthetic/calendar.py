"""Study period arithmetic: days are integers counted from 1 January of the first study year."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Period:
    start_year: int
    end_year: int
    start: dt.date = field(init=False)
    end: dt.date = field(init=False)
    n_days: int = field(init=False)
    #: day index of 1 January of each study year, plus the day after the period as sentinel
    year_starts: IntArray = field(init=False, repr=False, compare=False)
    #: ISO date string of every day of the period (index = day)
    date_strings: npt.NDArray[np.str_] = field(init=False, repr=False, compare=False)
    #: day index of the Monday starting each week (the first may fall before the period)
    week_starts: IntArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.end_year < self.start_year:
            raise ValueError("end_year must not precede start_year")
        start = dt.date(self.start_year, 1, 1)
        end = dt.date(self.end_year, 12, 31)
        n_days = (end - start).days + 1
        year_starts = np.array(
            [(dt.date(y, 1, 1) - start).days for y in range(self.start_year, self.end_year + 2)],
            dtype=np.int64,
        )
        days = np.datetime64(start.isoformat(), "D") + np.arange(n_days)
        first_monday = -start.weekday()
        week_starts = np.arange(first_monday, n_days, 7, dtype=np.int64)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "n_days", n_days)
        object.__setattr__(self, "year_starts", year_starts)
        object.__setattr__(self, "date_strings", np.datetime_as_string(days, unit="D"))
        object.__setattr__(self, "week_starts", week_starts)

    @property
    def years(self) -> int:
        return self.end_year - self.start_year + 1

    def year_of(self, day: npt.ArrayLike) -> IntArray:
        """Calendar year of day indices."""
        idx = np.searchsorted(self.year_starts, np.asarray(day), side="right") - 1
        return np.asarray(idx + self.start_year, dtype=np.int64)

    def day_of(self, date: dt.date) -> int:
        return (date - self.start).days

    def date_of(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=int(day))

    def day_of_year(self, day: npt.ArrayLike) -> IntArray:
        d = np.asarray(day, dtype=np.int64)
        return np.asarray(d - self.year_starts[self.year_of(d) - self.start_year], dtype=np.int64)
