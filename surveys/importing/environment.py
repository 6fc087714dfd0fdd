"""Measurements at monitoring stations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.utils.translation import gettext

from surveys.importing.base import BATCH_SIZE, KindImporter, batches
from surveys.importing.cells import Row
from surveys.importing.coded import CodedValueReader
from surveys.models import (
    CodeCategory,
    ImportRecord,
    Measurement,
    MeasurementStatus,
    Station,
    VocabularyCode,
)
from surveys.selectors import may_record_measurements

FIELD_COLUMNS = {
    "value": "value",
    "entered_unit": "unit",
    "below_lod": "below_lod",
    "lod": "lod",
    "status": "status",
}


class MeasurementsImporter(KindImporter):
    kind = "measurements"
    columns = ("station_code", "sampled_on", "pollutant", "value", "unit", "below_lod", "lod",
               "status")  # fmt: skip
    key_columns = ("station_code", "sampled_on", "pollutant")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # (station_id, sampled_on, pollutant_id, value, unit, below_lod, lod, status)
        self.pending: list[tuple[Any, ...]] = []
        self.codes = {
            c.code: c
            for c in VocabularyCode.objects.filter(active=True, category=CodeCategory.POLLUTANT)
        }
        self.coded = CodedValueReader()
        self.dates: dict[str, Any] = {}

    @property
    def pending_count(self) -> int:
        return len(self.pending)

    @classmethod
    def allowed(cls, user: User) -> bool:
        return may_record_measurements(user)

    def validate_chunk(self, rows: list[Row]) -> None:
        wanted = {row.raw("station_code") for row in rows}
        stations = {s.code: s for s in Station.objects.filter(code__in=wanted)}
        parsed: list[tuple[Row, tuple[int, dt.date, int], dict[str, Any]]] = []
        for row in rows:
            station_code = row.text("station_code", max_length=32)
            station = stations.get(station_code) if station_code else None
            if station_code and station is None:
                row.fail(
                    "station_code",
                    gettext("unknown station '%(station)s'; import it with a stations file.")
                    % {"station": station_code},
                )
            sampled_on = row.date("sampled_on", today=self.today, cache=self.dates)
            pollutant = row.text("pollutant", max_length=64)
            code = self.codes.get(pollutant) if pollutant else None
            if pollutant and code is None:
                row.fail(
                    "pollutant",
                    gettext("unknown pollutant '%(pollutant)s'; known: %(known)s.")
                    % {"pollutant": pollutant, "known": ", ".join(sorted(self.codes))},
                )
            elif code is not None and station is not None and code.medium != station.medium:
                row.fail(
                    "pollutant",
                    gettext(
                        "%(pollutant)s is measured in %(medium)s, but station %(station)s "
                        "samples %(station_medium)s."
                    )
                    % {
                        "pollutant": code.code,
                        "medium": code.medium,
                        "station": station.code,
                        "station_medium": station.medium,
                    },
                )
            coded = self.coded.read(row, code) if code is not None else None
            status = row.choice("status", MeasurementStatus.values, default="preliminary")
            if station is None or sampled_on is None or code is None:
                continue
            key = (station.pk, sampled_on, code.pk)
            if self.duplicate(row, key, self.key_columns) or not row.ok or coded is None:
                continue
            parsed.append(
                (
                    row,
                    key,
                    {
                        "value": coded.value,
                        "entered_unit": coded.entered_unit,
                        "below_lod": coded.below_lod,
                        "lod": coded.lod,
                        "status": status,
                    },
                )
            )
        if not parsed:
            return
        dates = [key[1] for _, key, _ in parsed]
        stored = {
            (m["station_id"], m["sampled_on"], m["pollutant_id"]): m
            for m in Measurement.objects.filter(
                station_id__in={key[0] for _, key, _ in parsed},
                pollutant_id__in={key[2] for _, key, _ in parsed},
                sampled_on__range=(min(dates), max(dates)),
            ).values("station_id", "sampled_on", "pollutant_id", *FIELD_COLUMNS)
        }
        for row, key, values in parsed:
            if key in stored:
                self.compare(row, stored[key], values, FIELD_COLUMNS)
            else:
                self.pending.append((*key, *values.values()))

    def write(self, record: ImportRecord) -> None:
        user_id = self.user.pk if self.user is not None else None
        for batch in batches(self.pending, BATCH_SIZE):
            objects = []
            for station_id, sampled_on, pollutant_id, *values in batch:
                value, unit, below_lod, lod, status = values
                objects.append(
                    Measurement(
                        station_id=station_id,
                        sampled_on=sampled_on,
                        pollutant_id=pollutant_id,
                        value=value,
                        entered_unit=unit,
                        below_lod=below_lod,
                        lod=lod,
                        status=status,
                        recorded_by_id=user_id,
                        import_record=record,
                    )
                )
            Measurement.objects.bulk_create(objects, batch_size=BATCH_SIZE)
