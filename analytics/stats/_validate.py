"""Input validation shared by the stats modules (private).

Converting early to float arrays and failing loudly keeps the numerical code free of
defensive branches: every public function validates once at its boundary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.stats.errors import (
    EmptyInputError,
    MismatchedStrataError,
    MissingValueError,
    NegativeCountError,
    StatsInputError,
)

FloatArray = npt.NDArray[np.float64]


def as_float_array(values: Any, name: str, *, allow_empty: bool = False) -> FloatArray:
    """Return ``values`` as a 1-D float array, rejecting missing values."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # None inside a list, strings, ...
        raise MissingValueError(f"{name} contains missing or non-numeric values") from exc
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise StatsInputError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise EmptyInputError(f"{name} is empty")
    if np.isnan(arr).any():
        raise MissingValueError(
            f"{name} contains missing values (NaN) at positions "
            f"{np.flatnonzero(np.isnan(arr))[:10].tolist()}"
        )
    if np.isinf(arr).any():
        raise StatsInputError(f"{name} contains infinite values")
    return arr


def as_counts(values: Any, name: str, *, integer: bool = True) -> FloatArray:
    """Non-negative (by default integer-valued) counts as a float array."""
    arr = as_float_array(values, name)
    if (arr < 0).any():
        raise NegativeCountError(
            f"{name} contains negative values at positions {np.flatnonzero(arr < 0)[:10].tolist()}"
        )
    if integer and not np.all(arr == np.round(arr)):
        raise StatsInputError(
            f"{name} must be whole numbers (counts); not at positions "
            f"{np.flatnonzero(arr != np.round(arr))[:10].tolist()}"
        )
    return arr


def as_positive(values: Any, name: str) -> FloatArray:
    """Strictly positive values (person-time, populations, expected counts)."""
    arr = as_float_array(values, name)
    if (arr < 0).any():
        raise NegativeCountError(f"{name} contains negative values")
    if (arr == 0).any():
        raise StatsInputError(
            f"{name} must be strictly positive (zero at positions "
            f"{np.flatnonzero(arr == 0)[:10].tolist()})"
        )
    return arr


def same_length(
    name_a: str, a: Sequence[Any] | FloatArray, name_b: str, b: Sequence[Any] | FloatArray
) -> None:
    """Raise :class:`MismatchedStrataError` unless ``a`` and ``b`` have equal length."""
    if len(a) != len(b):
        raise MismatchedStrataError(f"{name_a} has {len(a)} strata but {name_b} has {len(b)}")


def check_conf(conf: float) -> float:
    """Validate a confidence level in (0, 1)."""
    conf = as_number(conf, "conf")
    if not 0.0 < conf < 1.0:
        raise StatsInputError(f"conf must be in (0, 1), got {conf}")
    return float(conf)


def as_number(value: Any, name: str) -> float:
    """One finite real number; strings, None, booleans and arrays raise the library's error.

    ``float("2")`` would quietly accept a string and ``True`` is an int to Python: a count or a
    parameter of the wrong type is a caller's mistake worth naming, not something to coerce.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise StatsInputError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if math.isnan(number):
        raise MissingValueError(f"{name} is missing (NaN)")
    if math.isinf(number):
        raise StatsInputError(f"{name} must be finite, got {number}")
    return number


def as_count(value: Any, name: str) -> float:
    """One non-negative whole number (a count of events or people)."""
    number = as_number(value, name)
    if number < 0:
        raise NegativeCountError(f"{name} must be non-negative, got {number:g}")
    if number != round(number):
        raise StatsInputError(f"{name} must be a whole number (a count), got {number:g}")
    return number


def as_window(value: Any, name: str, *, minimum: int = 1) -> int:
    """A window length or position in time points: an integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise StatsInputError(f"{name} must be a whole number of time points, got {value!r}")
    if value < minimum:
        raise StatsInputError(f"{name} must be at least {minimum}, got {value}")
    return int(value)
