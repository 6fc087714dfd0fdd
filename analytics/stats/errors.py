"""Exceptions raised by :mod:`analytics.stats` for unusable input.

Every error is a :class:`StatsInputError`, itself a :class:`ValueError`, so callers that only
want "bad input" can catch one class while tests and the UI can tell the causes apart.
Messages name the offending argument and, for short histories, the minimum required length.
"""

from __future__ import annotations


class StatsInputError(ValueError):
    """Base class: the input cannot be analysed as given."""


class EmptyInputError(StatsInputError):
    """An array, table or series had no elements."""


class NegativeCountError(StatsInputError):
    """A count, person-time or population was negative."""


class MissingValueError(StatsInputError):
    """A required value was missing (NaN/None)."""


class AllZeroBaselineError(StatsInputError):
    """The baseline (reference) data are all zero, so no expectation can be formed."""


class NoOverdispersionError(StatsInputError):
    """The negative binomial likelihood is highest at θ = ∞, i.e. at the Poisson model itself."""


class MismatchedStrataError(StatsInputError):
    """Parallel inputs (e.g. counts and populations by age band) differ in length or labels."""


class ShortHistoryError(StatsInputError):
    """The time series is shorter than the method needs.

    Attributes:
        minimum: the minimum number of time points required.
        got: the number supplied.
    """

    def __init__(self, method: str, minimum: int, got: int) -> None:
        self.minimum = minimum
        self.got = got
        super().__init__(f"{method} needs a history of at least {minimum} time points; got {got}")
