"""Residents and observations: pseudonymous, area-scoped, and (observations) large.

Study IDs are turned into pseudonyms (surveys.pseudonyms.pseudonymize) as soon as a row is read;
the ID itself is never stored, logged, or echoed in an error (RowError.value is empty for the
study_id column and no reason quotes it).
"""

from __future__ import annotations

import datetime as dt
import math
from array import array
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db.models import QuerySet
from simple_history.utils import bulk_create_with_history

from surveys.geo import coarse_location
from surveys.importing.base import BATCH_SIZE, KindImporter, batches
from surveys.importing.cells import Row, formula_reason
from surveys.importing.coded import CodedValueReader
from surveys.importing.sql import insert_returning_ids
from surveys.models import (
    Area,
    CodeCategory,
    ImportRecord,
    Observation,
    ProductionSite,
    Resident,
    Sex,
    Smoking,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import InvalidStudyId, Pseudonym, pseudonymize
from surveys.quality import band_moments, flag_same_day_visits, flag_unusual_observations
from surveys.selectors import areas_for_user, may_record_field_data, residents_for_user
from surveys.validation import CodedValue

NO_RESIDENT = (
    "no resident with this study ID (register the resident first, with a residents file or "
    "the form)."
)
#: Observations per call of flag_unusual_observations (one aggregate query per call).
FLAG_BATCH = 5000


class _StudyIds:
    """study ID cell → pseudonym, cached per import (the cache dies with the importer)."""

    def __init__(self) -> None:
        self.cache: dict[str, Pseudonym | str] = {}

    def read(self, row: Row) -> Pseudonym | None:
        raw = row.cells["study_id"]
        hit = self.cache.get(raw)
        if hit is None:
            text = raw.strip()
            reason = formula_reason("study_id", text) if text else None
            if reason is not None:
                hit = reason
            else:
                try:
                    hit = pseudonymize(text)
                except InvalidStudyId as error:
                    hit = str(error)
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[raw] = hit
        if isinstance(hit, str):
            row.fail("study_id", hit)
            return None
        return hit


class ResidentsImporter(KindImporter):
    kind = "residents"
    columns = ("study_id", "area_code", "birth_year", "sex", "enrolled_on", "latitude",
               "longitude", "works_at_site", "smoking")  # fmt: skip
    compared = {
        "area_id": "area_code",
        "birth_year": "birth_year",
        "sex": "sex",
        "enrolled_on": "enrolled_on",
        "grid_latitude": "latitude",
        "grid_longitude": "longitude",
        "works_at_site": "works_at_site",
        "smoking": "smoking",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pending: list[Resident] = []
        self.study_ids = _StudyIds()
        self.all_areas = dict(Area.objects.values_list("code", "pk"))
        scope = Area.objects.all() if self.user is None else areas_for_user(self.user)
        self.my_areas = set(scope.values_list("pk", flat=True))
        self.sites = list(ProductionSite.objects.values_list("pk", "latitude", "longitude"))
        self.dates: dict[str, Any] = {}

    @property
    def pending_count(self) -> int:
        return len(self.pending)

    @classmethod
    def allowed(cls, user: User) -> bool:
        return may_record_field_data(user)

    def validate_chunk(self, rows: list[Row]) -> None:
        parsed: list[tuple[Row, Pseudonym, dict[str, Any]]] = []
        for row in rows:
            pseudonym = self.study_ids.read(row)
            values = self._values(row)
            if pseudonym is None or self.duplicate(row, pseudonym.value, ("study_id",)):
                continue
            if row.ok:
                parsed.append((row, pseudonym, values))
        stored = {
            r["pseudonym"]: r
            for r in Resident.objects.filter(pseudonym__in=[p.value for _, p, _ in parsed]).values(
                "pseudonym", *self.compared
            )
        }
        for row, pseudonym, values in parsed:
            existing = stored.get(pseudonym.value)
            if existing is not None and existing["area_id"] not in self.my_areas:
                row.fail("study_id", "this study ID is already registered.")
            elif existing is not None:
                new = {field: values[field] for field in self.compared}
                self.compare(row, existing, new, self.compared)
            else:
                self.pending.append(
                    Resident(
                        pseudonym=pseudonym.value,
                        key_version=pseudonym.key_version,
                        created_by=self.user,
                        **values,
                    )
                )

    def _values(self, row: Row) -> dict[str, Any]:
        area_code = row.text("area_code", max_length=32)
        area_id = self.all_areas.get(area_code) if area_code else None
        if area_code and area_id is None:
            row.fail("area_code", f"unknown area {area_code!r}.")
        elif area_id is not None and area_id not in self.my_areas:
            row.fail("area_code", f"you are not assigned to area {area_code}.")
        birth_year = row.integer("birth_year", low=1900, high=self.today.year, what="a birth year")
        sex = row.choice("sex", Sex.values)
        enrolled_on = row.date("enrolled_on", today=self.today, cache=self.dates)
        if enrolled_on and birth_year and enrolled_on.year < birth_year:
            row.fail("enrolled_on", "enrolment cannot be before the birth year.")
        latitude = row.number("latitude", low=-90, high=90, required=False)
        longitude = row.number("longitude", low=-180, high=180, required=False)
        if row.raw("latitude") and not row.raw("longitude"):
            row.fail("longitude", "give both latitude and longitude, or neither.")
        if row.raw("longitude") and not row.raw("latitude"):
            row.fail("latitude", "give both latitude and longitude, or neither.")
        works = row.boolean("works_at_site", default=False)
        smoking = row.choice("smoking", Smoking.values, default=Smoking.UNKNOWN)
        values: dict[str, Any] = {
            "area_id": area_id,
            "birth_year": birth_year,
            "sex": sex,
            "enrolled_on": enrolled_on,
            "works_at_site": works,
            "smoking": smoking,
            "nearest_site_id": None,
            "distance_to_site_km": None,
            "grid_latitude": None,
            "grid_longitude": None,
        }
        if latitude is not None and longitude is not None:
            location = coarse_location(latitude, longitude, self.sites)
            values.update(
                nearest_site_id=location.nearest_site_id,
                distance_to_site_km=location.distance_to_site_km,
                grid_latitude=location.grid_latitude,
                grid_longitude=location.grid_longitude,
            )
        return values

    def write(self, record: ImportRecord) -> None:
        for resident in self.pending:
            resident.import_record = record
        for batch in batches(self.pending, 1000):
            bulk_create_with_history(
                batch,
                Resident,
                batch_size=500,
                default_user=self.user,
                default_change_reason=self.history_reason(record),
            )


OBSERVATION_FIELDS = {
    "value": "value",
    "value_boolean": "value",
    "entered_unit": "unit",
    "below_lod": "below_lod",
    "lod": "lod",
}
OBSERVATION_COLUMNS = (
    "visit_id",
    "code_id",
    "value",
    "value_boolean",
    "entered_unit",
    "below_lod",
    "lod",
)
_NAN = math.nan
_VISIT_SHIFT = 22  # date ordinals are below 2**22


class ObservationsImporter(KindImporter):
    """Observations → the resident's visit on that date (the earliest one, or a new one).

    Validation keeps only compact arrays: the key of every row (for duplicates within the
    file) and the few numbers each new observation needs, so a million rows cost tens of MB.
    """

    kind = "observations"
    columns = ("study_id", "observed_on", "code", "value", "unit", "below_lod", "lod")
    key_columns = ("study_id", "observed_on", "code")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.study_ids = _StudyIds()
        self.coded = CodedValueReader()
        self.dates: dict[str, Any] = {}
        codes = VocabularyCode.objects.filter(active=True)
        self.codes = {c.code: c for c in codes if c.category != CodeCategory.POLLUTANT}
        self.pollutants = {c.code for c in codes if c.category == CodeCategory.POLLUTANT}
        self.residents: QuerySet[Resident] = (
            Resident.objects.all() if self.user is None else residents_for_user(self.user)
        )
        # every keyed row: for duplicates within the file
        self.k_resident = array("q")
        self.k_day = array("i")
        self.k_code = array("i")
        self.k_row = array("i")
        # every new observation
        self.p_resident = array("q")
        self.p_day = array("i")
        self.p_visit = array("q")  # 0: the visit is created by this import
        self.p_code = array("i")
        self.p_value = array("d")  # NaN: no numeric value
        self.p_boolean = array("b")  # -1: none
        self.p_unit = array("h")  # index into self.units
        self.p_below = array("b")
        self.p_lod = array("d")  # NaN: none
        self.units: list[str] = []
        self.unit_index: dict[str, int] = {}

    @property
    def pending_count(self) -> int:
        return len(self.p_code)

    @classmethod
    def allowed(cls, user: User) -> bool:
        return may_record_field_data(user)

    def validate_chunk(self, rows: list[Row]) -> None:
        parsed: list[tuple[Row, str, dt.date, VocabularyCode, CodedValue | None]] = []
        for row in rows:
            pseudonym = self.study_ids.read(row)
            observed_on = row.date("observed_on", today=self.today, cache=self.dates)
            code = self._code(row)
            coded = self.coded.read(row, code) if code is not None else None
            if pseudonym is not None and observed_on is not None and code is not None:
                parsed.append((row, pseudonym.value, observed_on, code, coded))
        residents = {
            p: (pk, enrolled)
            for p, pk, enrolled in self.residents.filter(
                pseudonym__in={entry[1] for entry in parsed}
            ).values_list("pseudonym", "pk", "enrolled_on")
        }
        keyed = []
        for row, pseudonym_value, observed_on, code, coded in parsed:
            resident = residents.get(pseudonym_value)
            if resident is None:
                row.fail("study_id", NO_RESIDENT)
                continue
            resident_id, enrolled_on = resident
            if observed_on < enrolled_on:
                row.fail("observed_on", "is before the resident's enrolment date.")
            self.k_resident.append(resident_id)
            self.k_day.append(observed_on.toordinal())
            self.k_code.append(code.pk)
            self.k_row.append(row.rownum)
            if row.ok and coded is not None:
                keyed.append((row, resident_id, observed_on, code, coded))
        if not keyed:
            return
        days = [entry[2] for entry in keyed]
        wanted = {(entry[1], entry[2]) for entry in keyed}
        earliest: dict[tuple[int, dt.date], int] = {}
        for pk, resident_id, visited_on in (
            Visit.objects.filter(
                resident_id__in={entry[1] for entry in keyed},
                visited_on__range=(min(days), max(days)),
            )
            .order_by("pk")
            .values_list("pk", "resident_id", "visited_on")
        ):
            if (resident_id, visited_on) in wanted:  # at most one visit id per row
                earliest.setdefault((resident_id, visited_on), pk)
        stored = {
            (o["visit_id"], o["code_id"]): o
            for o in Observation.objects.filter(visit_id__in=set(earliest.values())).values(
                "visit_id", "code_id", *OBSERVATION_FIELDS
            )
        }
        for row, resident_id, observed_on, code, coded in keyed:
            visit_id = earliest.get((resident_id, observed_on), 0)
            existing = stored.get((visit_id, code.pk)) if visit_id else None
            if existing is not None:
                new = {field: getattr(coded, field) for field in OBSERVATION_FIELDS}
                self.compare(row, existing, new, OBSERVATION_FIELDS)
                continue
            self.p_resident.append(resident_id)
            self.p_day.append(observed_on.toordinal())
            self.p_visit.append(visit_id)
            self.p_code.append(code.pk)
            self.p_value.append(_NAN if coded.value is None else coded.value)
            self.p_boolean.append(-1 if coded.value_boolean is None else int(coded.value_boolean))
            self.p_unit.append(self._unit(coded.entered_unit))
            self.p_below.append(int(coded.below_lod))
            self.p_lod.append(_NAN if coded.lod is None else coded.lod)

    def _code(self, row: Row) -> VocabularyCode | None:
        text = row.text("code", max_length=64)
        if text is None:
            return None
        code = self.codes.get(text)
        if code is None:
            if text in self.pollutants:
                row.fail("code", f"{text} is a pollutant; it belongs in a measurements file.")
            else:
                row.fail(
                    "code", f"unknown code {text!r}; see the vocabulary in docs/data-formats.md."
                )
        return code

    def _unit(self, unit: str) -> int:
        index = self.unit_index.get(unit)
        if index is None:
            index = self.unit_index[unit] = len(self.units)
            self.units.append(unit)
        return index

    def finish(self) -> None:
        """Duplicate keys (resident, date, code) anywhere in the file, by sorting."""
        if not self.k_row:
            return
        resident = np.frombuffer(self.k_resident, dtype=np.int64)
        day = np.asarray(self.k_day, dtype=np.int64)
        code = np.asarray(self.k_code, dtype=np.int64)
        row = np.asarray(self.k_row, dtype=np.int64)
        order = np.lexsort((row, code, day, resident))
        r, d, c = resident[order], day[order], code[order]
        same_as_previous = (r[1:] == r[:-1]) & (d[1:] == d[:-1]) & (c[1:] == c[:-1])
        if not same_as_previous.any():
            return
        sorted_rows = row[order].tolist()
        first_row = list(sorted_rows)
        for i in range(1, len(order)):  # carry the group's first row forward
            if same_as_previous[i - 1]:
                first_row[i] = first_row[i - 1]
        for i in (np.flatnonzero(same_as_previous) + 1).tolist():
            self.sink.add(
                sorted_rows[i],
                "study_id",
                "",
                f"duplicate key: the same study ID, observed_on and code are also on row "
                f"{int(first_row[i])}; each key may appear once in a file.",
            )

    def write(self, record: ImportRecord) -> None:
        count = len(self.p_code)
        if count == 0:
            return
        user_id = self.user.pk if self.user is not None else None
        resident = np.frombuffer(self.p_resident, dtype=np.int64)
        day = np.asarray(self.p_day, dtype=np.int64)
        visit = np.frombuffer(self.p_visit, dtype=np.int64).copy()
        need = visit == 0
        visit_key = (resident << _VISIT_SHIFT) | day
        new_keys = np.unique(visit_key[need])
        new_ids = np.zeros(len(new_keys), dtype=np.int64)
        for start in range(0, len(new_keys), BATCH_SIZE):
            keys = new_keys[start : start + BATCH_SIZE].tolist()
            visits = Visit.objects.bulk_create(
                [
                    Visit(
                        resident_id=key >> _VISIT_SHIFT,
                        visited_on=dt.date.fromordinal(key & ((1 << _VISIT_SHIFT) - 1)),
                        health_worker_id=user_id,
                        import_record=record,
                    )
                    for key in keys
                ],
                batch_size=BATCH_SIZE,
            )
            new_ids[start : start + len(visits)] = [v.pk for v in visits]
            flag_same_day_visits(visits)
        if need.any():
            visit[need] = new_ids[np.searchsorted(new_keys, visit_key[need])]
        numeric_pk = array("q")
        numeric_index = array("q")
        for start in range(0, count, BATCH_SIZE):
            stop = min(start + BATCH_SIZE, count)
            rows = [
                (
                    visit_id,
                    code_id,
                    None if value != value else value,  # NaN → None
                    None if boolean < 0 else bool(boolean),
                    self.units[unit],
                    bool(below),
                    None if lod != lod else lod,
                )
                for visit_id, code_id, value, boolean, unit, below, lod in zip(
                    visit[start:stop].tolist(),
                    self.p_code[start:stop],
                    self.p_value[start:stop],
                    self.p_boolean[start:stop],
                    self.p_unit[start:stop],
                    self.p_below[start:stop],
                    self.p_lod[start:stop],
                    strict=True,
                )
            ]
            ids = insert_returning_ids(Observation, OBSERVATION_COLUMNS, rows)
            for index, (pk, row) in enumerate(zip(ids, rows, strict=True), start):
                if row[2] is not None:
                    numeric_pk.append(pk)
                    numeric_index.append(index)
        self._flag(numeric_pk, numeric_index, visit)

    def _flag(self, pks: array[int], indexes: array[int], visit: np.ndarray) -> None:
        """Queue unusual values for review, in batches of one code (one query per batch)."""
        if not pks:
            return
        index = np.frombuffer(indexes, dtype=np.int64)
        pk = np.frombuffer(pks, dtype=np.int64)
        code = np.asarray(self.p_code, dtype=np.int64)[index]
        value = np.asarray(self.p_value, dtype=np.float64)[index]
        order = np.argsort(code, kind="stable")
        # Every row is inserted by now, so the (code, age band) moments are the same for every
        # batch: aggregate the stored values once (per batch, the import grew quadratically).
        moments = band_moments(np.unique(code).tolist())
        for start in range(0, len(order), FLAG_BATCH):
            chosen = order[start : start + FLAG_BATCH]
            flag_unusual_observations(
                [
                    Observation(pk=p, visit_id=v, code_id=c, value=x)
                    for p, v, c, x in zip(
                        pk[chosen].tolist(),
                        visit[index[chosen]].tolist(),
                        code[chosen].tolist(),
                        value[chosen].tolist(),
                        strict=True,
                    )
                ],
                moments=moments,
            )
