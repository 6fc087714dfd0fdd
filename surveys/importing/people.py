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
import pandas as pd
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_noop
from simple_history.utils import bulk_create_with_history

from surveys.geo import coarse_location
from surveys.importing import bulk
from surveys.importing.base import BATCH_SIZE, KindImporter, batches
from surveys.importing.cells import Row, formula_reason
from surveys.importing.coded import VALUE_COLUMNS, CodedValueReader
from surveys.importing.report import ErrorSink
from surveys.models import (
    Area,
    CodeCategory,
    DataQualityFlag,
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
from surveys.quality import (
    band_moments,
    flag_same_day_visits_of_import,
    log_scale_ids,
    unusual_values,
    with_new_values,
)
from surveys.selectors import areas_for_user, may_record_field_data, residents_for_user
from surveys.validation import CodedValue

NO_RESIDENT = gettext_noop(
    "no resident with this study ID (register the resident first, with a residents file or "
    "the form)."
)


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
                row.fail("study_id", gettext("this study ID is already registered."))
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
            row.fail("area_code", gettext("unknown area '%(area)s'.") % {"area": area_code})
        elif area_id is not None and area_id not in self.my_areas:
            row.fail(
                "area_code",
                gettext("you are not assigned to area %(area)s.") % {"area": area_code},
            )
        birth_year = row.integer(
            "birth_year", low=1900, high=self.today.year, what=gettext("a birth year")
        )
        sex = row.choice("sex", Sex.values)
        enrolled_on = row.date("enrolled_on", today=self.today, cache=self.dates)
        if enrolled_on and birth_year and enrolled_on.year < birth_year:
            row.fail("enrolled_on", gettext("enrolment cannot be before the birth year."))
        latitude = row.number("latitude", low=-90, high=90, required=False)
        longitude = row.number("longitude", low=-180, high=180, required=False)
        if row.raw("latitude") and not row.raw("longitude"):
            row.fail("longitude", gettext("give both latitude and longitude, or neither."))
        if row.raw("longitude") and not row.raw("latitude"):
            row.fail("latitude", gettext("give both latitude and longitude, or neither."))
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
CODED_ROWS_CACHE = 200_000
_VISIT_SHIFT = 22  # date ordinals are below 2**22
_CODE_SHIFT = 24  # vocabulary code ids are below 2**24


def _floats(values: tuple[Any, ...]) -> np.ndarray:
    return np.array([_NAN if v is None else v for v in values], dtype=np.float64)


def _booleans(values: tuple[Any, ...]) -> np.ndarray:
    return np.array([-1 if v is None else int(v) for v in values], dtype=np.int8)


def _same_floats(stored: np.ndarray, new: np.ndarray) -> np.ndarray:
    """base.same on float arrays (math.isclose, rel 1e-9, abs 1e-12), None (NaN) equal to None
    only."""
    both = np.isnan(stored) & np.isnan(new)
    with np.errstate(invalid="ignore"):
        close = np.abs(stored - new) <= np.maximum(
            1e-9 * np.maximum(np.abs(stored), np.abs(new)), 1e-12
        )
    return both | close


_UNIX_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


class ObservationsImporter(KindImporter):
    """Observations → the resident's visit on that date (the earliest one, or a new one).

    Validation keeps only compact arrays: the key of every row (for duplicates within the
    file) and the few numbers each new observation needs, so a million rows cost tens of MB.
    """

    kind = "observations"
    columns = ("study_id", "observed_on", "code", "value", "unit", "below_lod", "lod")
    # Larger chunks amortise the columnar path's per-chunk work; a chunk's distinct study IDs
    # go into one IN (…) list, which SQLite caps at 32,766 parameters.
    chunk_size = 20_000
    key_columns = ("study_id", "observed_on", "code")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.study_ids = _StudyIds()
        self.coded = CodedValueReader()
        # (code pk, value, unit, below_lod, lod cells) → what the columnar path stores
        self.coded_rows: dict[tuple[Any, ...], tuple[float, int, int, int, float]] = {}
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
        self.p_birth = array("h")  # the resident's birth year (for the quality flags' age band)
        self.units: list[str] = []
        self.unit_index: dict[str, int] = {}

    @property
    def pending_count(self) -> int:
        return len(self.p_code)

    @classmethod
    def allowed(cls, user: User) -> bool:
        return may_record_field_data(user)

    def validate_cells(self, chunk: list[tuple[int, list[str]]]) -> None:
        """A chunk with nothing to report and nothing stored yet takes the columnar path;
        any other chunk goes row by row (validate_chunk), which is the reference: the columnar
        path calls the same cell readers on each distinct value and gives up at the first
        thing it would have to report, so both paths store and report the same."""
        if not self._validate_clean_chunk(chunk):
            super().validate_cells(chunk)

    def _validate_clean_chunk(self, chunk: list[tuple[int, list[str]]]) -> bool:
        """Validate each distinct cell value once and spread the results over the rows with
        numpy. False, with nothing recorded, when a row has an error or matches a stored
        visit's observation (the row path reports those)."""
        quiet = ErrorSink(limit=0)  # errors are the row path's job
        numbers = np.fromiter((number for number, _ in chunk), dtype=np.int64, count=len(chunk))
        table = np.array([cells for _, cells in chunk], dtype=object)
        study, observed, code_text, *value_cells = table.T

        study_of_row, study_uniques = pd.factorize(study)
        pseudonyms = []
        for raw in study_uniques.tolist():
            pseudonym = self.study_ids.read(Row(0, {"study_id": raw}, quiet))
            if pseudonym is None:
                return False
            pseudonyms.append(pseudonym.value)
        stored = {
            p: (pk, enrolled.toordinal(), birth_year)
            for p, pk, enrolled, birth_year in self.residents.filter(
                pseudonym__in=set(pseudonyms)
            ).values_list("pseudonym", "pk", "enrolled_on", "birth_year")
        }
        if len(stored) != len(set(pseudonyms)):
            return False  # a study ID without a resident (in this user's areas)
        resident_of, enrolled_of, birth_of = (
            np.array(column, dtype=np.int64)
            for column in zip(*(stored[p] for p in pseudonyms), strict=True)
        )

        day_of_row, day_uniques = pd.factorize(observed)
        days = []
        for raw in day_uniques.tolist():
            day = Row(0, {"observed_on": raw}, quiet).date(
                "observed_on", today=self.today, cache=self.dates
            )
            if day is None:
                return False
            days.append(day.toordinal())
        code_of_row, code_uniques = pd.factorize(code_text)
        codes = [self._code(Row(0, {"code": raw}, quiet)) for raw in code_uniques.tolist()]
        if None in codes:
            return False

        # one key per distinct (code, value, unit, below_lod, lod): coded values depend on all
        key = code_of_row.astype(np.int64)
        cells_of_row = []
        for cells in value_cells:
            index, uniques = pd.factorize(cells)
            key = key * len(uniques) + index
            cells_of_row.append((index, uniques))
        _, first, coded_of_row = np.unique(key, return_index=True, return_inverse=True)
        distinct_cells = zip(
            code_of_row[first].tolist(),
            *(uniques[index[first]].tolist() for index, uniques in cells_of_row),
            strict=True,
        )
        coded_rows = []
        for code_index, *cells in distinct_cells:
            code = codes[code_index]
            cache_key = (code.pk, *cells)  # type: ignore[union-attr]
            stored_row = self.coded_rows.get(cache_key)
            if stored_row is None:
                raw = dict(zip(VALUE_COLUMNS, cells, strict=True))
                coded = self.coded.read(Row(0, raw, quiet), code)  # type: ignore[arg-type]
                if coded is None:
                    return False
                stored_row = (
                    _NAN if coded.value is None else coded.value,
                    -1 if coded.value_boolean is None else int(coded.value_boolean),
                    self._unit(coded.entered_unit),
                    int(coded.below_lod),
                    _NAN if coded.lod is None else coded.lod,
                )
                if len(self.coded_rows) >= CODED_ROWS_CACHE:
                    self.coded_rows.clear()
                self.coded_rows[cache_key] = stored_row
            coded_rows.append(stored_row)
        coded_columns = list(zip(*coded_rows, strict=True))

        resident = resident_of[study_of_row]
        day = np.array(days, dtype=np.int64)[day_of_row]
        if (day < enrolled_of[study_of_row]).any():
            return False
        code_id = np.array([c.pk for c in codes], dtype=np.int64)[code_of_row]  # type: ignore[union-attr]
        visit = self._stored_visits(resident, day)
        new = self._new_rows(resident, day, visit, code_id, coded_columns, coded_of_row)
        if new is None:
            return False

        self.k_resident.frombytes(resident.tobytes())
        self.k_day.frombytes(day.astype(np.int32).tobytes())
        self.k_code.frombytes(code_id.astype(np.int32).tobytes())
        self.k_row.frombytes(numbers.astype(np.int32).tobytes())
        self.unchanged += len(chunk) - int(new.sum())
        if not new.all():  # rows stored already with the same values: counted, not written
            resident, day, visit, code_id = resident[new], day[new], visit[new], code_id[new]
            coded_of_row, study_of_row = coded_of_row[new], study_of_row[new]
        self.p_resident.frombytes(resident.tobytes())
        self.p_day.frombytes(day.astype(np.int32).tobytes())
        self.p_visit.frombytes(visit.tobytes())
        self.p_code.frombytes(code_id.astype(np.int32).tobytes())
        targets: tuple[array[Any], ...] = (
            self.p_value,
            self.p_boolean,
            self.p_unit,
            self.p_below,
            self.p_lod,
        )
        for target, values, dtype in zip(
            targets,
            coded_columns,
            (np.float64, np.int8, np.int16, np.int8, np.float64),
            strict=True,
        ):
            target.frombytes(np.array(values, dtype=dtype)[coded_of_row].tobytes())
        self.p_birth.frombytes(birth_of[study_of_row].astype(np.int16).tobytes())
        return True

    def _new_rows(
        self,
        resident: np.ndarray,
        day: np.ndarray,
        visit: np.ndarray,
        code_id: np.ndarray,
        coded_columns: list[tuple[Any, ...]],
        coded_of_row: np.ndarray,
    ) -> np.ndarray | None:
        """Which rows are new (True) rather than stored already with the same values (False:
        the row path counts those unchanged); None when a row differs from its stored
        observation (the row path reports that). Compared as base.same compares: floats to
        1e-9 relative, the rest exactly."""
        new = np.ones(len(visit), dtype=bool)
        hit = np.flatnonzero(visit > 0)
        if len(hit) == 0:
            return new
        # by resident and dates, as the visits were found (a few hundred residents, not
        # thousands of visit ids); observations of later visits of a day match no key below
        stored = list(
            Observation.objects.filter(
                visit__resident_id__in=np.unique(resident[hit]).tolist(),
                visit__visited_on__range=(
                    dt.date.fromordinal(int(day[hit].min())),
                    dt.date.fromordinal(int(day[hit].max())),
                ),
            ).values_list("visit_id", "code_id", *OBSERVATION_FIELDS)
        )
        if not stored:
            return new
        s_visit, s_code, s_value, s_boolean, s_unit, s_below, s_lod = zip(*stored, strict=True)
        s_key = (np.array(s_visit, dtype=np.int64) << _CODE_SHIFT) | np.array(s_code, np.int64)
        order = np.argsort(s_key)
        s_key = s_key[order]
        key = (visit[hit] << _CODE_SHIFT) | code_id[hit]
        where = np.minimum(np.searchsorted(s_key, key), len(s_key) - 1)
        found = s_key[where] == key
        if not found.any():
            return new
        rows, at = hit[found], order[where[found]]
        coded = coded_of_row[rows]
        value, boolean, unit, below, lod = (np.asarray(c) for c in coded_columns)
        units = np.array(self.units, dtype=object)
        same = (
            _same_floats(_floats(s_value)[at], value[coded].astype(np.float64))
            & (_booleans(s_boolean)[at] == boolean[coded])
            & (np.array(s_unit, dtype=object)[at] == units[unit[coded]])
            & (np.array(s_below, dtype=bool)[at] == below[coded].astype(bool))
            & _same_floats(_floats(s_lod)[at], lod[coded].astype(np.float64))
        )
        if not same.all():
            return None
        new[rows] = False
        return new

    def _stored_visits(self, resident: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Each row's stored visit (the earliest of that resident and day; 0: none)."""
        keys = (resident << _VISIT_SHIFT) | day
        earliest: dict[int, int] = {}
        for pk, resident_id, visited_on in (
            Visit.objects.filter(
                resident_id__in=np.unique(resident).tolist(),
                visited_on__range=(
                    dt.date.fromordinal(int(day.min())),
                    dt.date.fromordinal(int(day.max())),
                ),
            )
            .order_by("pk")
            .values_list("pk", "resident_id", "visited_on")
        ):
            earliest.setdefault((resident_id << _VISIT_SHIFT) | visited_on.toordinal(), pk)
        visit = np.zeros(len(keys), dtype=np.int64)
        if not earliest:
            return visit
        known = np.fromiter(earliest, dtype=np.int64, count=len(earliest))
        order = np.argsort(known)
        known, ids = known[order], np.fromiter(earliest.values(), dtype=np.int64)[order]
        where = np.minimum(np.searchsorted(known, keys), len(known) - 1)
        hit = known[where] == keys
        visit[hit] = ids[where[hit]]
        return visit

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
            p: (pk, enrolled, birth_year)
            for p, pk, enrolled, birth_year in self.residents.filter(
                pseudonym__in={entry[1] for entry in parsed}
            ).values_list("pseudonym", "pk", "enrolled_on", "birth_year")
        }
        keyed = []
        for row, pseudonym_value, observed_on, code, coded in parsed:
            resident = residents.get(pseudonym_value)
            if resident is None:
                row.fail("study_id", gettext(NO_RESIDENT))
                continue
            resident_id, enrolled_on, birth_year = resident
            if observed_on < enrolled_on:
                row.fail("observed_on", gettext("is before the resident's enrolment date."))
            self.k_resident.append(resident_id)
            self.k_day.append(observed_on.toordinal())
            self.k_code.append(code.pk)
            self.k_row.append(row.rownum)
            if row.ok and coded is not None:
                keyed.append((row, resident_id, observed_on, code, coded, birth_year))
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
        for row, resident_id, observed_on, code, coded, birth_year in keyed:
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
            self.p_birth.append(birth_year)

    def _code(self, row: Row) -> VocabularyCode | None:
        text = row.text("code", max_length=64)
        if text is None:
            return None
        code = self.codes.get(text)
        if code is None:
            if text in self.pollutants:
                row.fail(
                    "code",
                    gettext("%(code)s is a pollutant; it belongs in a measurements file.")
                    % {"code": text},
                )
            else:
                row.fail(
                    "code",
                    gettext("unknown code '%(code)s'; see the vocabulary in docs/data-formats.md.")
                    % {"code": text},
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
                gettext(
                    "duplicate key: the same %(what)s and %(last)s are also on row %(row)s; "
                    "each key may appear once in a file."
                )
                % {
                    "what": ", ".join((gettext("study ID"), "observed_on")),
                    "last": "code",
                    "row": int(first_row[i]),
                },
            )

    def write(self, record: ImportRecord) -> None:
        count = len(self.p_code)
        if count == 0:
            return
        resident = np.frombuffer(self.p_resident, dtype=np.int64)
        day = np.asarray(self.p_day, dtype=np.int64)
        visit = np.frombuffer(self.p_visit, dtype=np.int64).copy()
        need = visit == 0
        visit_key = (resident << _VISIT_SHIFT) | day
        new_keys = np.unique(visit_key[need])
        new_ids = bulk.insert_visits(
            resident_ids=new_keys >> _VISIT_SHIFT,
            days=new_keys & ((1 << _VISIT_SHIFT) - 1),
            health_worker_id=self.user.pk if self.user is not None else None,
            record=record,
        )
        if need.any():
            visit[need] = new_ids[np.searchsorted(new_keys, visit_key[need])]
        rows = bulk.ObservationRows(
            visit_ids=visit,
            code_ids=np.asarray(self.p_code, dtype=np.int64),
            values=np.frombuffer(self.p_value, dtype=np.float64),
            booleans=np.frombuffer(self.p_boolean, dtype=np.int8),
            unit_index=np.frombuffer(self.p_unit, dtype=np.int16),
            units=self.units,
            below_lod=np.frombuffer(self.p_below, dtype=np.int8).astype(bool),
            lods=np.frombuffer(self.p_lod, dtype=np.float64),
        )
        numeric = np.flatnonzero(~np.isnan(rows.values))
        codes = {
            c.pk: c
            for c in VocabularyCode.objects.filter(
                pk__in=np.unique(rows.code_ids[numeric]).tolist()
            )
        }
        # The stored values' moments, taken before this file's rows are inserted; the file's
        # own are added from the arrays below (the same sums as aggregating afterwards, without
        # reading millions of just-written rows back).
        stored_moments = band_moments(codes) if codes else {}
        bulk.insert_observations(rows)
        bulk.refresh_planner_statistics()
        flag_same_day_visits_of_import(record.pk)
        self._flag(rows, day, numeric, codes, stored_moments)

    def _flag(
        self,
        rows: bulk.ObservationRows,
        day: np.ndarray,
        numeric: np.ndarray,
        codes: dict[int, VocabularyCode],
        stored_moments: dict[tuple[int, str], tuple[int, float, float]],
    ) -> None:
        """Queue the unusual new values for review (surveys.quality), on whole arrays."""
        if len(numeric) == 0:
            return
        code = rows.code_ids[numeric]
        values = rows.values[numeric]
        # age at the visit = the visit's calendar year - birth year (as surveys.quality does)
        days_since_1970 = (day[numeric] - _UNIX_EPOCH_ORDINAL).astype("datetime64[D]")
        year = days_since_1970.astype("datetime64[Y]").astype(np.int64) + 1970
        ages = year - np.frombuffer(self.p_birth, dtype=np.int16)[numeric]
        # the moments include this file's values, as they include a form's values when saved
        moments = with_new_values(stored_moments, code, values, ages, log_scale_ids(codes.values()))
        found = unusual_values(codes, code, values, ages, moments)
        if not found:
            return
        keys = [(int(rows.visit_ids[numeric[u.position]]), int(code[u.position])) for u in found]
        ids = bulk.observation_ids(set(keys))
        DataQualityFlag.objects.bulk_create(
            [
                DataQualityFlag(kind=u.kind, observation_id=ids[key], detail=u.detail)
                for u, key in zip(found, keys, strict=True)
            ],
            ignore_conflicts=True,
            batch_size=BATCH_SIZE,
        )
