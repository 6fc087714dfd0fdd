"""Reads of the audit trail, as people read it (selectors; nothing here writes).

The history (django-simple-history) keeps one row per saved version of a resident, visit,
observation or measurement. People read changes, not versions: "worker_a changed the visit of
1 Mar 2024: Body mass index 23.4 → 24.0 kg/m², reason: scale recalibrated". So:
- one entry per change: the versions one person saved for one record with one reason within a
  few seconds (a visit and its observations, saved by one form) are one entry;
- labels, not ids: vocabulary labels, area, site and station names, usernames, choice labels;
  the pseudonym and internal keys are never shown;
- who sees what: epidemiologists and admins every record; a health worker the records they
  created or edited, among those the access chokepoint (surveys.selectors) lets them see;
  community reviewers nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from healthwatch.i18n import localized_decimal
from healthwatch.roles import Role, has_role
from surveys.models import (
    Area,
    Measurement,
    MeasurementStatus,
    Observation,
    ProductionSite,
    Resident,
    Sex,
    Smoking,
    Station,
    Visit,
    VocabularyCode,
)
from surveys.selectors import (
    User,
    measurements_for_user,
    residents_for_user,
    sees_all_records,
    visits_for_user,
)

RECORD_TYPES = {
    "resident": gettext_lazy("Resident"),
    "visit": gettext_lazy("Visit"),
    "measurement": gettext_lazy("Measurement"),
}
ACTIONS = {
    "created": gettext_lazy("created"),
    "changed": gettext_lazy("changed"),
    "deleted": gettext_lazy("deleted"),
}
# Versions one person saved for one record with one reason this close together are one change.
SAME_CHANGE = dt.timedelta(seconds=5)
# The newest records (matching the filters) whose history one read assembles.
MAX_RECORDS = 500

FIELD_LABELS = {
    "area_id": gettext_lazy("Area"),
    "birth_year": gettext_lazy("Birth year"),
    "sex": gettext_lazy("Sex"),
    "enrolled_on": gettext_lazy("Enrolled on"),
    "nearest_site_id": gettext_lazy("Nearest site"),
    "distance_to_site_km": gettext_lazy("Distance to the site (km)"),
    "grid_latitude": gettext_lazy("Grid cell latitude"),
    "grid_longitude": gettext_lazy("Grid cell longitude"),
    "works_at_site": gettext_lazy("Works at the site"),
    "smoking": gettext_lazy("Smoking"),
    "created_by_id": gettext_lazy("Registered by"),
    "import_record_id": gettext_lazy("Import"),
    "resident_id": gettext_lazy("Resident"),
    "visited_on": gettext_lazy("Visit date"),
    "health_worker_id": gettext_lazy("Health worker"),
    "station_id": gettext_lazy("Station"),
    "sampled_on": gettext_lazy("Sampled on"),
    "pollutant_id": gettext_lazy("Pollutant"),
    "value": gettext_lazy("Value"),
    "status": gettext_lazy("Status"),
    "recorded_by_id": gettext_lazy("Recorded by"),
}
SHOWN_FIELDS = {
    "resident": (
        "area_id",
        "birth_year",
        "sex",
        "enrolled_on",
        "nearest_site_id",
        "distance_to_site_km",
        "grid_latitude",
        "grid_longitude",
        "works_at_site",
        "smoking",
        "created_by_id",
        "import_record_id",
    ),
    "visit": ("visited_on", "health_worker_id", "import_record_id"),
    "measurement": (
        "station_id",
        "sampled_on",
        "pollutant_id",
        "value",
        "status",
        "recorded_by_id",
        "import_record_id",
    ),
}


# Who created a record, when its first version was saved outside a request (no history user).
CREATOR_FIELDS = {
    "resident": "created_by_id",
    "visit": "health_worker_id",
    "measurement": "recorded_by_id",
}


@dataclass(frozen=True)
class Change:
    """One field (or one observation of a visit) before and after, as text ("" = none)."""

    label: str
    old: str
    new: str


@dataclass(frozen=True)
class Entry:
    """One change of one record by one person."""

    record_type: str  # resident | visit | measurement
    record_id: int
    record: str  # the record as people name it ("visit of 1 Mar 2024, resident #12")
    at: dt.datetime
    user: str
    action: str  # created | changed | deleted
    reason: str
    changes: tuple[Change, ...]

    @property
    def record_type_label(self) -> str:
        return str(RECORD_TYPES[self.record_type])

    @property
    def action_label(self) -> str:
        return str(ACTIONS[self.action])


@dataclass(frozen=True)
class AuditFilter:
    record_type: str = ""  # "" = every type
    user: str = ""  # a username
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@dataclass
class _Version:
    """One history row, read: the record it belongs to and the changes it made."""

    record_type: str
    record_id: int
    at: dt.datetime
    history_id: int
    user: str  # "" when not known (saved outside a request)
    kind: str  # + ~ -
    reason: str
    own: bool  # a version of the record itself (not of one of a visit's observations)
    changes: list[Change] = field(default_factory=list)


# --- labels ----------------------------------------------------------------------------------


class _Names:
    """Names of the things ids point to, each table read once per request (they are small)."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[int, str]] = {}

    def _table(self, name: str, load: Callable[[], Iterable[tuple[int, str]]]) -> dict[int, str]:
        if name not in self._cache:
            self._cache[name] = dict(load())
        return self._cache[name]

    def user(self, pk: int | None) -> str:
        if pk is None:
            return ""
        users = self._table("user", lambda: get_user_model().objects.values_list("pk", "username"))
        return users.get(pk, f"#{pk}")

    def area(self, pk: int) -> str:
        return self._table("area", lambda: Area.objects.values_list("pk", "name")).get(pk, "?")

    def site(self, pk: int) -> str:
        sites = self._table("site", lambda: ProductionSite.objects.values_list("pk", "name"))
        return sites.get(pk, "?")

    def station(self, pk: int) -> str:
        return self._table("station", lambda: Station.objects.values_list("pk", "name")).get(
            pk, "?"
        )

    def code(self, pk: int) -> VocabularyCode | None:
        if "code_objects" not in self._cache:
            self._cache["code_objects"] = {c.pk: c for c in VocabularyCode.objects.all()}  # type: ignore[misc]
        return self._cache["code_objects"].get(pk)  # type: ignore[return-value]


