"""Quality rules: hand-built values checked against statistics computed here, on both paths.

The rules (surveys.quality): a biomarker above 10× its reference level; a numeric value more
than 3.29 standard deviations from the mean of its code and five-year age band, once that
band holds at least 30 stored values; a second visit of a resident on the same day. The
expected flags are worked out with Python's statistics module, independently of the numpy
implementation, and the form path (flag_unusual_observations, visit_record) and the CSV
import must flag the same values with the same words.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import statistics
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from surveys.importing import ImportReport, import_csv
from surveys.models import (
    AGE_BANDS,
    Area,
    CodeCategory,
    DataQualityFlag,
    ImportRecord,
    Observation,
    QualityFlagKind,
    Resident,
    Visit,
    VocabularyCode,
)
from surveys.pseudonyms import pseudonymize
from surveys.quality import (
    LOG_SCALE_CODES,
    flag_same_day_visits,
    flag_same_day_visits_of_import,
    flag_unusual_observations,
)
from surveys.services import ObservationInput, visit_record

TODAY = dt.date(2026, 6, 30)
DAY = dt.date(2024, 3, 1)
HEADER = "study_id,observed_on,code,value,unit,below_lod,lod\n"

NORMAL = [round(1.0 + 0.05 * i, 2) for i in range(38)]  # 1.00 … 2.85 µg/dL
MODERATE = 8.5  # about 3.15 SD from its band's mean: unusual, but not beyond 3.29 SD
FAR = 12.0  # about 5 SD from its band's mean, yet below 10 × 3.5 µg/dL
BAND = "40-44"
Flags = set[tuple[str, str, str, str]]  # (study ID or pseudonym, code, kind, detail)


@dataclass(frozen=True)
class Entry:
    """One observation as a CSV row gives it, and the resident it belongs to."""

    study_id: str
    birth_year: int
    code: str
    value: str
    unit: str = ""
    below_lod: str = ""
    lod: str = ""
    day: dt.date = DAY

    def csv(self) -> str:
        return (
            f"{self.study_id},{self.day},{self.code},{self.value},{self.unit},"
            f"{self.below_lod},{self.lod}\n"
        )


def lead(study_id: str, birth_year: int, value: str, unit: str = "µg/dL") -> Entry:
    return Entry(study_id, birth_year, "lab.blood_lead", value, unit)


def hand_built() -> list[Entry]:
    """40 blood lead values in the 40-44 band (one far outlier, one moderate), a few in
    neighbouring bands, values around 10× the reference in the 20-24 band, and rows that
    must never be flagged (yes/no codes, below the detection limit, a measure with no
    reference level)."""
    entries = [
        lead(f"Q-40-{i:02d}", 1980 + i % 5, f"{value:g}")  # ages 40 … 44 in 2024
        for i, value in enumerate([*NORMAL, MODERATE, FAR])
    ]
    entries += [
        lead("Q-39", 1985, "30"),  # age 39: band 35-39, alone there
        lead("Q-45", 1979, "30"),  # age 45: band 45-49, alone there
        lead("Q-20-1", 2004, "2.0"),
        lead("Q-20-2", 2003, "35"),  # exactly 10× the reference: not above it
        lead("Q-20-3", 2002, "35.5"),
        lead("Q-20-4", 2001, "2", "µmol/L"),  # 41.44 µg/dL
        Entry("Q-20-4", 2001, "vital.bmi", "90", "kg/m²"),
        Entry("Q-20-4", 2001, "symptom.cough", "yes"),
        Entry("Q-20-1", 2004, "lab.urine_cadmium", "", "µg/L", "true", "0.2"),
    ]
    return entries


# --- what the rules say, worked out here ---------------------------------------------------


def canonical(entry: Entry, codes: dict[str, VocabularyCode]) -> float | None:
    if entry.value == "" or not codes[entry.code].is_numeric:
        return None
    return float(entry.value) * float(codes[entry.code].accepted_units[entry.unit])


def band_of(entry: Entry) -> str:
    age = entry.day.year - entry.birth_year
    return f"{age // 5 * 5}-{age // 5 * 5 + 4}" if age < 85 else "85+"


def on_rule_scale(code: str, value: float) -> float | None:
    """The value as the outlier rule of its code sees it: the log of a log-normal biomarker."""
    if code in LOG_SCALE_CODES:
        return math.log(value) if value > 0 else None
    return value


def expected_flags(entries: list[Entry]) -> Flags:
    """(study ID, code, kind, detail) of every flag the rules give, from statistics."""
    codes = {c.code: c for c in VocabularyCode.objects.all()}
    groups: dict[tuple[str, str], list[float]] = {}
    for entry in entries:
        value = canonical(entry, codes)
        scaled = None if value is None else on_rule_scale(entry.code, value)
        if scaled is not None:
            groups.setdefault((entry.code, band_of(entry)), []).append(scaled)
    flags = set()
    for entry in entries:
        value = canonical(entry, codes)
        if value is None:
            continue
        code = codes[entry.code]
        if (
            code.category == CodeCategory.BIOMARKER
            and code.reference_level
            and value > 10 * code.reference_level
        ):
            detail = (
                f"{code.label} = {value:g} {code.canonical_unit}, more than 10× the reference "
                f"level {code.reference_level:g}."
            )
            flags.add((entry.study_id, code.code, QualityFlagKind.ABOVE_REFERENCE.value, detail))
        scaled = on_rule_scale(entry.code, value)
        group = groups.get((entry.code, band_of(entry)), [])
        if scaled is None or len(group) < 30:
            continue
        mean, sd = statistics.mean(group), statistics.stdev(group)
        if abs(scaled - mean) > 3.29 * sd:
            distance, band, n = abs(scaled - mean) / sd, band_of(entry), len(group)
            if entry.code in LOG_SCALE_CODES:
                where = (
                    f"{distance:.1f} SD of log values from the geometric mean "
                    f"{math.exp(mean):.3g} of age band {band} (n={n})."
                )
            else:
                where = f"{distance:.1f} SD from the mean {mean:.3g} of age band {band} (n={n})."
            detail = f"{code.label} = {value:g} {code.canonical_unit} is {where}"
            flags.add((entry.study_id, code.code, QualityFlagKind.OUTLIER.value, detail))
    return flags


# --- the two paths -------------------------------------------------------------------------


def register(entries: list[Entry], area: Area) -> None:
    for study_id, birth_year in dict((e.study_id, e.birth_year) for e in entries).items():
        Resident.objects.get_or_create(
            pseudonym=pseudonymize(study_id).value,
            defaults={
                "key_version": 1,
                "area": area,
                "birth_year": birth_year,
                "sex": "F",
                "enrolled_on": dt.date(2020, 1, 1),
            },
        )


def import_rows(entries: list[Entry], user: User | None = None) -> ImportReport:
    content = (HEADER + "".join(e.csv() for e in entries)).encode("utf-8")
    report = import_csv(
        kind="observations",
        stream=io.BytesIO(content),
        file_name="observations.csv",
        user=user,
        today=TODAY,
    )
    assert report.ok, report.errors
    return report


def store_and_flag_like_the_form(entries: list[Entry]) -> None:
    """Visits and observations saved directly, then flag_unusual_observations over them."""
    codes = {c.code: c for c in VocabularyCode.objects.all()}
    visits: dict[tuple[str, dt.date], Visit] = {}
    observations = []
    for entry in entries:
        key = (entry.study_id, entry.day)
        if key not in visits:
            resident = Resident.objects.get(pseudonym=pseudonymize(entry.study_id).value)
            visits[key] = Visit.objects.create(resident=resident, visited_on=entry.day)
        code = codes[entry.code]
        observations.append(
            Observation.objects.create(
                visit=visits[key],
                code=code,
                value=canonical(entry, codes),
                value_boolean=(
                    None if code.is_numeric else entry.value.lower() in {"yes", "true", "1", "y"}
                ),
                entered_unit=entry.unit,
                below_lod=entry.below_lod == "true",
                lod=float(entry.lod) if entry.lod else None,
            )
        )
    flag_unusual_observations(observations)


def stored_flags() -> Flags:
    """(resident pseudonym, code, kind, detail) of every observation's flag."""
    return set(
        DataQualityFlag.objects.filter(observation__isnull=False).values_list(
            "observation__visit__resident__pseudonym", "observation__code__code", "kind", "detail"
        )
    )


