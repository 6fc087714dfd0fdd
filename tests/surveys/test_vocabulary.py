import pytest

from surveys.models import CodeKind, VocabularyCode
from surveys.vocabulary import read_vocabulary


@pytest.mark.django_db
def test_the_migration_loads_every_code_of_the_shipped_vocabulary() -> None:
    _, codes = read_vocabulary("1")
    assert VocabularyCode.objects.count() == len(codes) == 31
    lead = VocabularyCode.objects.get(code="lab.blood_lead")
    assert (lead.canonical_unit, lead.loinc, lead.reference_level) == ("µg/dL", "5671-3", 3.5)
    assert VocabularyCode.objects.get(code="dx.J45").icd10 == "J45"
    assert VocabularyCode.objects.get(code="fluoride").reference_level == 1.5


def test_every_numeric_code_accepts_its_canonical_unit_with_factor_one() -> None:
    _, codes = read_vocabulary("1")
    for entry in codes:
        if entry["kind"] == CodeKind.NUMERIC:
            assert entry["accepted_units"][entry["canonical_unit"]] == 1, entry["code"]
        else:
            assert "canonical_unit" not in entry, entry["code"]