def _date(value: dt.date) -> str:
    return formats.date_format(value, "DATE_FORMAT")


def _number(value: float) -> str:
    return localized_decimal(value)


def _yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return _("yes") if value else _("no")


def _field_text(name: str, value: Any, names: _Names) -> str:
    """A stored field value as people read it."""
    if value is None or value == "":
        return ""
    if name in {"area_id"}:
        return names.area(value)
    if name == "nearest_site_id":
        return names.site(value)
    if name == "station_id":
        return names.station(value)
    if name in {"created_by_id", "health_worker_id", "recorded_by_id"}:
        return names.user(value)
    if name == "pollutant_id":
        code = names.code(value)
        # The vocabulary label in the reader's language, like every other label of the entry.
        return code.display_label if code else "?"
    if name == "import_record_id":
        return _("CSV import #%(n)d") % {"n": value}
    if name == "resident_id":
        return _("resident #%(n)d") % {"n": value}
    if name == "sex":
        return str(Sex(value).label) if value in Sex.values else str(value)
    if name == "smoking":
        return str(Smoking(value).label) if value in Smoking.values else str(value)
    if name == "status":
        return str(MeasurementStatus(value).label) if value in MeasurementStatus.values else value
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return formats.date_format(local, "DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return _date(value)
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _measured_text(version: Any, unit: str) -> str:
    """The value of an observation or a measurement version: "4.2 µg/dL", "yes", "< LOD 0.5"."""
    if getattr(version, "below_lod", False):
        return _("below the detection limit %(lod)s %(unit)s") % {
            "lod": _number(version.lod) if version.lod is not None else "?",
            "unit": unit,
        }
    if version.value is not None:
        return f"{_number(version.value)} {unit}".strip()
    return _yes_no(getattr(version, "value_boolean", None))


def _record_changes(record_type: str, previous: Any, version: Any, names: _Names) -> list[Change]:
    changes = []
    for name in SHOWN_FIELDS[record_type]:
        old = None if previous is None else getattr(previous, name)
        new = getattr(version, name)
        if name == "value" and record_type == "measurement":
            code = names.code(version.pollutant_id)
            unit = code.canonical_unit if code else ""
            old_text = "" if previous is None else _measured_text(previous, unit)
            new_text = _measured_text(version, unit)
        else:
            if previous is not None and old == new:
                continue
            old_text, new_text = _field_text(name, old, names), _field_text(name, new, names)
        if old_text != new_text:
            changes.append(Change(str(FIELD_LABELS[name]), old_text, new_text))
    return changes


# --- which records a person may read the history of ----------------------------------------


def _own_ids(user: User, record_type: str) -> QuerySet[Any] | None:
    """The records whose history `user` may read (None = every record)."""
    if sees_all_records(user):
        return None
    if not has_role(user, Role.HEALTH_WORKER) or not user.is_authenticated:
        return Resident.objects.none().values("pk")
    if record_type == "resident":
        edited = Resident.history.filter(history_user=user.pk).values("id")  # type: ignore[attr-defined]
        return (
            residents_for_user(user).filter(Q(created_by=user.pk) | Q(pk__in=edited)).values("pk")
        )
    if record_type == "visit":
        edited = Visit.history.filter(history_user=user.pk).values("id")  # type: ignore[attr-defined]
        observed = Observation.history.filter(history_user=user.pk).values("visit_id")  # type: ignore[attr-defined]
        return (
            visits_for_user(user)
            .filter(Q(health_worker=user.pk) | Q(pk__in=edited) | Q(pk__in=observed))
            .values("pk")
        )
    edited = Measurement.history.filter(history_user=user.pk).values("id")  # type: ignore[attr-defined]
    return (
        measurements_for_user(user).filter(Q(recorded_by=user.pk) | Q(pk__in=edited)).values("pk")
    )


def may_read_history(user: User, record_type: str, pk: int) -> bool:
    own = _own_ids(user, record_type)
    if own is None:
        return True
    return own.filter(pk=pk).exists()


# --- assembling entries ----------------------------------------------------------------------

_MODELS: dict[str, Any] = {"resident": Resident, "visit": Visit, "measurement": Measurement}


def _versions(record_type: str, ids: list[int], names: _Names) -> list[_Version]:
    """Every version of the records `ids` (and of their observations, for visits), read."""
    model = _MODELS[record_type]
    rows = list(model.history.filter(id__in=ids).order_by("id", "history_date", "history_id"))
    versions: list[_Version] = []
    previous: dict[int, Any] = {}
    creator = CREATOR_FIELDS[record_type]
    for row in rows:
        before = previous.get(row.id)
        changes = (
            [] if row.history_type == "-" else _record_changes(record_type, before, row, names)
        )
        previous[row.id] = row
        who = names.user(row.history_user_id)
        if not who and row.history_type == "+":  # saved outside a request: its recorder
            who = names.user(getattr(row, creator))
        versions.append(
            _Version(
                record_type,
                row.id,
                row.history_date,
                row.history_id,
                who,
                row.history_type,
                row.history_change_reason or "",
                True,
                changes,
            )
        )
    if record_type == "visit":
        versions += _observation_versions(ids, names)
    return versions


def _observation_versions(visit_ids: list[int], names: _Names) -> list[_Version]:
    rows = Observation.history.filter(visit_id__in=visit_ids).order_by(  # type: ignore[attr-defined]
        "id", "history_date", "history_id"
    )
    versions = []
    previous: dict[int, Any] = {}
    for row in rows:
        code = names.code(row.code_id)
        label = code.display_label if code else "?"  # in the reader's language
        unit = code.canonical_unit if code else ""
        before = previous.get(row.id)
        old = "" if before is None else _measured_text(before, unit)
        new = "" if row.history_type == "-" else _measured_text(row, unit)
        previous[row.id] = row
        versions.append(
            _Version(
                "visit",
                row.visit_id,
                row.history_date,
                row.history_id,
                names.user(row.history_user_id),
                row.history_type,
                row.history_change_reason or "",
                False,
                [Change(label, old, new)] if old != new else [],
            )
        )
    return versions


def _record_names(record_type: str, ids: list[int], names: _Names) -> dict[int, str]:
    """Each record as people name it, from its latest version (deleted records too)."""
    latest: dict[int, Any] = {}
    for row in _MODELS[record_type].history.filter(id__in=ids).order_by("history_date"):
        latest[row.id] = row
    named = {}
    for pk, row in latest.items():
        if record_type == "resident":
            named[pk] = _("resident #%(n)d of %(area)s, born %(year)d") % {
                "n": pk,
                "area": names.area(row.area_id),
                "year": row.birth_year,
            }
        elif record_type == "visit":
            named[pk] = _("visit of %(day)s, resident #%(n)d") % {
                "day": _date(row.visited_on),
                "n": row.resident_id,
            }
        else:
            code = names.code(row.pollutant_id)
            named[pk] = _("%(pollutant)s at %(station)s on %(day)s") % {
                "pollutant": code.display_label if code else "?",
                "station": names.station(row.station_id),
                "day": _date(row.sampled_on),
            }
    return named


def _grouped(versions: list[_Version], named: dict[int, str]) -> list[Entry]:
    """One entry per change: a person's versions of one record, with one reason, close in
    time (a visit saved with its observations by one form) are merged."""
    versions.sort(key=lambda v: (v.record_id, v.at, v.history_id))
    groups: list[list[_Version]] = []
    for version in versions:
        last = groups[-1] if groups else None
        known = next((v.user for v in last if v.user), "") if last else ""
        if (
            last is not None
            and last[0].record_id == version.record_id
            and (known == version.user or "" in (known, version.user))
            and last[0].reason == version.reason
            and version.at - last[0].at <= SAME_CHANGE
        ):
            last.append(version)
        else:
            groups.append([version])
    entries = []
    for group in groups:
        own = [v for v in group if v.own]
        if any(v.kind == "+" for v in own):
            action = "created"
        elif any(v.kind == "-" for v in own):
            action = "deleted"
        else:
            action = "changed"
        changes = tuple(change for v in group for change in v.changes)
        first = group[0]
        entries.append(
            Entry(
                record_type=first.record_type,
                record_id=first.record_id,
                record=named.get(first.record_id, f"#{first.record_id}"),
                at=first.at,
                user=next((v.user for v in group if v.user), "") or _("system"),
                action=action,
                reason=first.reason,
                changes=changes,
            )
        )
    return entries


def record_history(user: User, record_type: str, pk: int) -> list[Entry] | None:
    """The history of one record, oldest first; None when the user may not read it."""
    if record_type not in _MODELS or not may_read_history(user, record_type, pk):
        return None
    names = _Names()
    return _grouped(_versions(record_type, [pk], names), _record_names(record_type, [pk], names))


def _candidate_ids(user: User, record_type: str, wanted: AuditFilter) -> list[int]:
    """The newest records of a type with a version matching the filters, within scope."""
    model = _MODELS[record_type]
    sources: list[tuple[QuerySet[Any], str]] = [(model.history.all(), "id")]
    if record_type == "visit":
        sources.append((Observation.history.all(), "visit_id"))  # type: ignore[attr-defined]
    own = _own_ids(user, record_type)
    found: dict[int, dt.datetime] = {}
    for rows, key in sources:
        if wanted.user:
            rows = rows.filter(history_user__username=wanted.user)
        if wanted.date_from:
            rows = rows.filter(history_date__date__gte=wanted.date_from)
        if wanted.date_to:
            rows = rows.filter(history_date__date__lte=wanted.date_to)
        if own is not None:
            rows = rows.filter(**{f"{key}__in": own})
        for pk, at in rows.order_by("-history_date").values_list(key, "history_date")[
            : MAX_RECORDS * 5
        ]:
            if pk not in found or at > found[pk]:
                found[pk] = at
    return sorted(found, key=lambda pk: found[pk], reverse=True)[:MAX_RECORDS]


def audit_entries(user: User, wanted: AuditFilter) -> list[Entry]:
    """Changes the user may read, newest first, filtered by record type, person and date
    (of the change); the histories of at most MAX_RECORDS records (the newest) per type."""
    types = [wanted.record_type] if wanted.record_type in _MODELS else list(_MODELS)
    entries: list[Entry] = []
    names = _Names()
    for record_type in types:
        ids = _candidate_ids(user, record_type, wanted)
        if not ids:
            continue
        grouped = _grouped(
            _versions(record_type, ids, names), _record_names(record_type, ids, names)
        )
        entries += [
            e
            for e in grouped
            if (not wanted.user or e.user == wanted.user)
            and (not wanted.date_from or e.at.date() >= wanted.date_from)
            and (not wanted.date_to or e.at.date() <= wanted.date_to)
        ]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def audit_people(user: User) -> list[str]:
    """Usernames that appear in the audit trail, for the person filter (staff: everyone who
    ever saved a record; a health worker: themself)."""
    if sees_all_records(user):
        return list(
            get_user_model().objects.order_by("username").values_list("username", flat=True)
        )
    if has_role(user, Role.HEALTH_WORKER) and user.is_authenticated:
        return [user.get_username()]
    return []


CSV_HEADER = (
    "at",
    "user",
    "action",
    "record_type",
    "record_id",
    "record",
    "field",
    "old",
    "new",
    "reason",
)


def audit_csv_rows(entries: Iterable[Entry]) -> Iterable[tuple[Any, ...]]:
    """One row per changed field (an entry without field changes: one row with none)."""
    for entry in entries:
        base = (
            entry.at.isoformat(),
            entry.user,
            entry.action,
            entry.record_type,
            entry.record_id,
            entry.record,
        )
        for change in entry.changes or (Change("", "", ""),):
            yield (*base, change.label, change.old, change.new, entry.reason)
