"""CSV export of the seven kinds, in the import's contract shape, role-scoped and logged.

    rows = export_csv(kind="measurements", user=request.user, out=response)

Every kind goes through its access chokepoint in surveys.selectors, so a health worker exports
the residents and observations of their own areas only; community reviewers and anonymous
visitors may not export (AccessDenied). `user` None is the operator at the command line
(everything). Every export is logged with surveys.services.record_access_log (who, when,
which kind, how many rows).

Exported files re-import as "unchanged": values are written in the unit they were entered in,
floats in their shortest round-trip form. Two kinds differ from the import contract, because
study IDs are never stored: residents and observations carry `pseudonym` in place of
`study_id` (and residents empty coordinates plus `distance_to_site_km`), so those two files are
for analysis, not for re-import (see docs/data-formats.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TextIO

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db.models import QuerySet

from healthwatch.roles import Role, has_role
from healthwatch.text import csv_writer
from surveys.importing import COLUMNS
from surveys.models import (
    Area,
    AreaPopulation,
    Measurement,
    Observation,
    ProductionSite,
    Resident,
    Station,
    VocabularyCode,
)
from surveys.selectors import (
    areas_for_user,
    measurements_for_user,
    observations_for_user,
    residents_for_user,
    sites_for_user,
    stations_for_user,
)
from surveys.services import AccessDenied, record_access_log

User = AuthUser | AnonymousUser

EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    **COLUMNS,
    "residents": (
        "pseudonym",
        "area_code",
        "birth_year",
        "sex",
        "enrolled_on",
        "latitude",
        "longitude",
        "works_at_site",
        "smoking",
        "distance_to_site_km",
    ),
    "observations": ("pseudonym", "observed_on", "code", "value", "unit", "below_lod", "lod"),
}
CHUNK = 2000


def may_export(user: User | None) -> bool:
    return user is None or has_role(user, Role.HEALTH_WORKER, Role.EPIDEMIOLOGIST, Role.ADMIN)


def export_csv(*, kind: str, user: User | None, out: TextIO) -> int:
    """Write `kind` as CSV (header + rows) to `out`; returns the number of rows written."""
    if kind not in EXPORT_COLUMNS:
        raise ValueError(f"unknown kind {kind!r}; the kinds are: {', '.join(EXPORT_COLUMNS)}.")
    if not may_export(user):
        raise AccessDenied("Only health workers, epidemiologists and admins export data.")
    # Text a spreadsheet would run as a formula gets a leading quote (healthwatch.text).
    writer = csv_writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS[kind])
    count = 0
    for row in ROWS[kind](user):
        writer.writerow(row)
        count += 1
    record_access_log(
        user=user if user is not None else AnonymousUser(),
        action="export",
        resource=kind,
        detail=f"CSV export of {kind}" + (" (command line)" if user is None else ""),
        row_count=count,
    )
    return count


# -- cell formatting ---------------------------------------------------------------------------


def _number(value: float | Decimal | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _bool(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _date(value: Any) -> str:
    return "" if value is None else value.isoformat()


class _Units:
    """Canonical value → the unit it was entered in (so a re-import compares equal)."""

    def __init__(self) -> None:
        self.factors = {
            pk: factors or {}
            for pk, factors in VocabularyCode.objects.values_list("pk", "accepted_units")
        }
        self.canonical = dict(VocabularyCode.objects.values_list("pk", "canonical_unit"))

    def entered(self, code_id: int, value: float | None, unit: str) -> tuple[str, str]:
        if value is None:
            return "", unit
        factor = self.factors.get(code_id, {}).get(unit)
        if factor is None:
            return _number(value), self.canonical.get(code_id, unit)
        if float(factor) == 1.0:
            return repr(value), unit
        return format(value / float(factor), ".12g"), unit


# -- rows per kind -----------------------------------------------------------------------------


def _scoped(user: User | None, everything: QuerySet[Any], chokepoint: Any) -> QuerySet[Any]:
    return everything if user is None else chokepoint(user)


def _sites(user: User | None) -> Iterator[list[str]]:
    rows = _scoped(user, ProductionSite.objects.all(), sites_for_user).order_by("code")
    for code, name, kind, lat, lon, operator, opened_on in rows.values_list(
        "code", "name", "kind", "latitude", "longitude", "operator", "opened_on"
    ).iterator(chunk_size=CHUNK):
        yield [
            code,
            name,
            kind,
            _number(lat),
            _number(lon),
            operator,
            _date(opened_on),
        ]


def _areas(user: User | None) -> Iterator[list[str]]:
    rows = _scoped(user, Area.objects.all(), areas_for_user).order_by("code")
    for code, name, lat, lon in rows.values_list("code", "name", "latitude", "longitude").iterator(
        chunk_size=CHUNK
    ):
        yield [code, name, _number(lat), _number(lon)]


def _population(user: User | None) -> Iterator[list[str]]:
    areas = _scoped(user, Area.objects.all(), areas_for_user)
    rows = AreaPopulation.objects.filter(area__in=areas).order_by(
        "area__code", "year", "sex", "age_band"
    )
    for code, year, sex, band, population in rows.values_list(
        "area__code", "year", "sex", "age_band", "population"
    ).iterator(chunk_size=CHUNK):
        yield [code, str(year), sex, band, str(population)]


def _stations(user: User | None) -> Iterator[list[str]]:
    rows = _scoped(user, Station.objects.all(), stations_for_user).order_by("code")
    for code, name, medium, lat, lon in rows.values_list(
        "code", "name", "medium", "latitude", "longitude"
    ).iterator(chunk_size=CHUNK):
        yield [code, name, medium, _number(lat), _number(lon)]


def _measurements(user: User | None) -> Iterator[list[str]]:
    units = _Units()
    rows = _scoped(user, Measurement.objects.all(), measurements_for_user).order_by(
        "station__code", "sampled_on", "pollutant__code"
    )
    for station, sampled_on, code_id, code, value, unit, below, lod, status in rows.values_list(
        "station__code",
        "sampled_on",
        "pollutant_id",
        "pollutant__code",
        "value",
        "entered_unit",
        "below_lod",
        "lod",
        "status",
    ).iterator(chunk_size=CHUNK):
        value_text, unit_text = units.entered(code_id, value, unit)
        lod_text, _ = units.entered(code_id, lod, unit)
        yield [
            station,
            _date(sampled_on),
            code,
            value_text,
            unit_text,
            _bool(below),
            lod_text,
            status,
        ]


def _residents(user: User | None) -> Iterator[list[str]]:
    rows = _scoped(user, Resident.objects.all(), residents_for_user).order_by("pseudonym")
    for pseudonym, area, birth_year, sex, enrolled_on, works, smoking, distance in rows.values_list(
        "pseudonym",
        "area__code",
        "birth_year",
        "sex",
        "enrolled_on",
        "works_at_site",
        "smoking",
        "distance_to_site_km",
    ).iterator(chunk_size=CHUNK):
        yield [
            pseudonym,
            area,
            str(birth_year),
            sex,
            _date(enrolled_on),
            "",
            "",
            _bool(works),
            smoking,
            _number(distance),
        ]


def _observations(user: User | None) -> Iterator[list[str]]:
    units = _Units()
    rows = _scoped(user, Observation.objects.all(), observations_for_user).order_by(
        "visit__resident__pseudonym", "visit__visited_on", "visit_id", "code__code"
    )
    for pseudonym, observed_on, code_id, code, value, flag, unit, below, lod in rows.values_list(
        "visit__resident__pseudonym",
        "visit__visited_on",
        "code_id",
        "code__code",
        "value",
        "value_boolean",
        "entered_unit",
        "below_lod",
        "lod",
    ).iterator(chunk_size=CHUNK):
        if flag is not None:
            value_text, unit_text = _bool(flag), ""
        else:
            value_text, unit_text = units.entered(code_id, value, unit)
        lod_text, _ = units.entered(code_id, lod, unit)
        yield [
            pseudonym,
            _date(observed_on),
            code,
            value_text,
            unit_text,
            _bool(below),
            lod_text,
        ]


ROWS = {
    "sites": _sites,
    "areas": _areas,
    "population": _population,
    "stations": _stations,
    "measurements": _measurements,
    "residents": _residents,
    "observations": _observations,
}
