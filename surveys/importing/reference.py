"""Sites, areas, population denominators and monitoring stations: small reference tables.

Written with simple_history's bulk_create_with_history, so each created row has its "+"
history entry (user = the importer, reason = the ImportRecord).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import User
from django.utils.translation import gettext
from simple_history.utils import bulk_create_with_history

from healthwatch.roles import Role, has_role
from surveys.importing.base import KindImporter
from surveys.importing.cells import Row
from surveys.models import (
    AGE_BANDS,
    Area,
    AreaPopulation,
    ImportRecord,
    Medium,
    ProductionSite,
    Sex,
    SiteKind,
    Station,
)
from surveys.selectors import may_record_measurements

MAX_POPULATION = 100_000_000
#: Denominators may be projections: up to this many years ahead of today.
POPULATION_YEARS_AHEAD = 5


class _CodedPlaces(KindImporter):
    """A table keyed by a code column, with name, latitude and longitude (and more)."""

    model: ClassVar[Any]
    code_column: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pending: list[Any] = []

    @property
    def pending_count(self) -> int:
        return len(self.pending)

    @classmethod
    def allowed(cls, user: User) -> bool:
        return has_role(user, Role.ADMIN)

    def values(self, row: Row) -> dict[str, Any]:
        """The row's fields (None where a cell was refused), besides code."""
        return {
            "name": row.text("name"),
            "latitude": row.number("latitude", low=-90, high=90),
            "longitude": row.number("longitude", low=-180, high=180),
        }

    def field_columns(self) -> dict[str, str]:
        return {"name": "name", "latitude": "latitude", "longitude": "longitude"}

    def validate_chunk(self, rows: list[Row]) -> None:
        codes = {row.raw(self.code_column) for row in rows}
        stored = {
            entry["code"]: entry
            for entry in self.model.objects.filter(code__in=codes).values(
                "code", *self.field_columns()
            )
        }
        for row in rows:
            code = row.identifier(self.code_column)
            values = self.values(row)
            if code is None or self.duplicate(row, code, (self.code_column,)) or not row.ok:
                continue
            if code in stored:
                self.compare(row, stored[code], values, self.field_columns())
            else:
                self.pending.append(self.model(code=code, **values))

    def write(self, record: ImportRecord) -> None:
        bulk_create_with_history(
            self.pending,
            self.model,
            batch_size=500,
            default_user=self.user,
            default_change_reason=self.history_reason(record),
        )


class SitesImporter(_CodedPlaces):
    kind = "sites"
    columns = ("site_code", "name", "kind", "latitude", "longitude", "operator", "opened_on")
    model = ProductionSite
    code_column = "site_code"

    def values(self, row: Row) -> dict[str, Any]:
        values = super().values(row)
        values["kind"] = row.choice("kind", SiteKind.values)
        values["operator"] = row.text("operator", required=False)
        values["opened_on"] = row.date("opened_on", today=self.today, required=False)
        return values

    def field_columns(self) -> dict[str, str]:
        return {**super().field_columns(), "kind": "kind", "operator": "operator",
                "opened_on": "opened_on"}  # fmt: skip


class AreasImporter(_CodedPlaces):
    kind = "areas"
    columns = ("area_code", "name", "latitude", "longitude")
    model = Area
    code_column = "area_code"


class StationsImporter(_CodedPlaces):
    kind = "stations"
    columns = ("station_code", "name", "medium", "latitude", "longitude")
    model = Station
    code_column = "station_code"

    @classmethod
    def allowed(cls, user: User) -> bool:
        return may_record_measurements(user)

    def values(self, row: Row) -> dict[str, Any]:
        values = super().values(row)
        values["medium"] = row.choice("medium", Medium.values)
        return values

    def field_columns(self) -> dict[str, str]:
        return {**super().field_columns(), "medium": "medium"}


class PopulationImporter(KindImporter):
    kind = "population"
    columns = ("area_code", "year", "sex", "age_band", "population")
    key_columns = ("area_code", "year", "sex", "age_band")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pending: list[AreaPopulation] = []
        self.areas = dict(Area.objects.values_list("code", "pk"))

    @property
    def pending_count(self) -> int:
        return len(self.pending)

    @classmethod
    def allowed(cls, user: User) -> bool:
        return has_role(user, Role.ADMIN)

    def validate_chunk(self, rows: list[Row]) -> None:
        parsed = []
        for row in rows:
            area_code = row.text("area_code", max_length=32)
            area_id = self.areas.get(area_code) if area_code else None
            if area_code and area_id is None:
                row.fail(
                    "area_code",
                    gettext("unknown area '%(area)s'; import it with an areas file.")
                    % {"area": area_code},
                )
            year = row.integer(
                "year",
                low=1900,
                high=self.today.year + POPULATION_YEARS_AHEAD,
                what=gettext("a year"),
            )
            sex = row.choice("sex", Sex.values)
            band = row.choice("age_band", AGE_BANDS)
            population = row.integer("population", low=0, high=MAX_POPULATION)
            if area_id is None or year is None or sex is None or band is None:
                continue
            key = (area_id, year, sex, band)
            if self.duplicate(row, key, self.key_columns) or not row.ok:
                continue
            parsed.append((row, key, population))
        if not parsed:
            return
        stored = {
            (a, y, s, b): p
            for a, y, s, b, p in AreaPopulation.objects.filter(
                area_id__in={key[0] for _, key, _ in parsed},
                year__in={key[1] for _, key, _ in parsed},
            ).values_list("area_id", "year", "sex", "age_band", "population")
        }
        for row, key, population in parsed:
            if key in stored:
                self.compare(
                    row,
                    {"population": stored[key]},
                    {"population": population},
                    {"population": "population"},
                )
            else:
                area_id, year, sex, band = key
                self.pending.append(
                    AreaPopulation(
                        area_id=area_id,
                        year=year,
                        sex=sex,
                        age_band=band,
                        population=population or 0,
                    )
                )

    def write(self, record: ImportRecord) -> None:
        bulk_create_with_history(
            self.pending,
            AreaPopulation,
            batch_size=500,
            default_user=self.user,
            default_change_reason=self.history_reason(record),
        )
