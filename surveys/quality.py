"""Data-quality rules: plausible but unusual values are accepted and queued for review.

- a biomarker above 10× its reference level;
- a numeric value beyond 3.29 standard deviations (two-sided p < 0.001) from the mean of the
  same code and age band, once at least OUTLIER_MIN_N values exist for that code and band; for
  the log-normal biomarkers of LOG_SCALE_CODES (blood lead, urinary thorium, …) the rule is the
  same on the natural logarithm of the values (a distance from the geometric mean), because on
  the raw scale their long right tail puts hundreds of ordinary values beyond 3.29 SD;
- a second visit for the same resident on the same day.
Out-of-range values never get here: validation refuses them.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from django.db.models import (
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    QuerySet,
    Sum,
)
from django.db.models.functions import ExtractYear, Ln
from django.utils.translation import gettext, gettext_noop

from healthwatch.i18n import short_date, with_decimal_separator
from surveys.labels import translated_by_english_label
from surveys.models import (
    AGE_BANDS,
    CodeCategory,
    DataQualityFlag,
    Observation,
    QualityFlagKind,
    Visit,
    VocabularyCode,
)

OUTLIER_SD = 3.29
OUTLIER_MIN_N = 30
REFERENCE_MULTIPLE = 10.0
# The quality configuration per code: codes whose values are log-normal (biomarker
# concentrations) get the 3.29-SD rule on log values. Values ≤ 0 have no logarithm and are never
# outliers of such a code (validation keeps concentrations ≥ 0; below-LOD results have no value).
LOG_SCALE_CODES: frozenset[str] = frozenset(
    {
        "lab.blood_lead",
        "lab.urine_thorium",
        "lab.urine_uranium",
        "lab.urine_cadmium",
        "lab.urine_fluoride",
        "lab.blood_manganese",
    }
)

# A flag's detail is stored in English, worded by one of these messages (rows stored before
# issue #15 have the same words), and shown in the reader's language by detail_text.
DETAIL_ABOVE_REFERENCE = gettext_noop(
    "%(label)s = %(value)s %(unit)s, more than %(multiple)s× the reference level %(reference)s."
)
DETAIL_OUTLIER_LOG = gettext_noop(
    "%(label)s = %(value)s %(unit)s is %(distance)s SD of log values from the geometric mean "
    "%(mean)s of age band %(band)s (n=%(n)s)."
)
DETAIL_OUTLIER = gettext_noop(
    "%(label)s = %(value)s %(unit)s is %(distance)s SD from the mean %(mean)s of age band "
    "%(band)s (n=%(n)s)."
)
DETAIL_SAME_DAY = gettext_noop("Another visit of this resident is recorded on %(date)s.")


def _detail_pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", msgid)
    return re.compile(
        "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
    )


_DETAILS = [
    (msgid, _detail_pattern(msgid))
    for msgid in (DETAIL_ABOVE_REFERENCE, DETAIL_OUTLIER_LOG, DETAIL_OUTLIER, DETAIL_SAME_DAY)
]


def detail_text(detail: str) -> str:
    """A stored flag detail in the active language: its message translated, the code's label
    in that language; a detail in no known wording is shown as stored."""
    for msgid, pattern in _DETAILS:
        match = pattern.fullmatch(detail)
        if match is None:
            continue
        params = {
            name: _decimal(text)
            if name in _NUMBERS
            else short_date(text)
            if name == "date"
            else text
            for name, text in match.groupdict().items()
        }
        if "label" in params:  # one cached look-up per language, not a query per flag
            params["label"] = translated_by_english_label().get(params["label"], params["label"])
        return gettext(msgid) % params
    return detail


_NUMBERS = frozenset({"value", "multiple", "reference", "distance", "mean"})
_DECIMAL = re.compile(r"-?\d+\.\d+")


def _shown(name: str, text: str) -> str:
    """A detail's parameter in the reader's notation: numbers, the date; the rest as stored."""
    if name in _NUMBERS:
        return _decimal(text)
    return short_date(text) if name == "date" else text


def _decimal(text: str) -> str:
    """A stored decimal number ("3.5") with the active language's decimal separator."""
    if _DECIMAL.fullmatch(text) is None:
        return text
    return with_decimal_separator(text)