def by_study_id(flags: Flags, entries: list[Entry]) -> Flags:
    names = {pseudonymize(e.study_id).value: e.study_id for e in entries}
    return {(names[p], code, kind, detail) for p, code, kind, detail in flags}


def flags_after(path: str, entries: list[Entry], area: Area) -> Flags:
    """The flags of one path, in a savepoint that is rolled back (both paths start alike)."""
    with transaction.atomic():
        register(entries, area)
        if path == "import":
            import_rows(entries)
        else:
            store_and_flag_like_the_form(entries)
        flags = by_study_id(stored_flags(), entries)
        transaction.set_rollback(True)
    return flags


# --- the tests -----------------------------------------------------------------------------


def logs(values: list[float]) -> list[float]:
    return [math.log(v) for v in values]


def test_the_hand_built_example_means_what_it_says() -> None:
    band = logs([*NORMAL, MODERATE, FAR])  # blood lead: the rule works on log values
    mean, sd = statistics.mean(band), statistics.stdev(band)
    assert len(band) == 40
    assert abs(math.log(FAR) - mean) / sd > 3.29
    assert 2.5 < abs(math.log(MODERATE) - mean) / sd < 3.29
    assert FAR < 10 * 3.5 < 35.5


def test_the_import_flags_exactly_what_the_rules_computed_with_statistics_give(
    area_a: Area,
) -> None:
    entries = hand_built()
    flags = flags_after("import", entries, area_a)
    assert flags == expected_flags(entries)
    kinds = {(study_id, kind) for study_id, _, kind, _ in flags}
    assert kinds == {
        ("Q-40-39", "outlier"),  # FAR; MODERATE (Q-40-38) stays below 3.29 SD
        ("Q-20-3", "above_reference"),
        ("Q-20-4", "above_reference"),
    }


