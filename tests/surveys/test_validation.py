"""The value rules every entry path shares (forms, API, CSV import)."""

import datetime as dt

import pytest
from django.utils.formats import date_format

from surveys.models import VocabularyCode
from surveys.validation import (
    ValueRuleError,
    coded_value,
    parse_bool,
    parse_date,
    parse_number,
    refuse_formula,
)
from tests.i18n import rx, t


@pytest.fixture
def blood_lead(db: None) -> VocabularyCode:
    return VocabularyCode.objects.get(code="lab.blood_lead")


@pytest.fixture
def cough(db: None) -> VocabularyCode:
    return VocabularyCode.objects.get(code="symptom.cough")


def test_a_value_in_another_accepted_unit_is_stored_in_the_canonical_unit(
    blood_lead: VocabularyCode,
) -> None:
    value, errors = coded_value(blood_lead, value="0.5", unit="µmol/L")
    assert errors == []
    assert value is not None
    assert value.value == pytest.approx(10.36)  # 0.5 µmol/L × 20.72 = 10.36 µg/dL
    assert value.entered_unit == "µmol/L"


def test_a_unit_that_cannot_be_converted_is_refused_listing_the_accepted_units(
    blood_lead: VocabularyCode,
) -> None:
    value, errors = coded_value(blood_lead, value="5", unit="mg/kg", prefix="lab.blood_lead.")
    assert value is None
    assert [e.field for e in errors] == ["lab.blood_lead.unit"]
    assert errors[0].message == t(
        "unit “%(unit)s” cannot be converted to %(canonical)s for %(code)s; "
        "accepted units: %(accepted)s.",
        unit="mg/kg",
        canonical="µg/dL",
        code="lab.blood_lead",
        accepted="ug/L, ug/dL, umol/L, µg/L, µg/dL, µmol/L",
    )


def test_an_out_of_range_value_is_refused_with_the_range(blood_lead: VocabularyCode) -> None:
    value, errors = coded_value(blood_lead, value="900", unit="µg/dL")
    assert value is None
    assert errors[0].field == "value"
    assert errors[0].message == t(
        "%(value)s %(unit)s is outside the valid range for %(code)s (%(low)s–%(high)s %(unit)s).",
        value="900",
        unit="µg/dL",
        code="lab.blood_lead",
        low="0",
        high="200",
    )


def test_a_result_below_the_detection_limit_needs_the_limit_and_no_value(
    blood_lead: VocabularyCode,
) -> None:
    value, errors = coded_value(blood_lead, value="", unit="µg/dL", below_lod="true", lod="0.5")
    assert errors == [] and value is not None
    assert (value.value, value.below_lod, value.lod) == (None, True, 0.5)

    _, errors = coded_value(blood_lead, value="0.2", unit="µg/dL", below_lod="true", lod="")
    assert {e.field for e in errors} == {"lod", "value"}


def test_yes_no_codes_take_yes_no_values_and_no_unit(cough: VocabularyCode) -> None:
    value, errors = coded_value(cough, value="yes", unit="")
    assert errors == [] and value is not None and value.value_boolean is True
    _, errors = coded_value(cough, value="maybe", unit="µg/L")
    assert {e.field for e in errors} == {"unit", "value"}


def test_every_problem_of_a_value_is_reported_not_only_the_first(
    blood_lead: VocabularyCode,
) -> None:
    _, errors = coded_value(blood_lead, value="abc", unit="", below_lod="perhaps", lod="-1")
    assert {e.field for e in errors} == {"unit", "below_lod", "lod", "value"}


def test_dates_must_be_iso_and_not_in_the_future() -> None:
    today = dt.date(2026, 11, 29)
    assert parse_date("2026-11-29", today=today) == today
    with pytest.raises(
        ValueRuleError,
        match=rx(
            "%(date)s is in the future.",
            date=date_format(dt.date(2026, 11, 30), "SHORT_DATE_FORMAT"),
        ),
    ):
        parse_date("2026-11-30", today=today)
    not_iso = rx("“%(text)s” is not a date in the form YYYY-MM-DD.", text="29/11/2026")
    with pytest.raises(ValueRuleError, match=not_iso):
        parse_date("29/11/2026", today=today)


def test_numbers_must_be_finite() -> None:
    assert parse_number(" 3.5 ") == 3.5
    for bad in ("nan", "inf", "3,5", ""):
        with pytest.raises(ValueRuleError):
            parse_number(bad)


def test_booleans_accept_the_usual_spellings_only() -> None:
    assert parse_bool("TRUE") is True and parse_bool("no") is False
    with pytest.raises(ValueRuleError):
        parse_bool("x")


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2+3", "@SUM(A1)"])
def test_text_that_a_spreadsheet_would_run_as_a_formula_is_refused(text: str) -> None:
    formula = rx(
        "“%(text)s” begins with “%(first)s”, which spreadsheets run as a formula; "
        "remove the leading character.",
        text=text,
        first=text[0],
    )
    with pytest.raises(ValueRuleError, match=formula):
        refuse_formula(text)


def test_a_value_the_person_typed_is_shown_between_quotation_marks_not_as_python_wrote_it() -> None:
    with pytest.raises(ValueRuleError) as refused:
        parse_number("abc")
    assert str(refused.value) == t("“%(text)s” is not a number.", text="abc")
    assert "'abc'" not in str(refused.value)
    with pytest.raises(ValueRuleError) as refused:
        parse_bool("it's yes")
    assert str(refused.value) == t("“%(text)s” is not true or false.", text="it's yes")
    assert '"it' not in str(refused.value)