def log_scale_ids(codes: Iterable[VocabularyCode]) -> frozenset[int]:
    """The ids, among `codes`, of the codes whose outlier rule works on log values."""
    return frozenset(c.pk for c in codes if c.code in LOG_SCALE_CODES)


def on_rule_scale(code_ids: np.ndarray, values: np.ndarray, log_ids: Iterable[int]) -> np.ndarray:
    """The values on the scale of their code's outlier rule: ln(value) for log-scale codes (NaN
    where the value is ≤ 0), the value itself otherwise."""
    values = np.asarray(values, dtype=np.float64)
    logged = np.isin(np.asarray(code_ids, dtype=np.int64), np.fromiter(log_ids, dtype=np.int64))
    scaled = values.copy()
    positive = logged & (values > 0)
    scaled[logged] = np.nan
    scaled[positive] = np.log(values[positive])
    return scaled


def age_band(age: int) -> str:
    """The five-year band (0-4 … 80-84, 85+) of an age in whole years."""
    return AGE_BANDS[min(max(age, 0) // 5, len(AGE_BANDS) - 1)]


def band_moments(code_ids: Iterable[int]) -> dict[tuple[int, str], tuple[int, float, float]]:
    """(code, age band) → (n, sum, sum of squares) over stored numeric values on the scale of
    the code's rule (log values of positive values for LOG_SCALE_CODES), two queries."""
    code_ids = list(code_ids)
    log_ids = list(
        VocabularyCode.objects.filter(pk__in=code_ids, code__in=LOG_SCALE_CODES).values_list(
            "pk", flat=True
        )
    )
    age = ExpressionWrapper(
        ExtractYear("visit__visited_on") - F("visit__resident__birth_year"),
        output_field=IntegerField(),
    )
    linear = [pk for pk in code_ids if pk not in log_ids]

    def aggregated(rows: QuerySet[Observation], value: Any) -> QuerySet[Observation, Any]:
        return (
            rows.annotate(age=age, scaled=value)
            .values("code_id", "age")
            .annotate(
                n=Count("id"),
                s=Sum("scaled"),
                ss=Sum(ExpressionWrapper(F("scaled") * F("scaled"), output_field=FloatField())),
            )
        )

    stored = Observation.objects.filter(value__isnull=False)
    rows = list(aggregated(stored.filter(code_id__in=linear), F("value")))
    if log_ids:
        positive = stored.filter(code_id__in=log_ids, value__gt=0)
        rows += list(aggregated(positive, Ln(F("value"), output_field=FloatField())))
    moments: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for row in rows:
        entry = moments[(row["code_id"], age_band(row["age"]))]
        entry[0] += row["n"]
        entry[1] += row["s"]
        entry[2] += row["ss"]
    return {key: (int(n), s, ss) for key, (n, s, ss) in moments.items()}


def with_new_values(
    moments: Mapping[tuple[int, str], tuple[int, float, float]],
    code_ids: np.ndarray,
    values: np.ndarray,
    ages: np.ndarray,
    log_ids: Iterable[int] = (),
) -> dict[tuple[int, str], tuple[int, float, float]]:
    """band_moments plus the (code, age band) moments of new values not yet aggregated
    (`values` on the raw scale; those of the codes in `log_ids` enter as logarithms)."""
    merged = dict(moments)
    if len(values) == 0:
        return merged
    values = on_rule_scale(code_ids, values, log_ids)
    kept = ~np.isnan(values)
    code_ids, values, ages = np.asarray(code_ids)[kept], values[kept], np.asarray(ages)[kept]
    if len(values) == 0:
        return merged
    bands = np.minimum(np.maximum(np.asarray(ages, dtype=np.int64), 0) // 5, len(AGE_BANDS) - 1)
    group_keys = np.asarray(code_ids, dtype=np.int64) * len(AGE_BANDS) + bands
    groups, group_of = np.unique(group_keys, return_inverse=True)
    values = np.asarray(values, dtype=np.float64)
    n = np.bincount(group_of, minlength=len(groups))
    total = np.bincount(group_of, weights=values, minlength=len(groups))
    squares = np.bincount(group_of, weights=values * values, minlength=len(groups))
    for key, count, s, ss in zip(
        groups.tolist(), n.tolist(), total.tolist(), squares.tolist(), strict=True
    ):
        band_key = (key // len(AGE_BANDS), AGE_BANDS[key % len(AGE_BANDS)])
        n0, s0, ss0 = merged.get(band_key, (0, 0.0, 0.0))
        merged[band_key] = (n0 + count, s0 + s, ss0 + ss)
    return merged


class Unusual(NamedTuple):
    """One unusual value: its position in the arrays given to unusual_values, and the flag."""

    position: int
    kind: str
    detail: str


def unusual_values(
    codes: Mapping[int, VocabularyCode],
    code_ids: np.ndarray,
    values: np.ndarray,
    ages: np.ndarray,
    moments: Mapping[tuple[int, str], tuple[int, float, float]],
) -> list[Unusual]:
    """The review flags the rules give to numeric values, in the order of the arrays.

    `code_ids`, `values` (canonical unit, no NaN) and `ages` (whole years at the visit) are
    parallel arrays; `codes` holds every code among them; `moments` comes from band_moments.
    One implementation for a visit's few observations and an import's millions: the rules are
    evaluated per (code, age band) on whole arrays.
    """
    found: list[Unusual] = []
    code_ids = np.asarray(code_ids, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    scaled = on_rule_scale(code_ids, values, log_scale_ids(codes.values()))
    bands = np.minimum(np.maximum(np.asarray(ages, dtype=np.int64), 0) // 5, len(AGE_BANDS) - 1)
    for code_id in np.unique(code_ids).tolist():
        code = codes[code_id]
        of_code = np.flatnonzero(code_ids == code_id)
        if code.category == CodeCategory.BIOMARKER and code.reference_level:
            limit = REFERENCE_MULTIPLE * code.reference_level
            for i in of_code[values[of_code] > limit].tolist():
                value = float(values[i])
                found.append(
                    Unusual(
                        i,
                        QualityFlagKind.ABOVE_REFERENCE,
                        DETAIL_ABOVE_REFERENCE
                        % {
                            "label": code.label,
                            "value": f"{value:g}",
                            "unit": code.canonical_unit,
                            "multiple": f"{REFERENCE_MULTIPLE:g}",
                            "reference": f"{code.reference_level:g}",
                        },
                    )
                )
        for band_index in np.unique(bands[of_code]).tolist():
            band = AGE_BANDS[band_index]
            n, total, squares = moments.get((code_id, band), (0, 0.0, 0.0))
            if n < OUTLIER_MIN_N:
                continue
            mean = total / n
            sd = math.sqrt(max((squares - n * mean * mean) / (n - 1), 0.0))
            if sd <= 0:
                continue
            in_band = of_code[bands[of_code] == band_index]
            with np.errstate(invalid="ignore"):  # NaN (a log-scale value ≤ 0) is never beyond
                beyond = np.abs(scaled[in_band] - mean) > OUTLIER_SD * sd
            logged = code.code in LOG_SCALE_CODES
            for i in in_band[beyond].tolist():
                value, distance = float(values[i]), abs(float(scaled[i]) - mean) / sd
                found.append(
                    Unusual(
                        i,
                        QualityFlagKind.OUTLIER,
                        (DETAIL_OUTLIER_LOG if logged else DETAIL_OUTLIER)
                        % {
                            "label": code.label,
                            "value": f"{value:g}",
                            "unit": code.canonical_unit,
                            "distance": f"{distance:.1f}",
                            "mean": f"{math.exp(mean) if logged else mean:.3g}",
                            "band": band,
                            "n": n,
                        },
                    )
                )
    found.sort(key=lambda u: (u.position, u.kind != QualityFlagKind.ABOVE_REFERENCE))
    return found


def flag_unusual_observations(observations: Sequence[Observation]) -> list[DataQualityFlag]:
    """Create review flags for stored observations that are unusual; returns the new flags."""
    numeric = [o for o in observations if o.value is not None]
    if not numeric:
        return []
    codes = {c.pk: c for c in VocabularyCode.objects.filter(pk__in={o.code_id for o in numeric})}
    ages = {
        pk: visited_on.year - birth_year
        for pk, visited_on, birth_year in Visit.objects.filter(
            pk__in={o.visit_id for o in numeric}
        ).values_list("pk", "visited_on", "resident__birth_year")
    }
    found = unusual_values(
        codes,
        np.array([o.code_id for o in numeric], dtype=np.int64),
        np.array([o.value for o in numeric], dtype=np.float64),
        np.array([ages[o.visit_id] for o in numeric], dtype=np.int64),
        band_moments(codes),
    )
    flags = [
        DataQualityFlag(kind=u.kind, observation=numeric[u.position], detail=u.detail)
        for u in found
    ]
    return DataQualityFlag.objects.bulk_create(flags, ignore_conflicts=True)


def flag_same_day_visits(visits: Sequence[Visit]) -> list[DataQualityFlag]:
    """Flag each visit that has a sibling for the same resident on the same day."""
    if not visits:
        return []
    keys = {(v.resident_id, v.visited_on) for v in visits}
    residents = {k[0] for k in keys}
    dates = {k[1] for k in keys}
    counts = (
        Visit.objects.filter(resident_id__in=residents, visited_on__in=dates)
        .values("resident_id", "visited_on")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    doubled = {(row["resident_id"], row["visited_on"]) for row in counts}
    flags = [
        DataQualityFlag(
            kind=QualityFlagKind.SAME_DAY_VISIT,
            visit=visit,
            detail=DETAIL_SAME_DAY % {"date": visit.visited_on},
        )
        for visit in visits
        if (visit.resident_id, visit.visited_on) in doubled
    ]
    return DataQualityFlag.objects.bulk_create(flags, ignore_conflicts=True)


def flag_same_day_visits_of_import(import_record_id: int) -> int:
    """flag_same_day_visits for every visit an import created; returns the number flagged.

    An import attaches rows to the resident's existing visit of that day, so its new visits
    only get a sibling when someone entered one at the same time; the check is still made, as
    one grouped count over the import's residents (a correlated EXISTS per visit was planned as
    a scan per visit on SQLite: minutes for a million-row file).
    """
    of_import = Visit.objects.filter(import_record_id=import_record_id)
    doubled = set(
        Visit.objects.filter(resident_id__in=of_import.values("resident_id"))
        .values("resident_id", "visited_on")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("resident_id", "visited_on")
    )
    if not doubled:
        return 0
    flags = [
        DataQualityFlag(
            kind=QualityFlagKind.SAME_DAY_VISIT,
            visit_id=pk,
            detail=DETAIL_SAME_DAY % {"date": visited_on},
        )
        for pk, resident_id, visited_on in of_import.filter(
            resident_id__in={resident for resident, _ in doubled}
        ).values_list("pk", "resident_id", "visited_on")
        if (resident_id, visited_on) in doubled
    ]
    DataQualityFlag.objects.bulk_create(flags, ignore_conflicts=True, batch_size=2000)
    return len(flags)
