"""Data-quality rules: plausible but unusual values are accepted and queued for review.

- a biomarker above 10× its reference level;
- a numeric value beyond 3.29 standard deviations (two-sided p < 0.001) from the mean of the
  same code and age band, once at least OUTLIER_MIN_N values exist for that code and band;
- a second visit for the same resident on the same day.
Out-of-range values never get here: validation refuses them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db.models import Count, ExpressionWrapper, F, FloatField, IntegerField, Sum
from django.db.models.functions import ExtractYear

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


def age_band(age: int) -> str:
    """The five-year band (0-4 … 80-84, 85+) of an age in whole years."""
    return AGE_BANDS[min(max(age, 0) // 5, len(AGE_BANDS) - 1)]


def band_moments(code_ids: Iterable[int]) -> dict[tuple[int, str], tuple[int, float, float]]:
    """(code, age band) → (n, sum, sum of squares) over stored numeric values, one query."""
    age = ExpressionWrapper(
        ExtractYear("visit__visited_on") - F("visit__resident__birth_year"),
        output_field=IntegerField(),
    )
    rows = (
        Observation.objects.filter(code_id__in=list(code_ids), value__isnull=False)
        .annotate(age=age)
        .values("code_id", "age")
        .annotate(
            n=Count("id"),
            s=Sum("value"),
            ss=Sum(ExpressionWrapper(F("value") * F("value"), output_field=FloatField())),
        )
    )
    moments: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for row in rows:
        entry = moments[(row["code_id"], age_band(row["age"]))]
        entry[0] += row["n"]
        entry[1] += row["s"]
        entry[2] += row["ss"]
    return {key: (int(n), s, ss) for key, (n, s, ss) in moments.items()}


def flag_unusual_observations(
    observations: Sequence[Observation],
    *,
    moments: dict[tuple[int, str], tuple[int, float, float]] | None = None,
) -> list[DataQualityFlag]:
    """Create review flags for stored observations that are unusual; returns the new flags.

    `moments` (from band_moments) lets a caller that flags many batches of one import
    aggregate the stored values once instead of once per batch.
    """
    numeric = [o for o in observations if o.value is not None]
    if not numeric:
        return []
    codes = {c.pk: c for c in VocabularyCode.objects.filter(pk__in={o.code_id for o in numeric})}
    if moments is None:
        moments = band_moments(codes)
    ages = {
        pk: visited_on.year - birth_year
        for pk, visited_on, birth_year in Visit.objects.filter(
            pk__in={o.visit_id for o in numeric}
        ).values_list("pk", "visited_on", "resident__birth_year")
    }
    flags: list[DataQualityFlag] = []
    for observation in numeric:
        code = codes[observation.code_id]
        value = float(observation.value)  # type: ignore[arg-type]
        if (
            code.category == CodeCategory.BIOMARKER
            and code.reference_level
            and value > REFERENCE_MULTIPLE * code.reference_level
        ):
            flags.append(
                DataQualityFlag(
                    kind=QualityFlagKind.ABOVE_REFERENCE,
                    observation=observation,
                    detail=(
                        f"{code.code} = {value:g} {code.canonical_unit}, more than "
                        f"{REFERENCE_MULTIPLE:g}× the reference level {code.reference_level:g}."
                    ),
                )
            )
        band = age_band(ages[observation.visit_id])
        n, total, squares = moments.get((code.pk, band), (0, 0.0, 0.0))
        if n < OUTLIER_MIN_N:
            continue
        mean = total / n
        variance = max((squares - n * mean * mean) / (n - 1), 0.0)
        sd = math.sqrt(variance)
        if sd > 0 and abs(value - mean) > OUTLIER_SD * sd:
            flags.append(
                DataQualityFlag(
                    kind=QualityFlagKind.OUTLIER,
                    observation=observation,
                    detail=(
                        f"{code.code} = {value:g} {code.canonical_unit} is "
                        f"{abs(value - mean) / sd:.1f} SD from the mean {mean:.3g} of age band "
                        f"{band} (n={n})."
                    ),
                )
            )
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
            detail=f"Another visit of this resident is recorded on {visit.visited_on}.",
        )
        for visit in visits
        if (visit.resident_id, visit.visited_on) in doubled
    ]
    return DataQualityFlag.objects.bulk_create(flags, ignore_conflicts=True)