def test_the_outlier_detail_gives_the_distance_the_geometric_mean_the_band_and_n(
    area_a: Area,
) -> None:
    entries = hand_built()
    flags = flags_after("import", entries, area_a)
    band = logs([*NORMAL, MODERATE, FAR])
    mean, sd = statistics.mean(band), statistics.stdev(band)
    (detail,) = [d for sid, _, kind, d in flags if kind == "outlier"]
    assert detail == (
        f"Blood lead = 12 µg/dL is {abs(math.log(FAR) - mean) / sd:.1f} SD of log values from "
        f"the geometric mean {math.exp(mean):.3g} of age band {BAND} (n=40)."
    )
    above = sorted(d for _, _, kind, d in flags if kind == "above_reference")
    assert above == [
        "Blood lead = 35.5 µg/dL, more than 10× the reference level 3.5.",
        "Blood lead = 41.44 µg/dL, more than 10× the reference level 3.5.",
    ]


def test_a_log_normal_biomarker_is_judged_on_log_values_and_a_measure_on_raw_values(
    area_a: Area,
) -> None:
    """A right-skewed blood lead series: its top value is far beyond 3.29 raw SD but an
    ordinary log-normal value; the same numbers as BMI are judged on the raw scale."""
    skewed = [round(math.exp(-1.0 + 2.0 * i / 39), 3) for i in range(39)] + [7.5]
    raw_mean, raw_sd = statistics.mean(skewed), statistics.stdev(skewed)
    log_mean, log_sd = statistics.mean(logs(skewed)), statistics.stdev(logs(skewed))
    assert abs(7.5 - raw_mean) > 3.29 * raw_sd
    assert abs(math.log(7.5) - log_mean) < 3.29 * log_sd
    entries = [lead(f"S-{i:02d}", 1982, f"{value:g}") for i, value in enumerate(skewed)] + [
        Entry(f"S-{i:02d}", 1982, "vital.bmi", f"{10 + value * 10:g}", "kg/m²")
        for i, value in enumerate(skewed)
    ]
    flags = flags_after("import", entries, area_a)
    assert flags == expected_flags(entries)
    assert {(sid, code) for sid, code, _, _ in flags} == {("S-39", "vital.bmi")}


def test_a_log_scale_code_never_flags_a_zero_it_has_no_logarithm(area_a: Area) -> None:
    values = [round(1.0 + 0.01 * i, 2) for i in range(39)] + [0.0]
    entries = [lead(f"Z-{i:02d}", 1982, f"{value:g}") for i, value in enumerate(values)]
    assert abs(0.0 - statistics.mean(values)) > 3.29 * statistics.stdev(values)
    assert flags_after("import", entries, area_a) == set()
    assert flags_after("form", entries, area_a) == set()


def test_the_form_path_and_the_import_flag_the_same_values_with_the_same_words(
    area_a: Area,
) -> None:
    entries = hand_built()
    from_form = flags_after("form", entries, area_a)
    from_import = flags_after("import", entries, area_a)
    assert from_form == from_import == expected_flags(entries)


@pytest.mark.parametrize("n", [29, 30])
def test_no_outlier_flag_until_the_band_holds_thirty_values(area_a: Area, n: int) -> None:
    """The extreme BMI is beyond 3.29 SD either way; only n decides."""
    values = [22 + 0.25 * (i % 9) for i in range(n - 1)]
    assert abs(60 - statistics.mean([*values, 60])) > 3.29 * statistics.stdev([*values, 60])
    normal = [
        Entry(f"B-{i:02d}", 1962, "vital.bmi", f"{value:g}", "kg/m²")
        for i, value in enumerate(values)
    ]
    extreme = Entry("B-XX", 1961, "vital.bmi", "60", "kg/m2")  # age 63: the same band
    register([*normal, extreme], area_a)
    first = import_rows(normal[:-1])  # stored earlier, fewer than 30: nothing to flag
    assert first.created == n - 2
    assert not DataQualityFlag.objects.exists()
    import_rows([normal[-1], extreme])  # the band now holds n values
    flags = by_study_id(stored_flags(), [*normal, extreme])
    if n < 30:
        assert flags == set()
    else:
        assert {(sid, kind) for sid, _, kind, _ in flags} == {("B-XX", "outlier")}
        assert flags == expected_flags([*normal, extreme])


def test_a_value_entered_with_the_form_is_flagged_like_the_same_value_imported(
    worker_a: User, area_a: Area
) -> None:
    entries = hand_built()[:40]  # the 40-44 band
    odd = lead("Q-ODD", 1982, "20")
    register([*entries, odd], area_a)
    import_rows(entries)
    resident = Resident.objects.get(pseudonym=pseudonymize("Q-ODD").value)

    def flags_of_odd() -> set[tuple[str, str]]:
        return {
            (kind, detail)
            for kind, detail in DataQualityFlag.objects.filter(
                observation__visit__resident=resident
            ).values_list("kind", "detail")
        }

    with transaction.atomic():
        import_rows([odd], user=worker_a)
        imported = flags_of_odd()
        transaction.set_rollback(True)
    with transaction.atomic():
        visit_record(
            user=worker_a,
            resident=resident,
            visited_on=DAY,
            observations=[ObservationInput("lab.blood_lead", "20", "µg/dL")],
            today=TODAY,
        )
        entered = flags_of_odd()
        transaction.set_rollback(True)
    band = logs([*NORMAL, MODERATE, FAR, 20.0])
    mean, sd = statistics.mean(band), statistics.stdev(band)
    assert abs(math.log(20) - mean) > 3.29 * sd
    detail = (
        f"Blood lead = 20 µg/dL is {abs(math.log(20) - mean) / sd:.1f} SD of log values from "
        f"the geometric mean {math.exp(mean):.3g} of age band {BAND} (n=41)."
    )
    assert imported == entered == {("outlier", detail)}


def test_a_second_import_of_the_same_file_adds_no_flags(area_a: Area) -> None:
    entries = hand_built()
    register(entries, area_a)
    import_rows(entries)
    before = stored_flags()
    report = import_rows(entries)
    assert (report.created, report.unchanged) == (0, len(entries))
    assert stored_flags() == before and DataQualityFlag.objects.count() == len(before)


def test_age_bands_are_the_calendar_year_of_the_visit_minus_the_birth_year() -> None:
    assert AGE_BANDS[0] == "0-4" and AGE_BANDS[-1] == "85+"
    assert band_of(lead("x", 1979, "1")) == "45-49"
    assert band_of(lead("x", 1984, "1")) == "40-44"
    assert band_of(lead("x", 1985, "1")) == "35-39"


# --- same-day visits of an import ----------------------------------------------------------


def _resident(study_id: str, area: Area) -> Resident:
    register([lead(study_id, 1970, "1")], area)
    return Resident.objects.get(pseudonym=pseudonymize(study_id).value)


def _record() -> ImportRecord:
    return ImportRecord.objects.create(kind="observations", file_name="x.csv", sha256="0" * 64)


def test_an_imports_visit_with_a_sibling_on_the_same_day_is_flagged_and_nothing_else(
    area_a: Area,
) -> None:
    one, two = _resident("S-1", area_a), _resident("S-2", area_a)
    record, other_record = _record(), _record()
    imported = Visit.objects.create(resident=one, visited_on=DAY, import_record=record)
    sibling = Visit.objects.create(resident=one, visited_on=DAY)  # e.g. entered with the form
    alone = Visit.objects.create(resident=one, visited_on=DAY.replace(day=2), import_record=record)
    other_resident = Visit.objects.create(resident=two, visited_on=DAY, import_record=record)
    of_another_import = Visit.objects.create(
        resident=two, visited_on=DAY.replace(day=3), import_record=other_record
    )
    Visit.objects.create(resident=two, visited_on=DAY.replace(day=3))

    assert flag_same_day_visits_of_import(record.pk) == 1
    flag = DataQualityFlag.objects.get()
    assert (flag.kind, flag.visit, flag.observation) == (
        QualityFlagKind.SAME_DAY_VISIT,
        imported,
        None,
    )
    assert flag.detail == f"Another visit of this resident is recorded on {DAY}."
    unflagged = {sibling, alone, other_resident, of_another_import}
    assert not DataQualityFlag.objects.filter(visit__in=unflagged).exists()


def test_the_import_flag_of_a_same_day_visit_is_the_one_the_form_path_gives(
    area_a: Area,
) -> None:
    resident = _resident("S-1", area_a)
    record = _record()
    imported = Visit.objects.create(resident=resident, visited_on=DAY, import_record=record)
    Visit.objects.create(resident=resident, visited_on=DAY)
    with transaction.atomic():
        flag_same_day_visits([imported])
        by_form = list(DataQualityFlag.objects.values_list("kind", "visit_id", "detail"))
        transaction.set_rollback(True)
    flag_same_day_visits_of_import(record.pk)
    assert list(DataQualityFlag.objects.values_list("kind", "visit_id", "detail")) == by_form
    assert len(by_form) == 1


def test_two_visits_of_one_import_on_the_same_day_are_both_flagged_once(area_a: Area) -> None:
    resident = _resident("S-1", area_a)
    record = _record()
    visits = [
        Visit.objects.create(resident=resident, visited_on=DAY, import_record=record)
        for _ in range(2)
    ]
    assert flag_same_day_visits_of_import(record.pk) == 2
    flag_same_day_visits_of_import(record.pk)  # again: no second flag per visit
    assert sorted(DataQualityFlag.objects.values_list("visit_id", flat=True)) == sorted(
        v.pk for v in visits
    )


def test_an_import_that_joins_a_stored_visit_of_that_day_flags_no_same_day_visit(
    area_a: Area,
) -> None:
    resident = _resident("S-1", area_a)
    stored = Visit.objects.create(resident=resident, visited_on=DAY)
    report = import_rows([Entry("S-1", 1970, "symptom.cough", "no")])
    assert report.created == 1
    assert Visit.objects.count() == 1 and stored.observations.count() == 1
    assert not DataQualityFlag.objects.exists()
