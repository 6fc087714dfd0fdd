"""The visit form generated from the vocabulary: what it asks, its version, and ODK Validate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyxform.validators import odk_validate

from openrosa.xforms import FORM_ID, RESIDENT_FORM_ID, build_spec, xform, xlsform
from surveys.models import Area, VocabularyCode
from tests.conftest import in_ci


def codes() -> list[VocabularyCode]:
    return list(VocabularyCode.objects.filter(active=True))


def areas() -> list[Area]:
    return [Area(code="A", name="Area A", latitude=0, longitude=0)]


@pytest.mark.django_db
def test_the_generated_xform_passes_odk_validate(tmp_path: Path) -> None:
    """ODK's own engine (ODK_Validate.jar, shipped in pyxform) needs Java: in CI a missing
    Java is a failure (.ci/run installs default-jre-headless), elsewhere a skip."""
    if shutil.which("java") is None:
        if in_ci():
            pytest.fail("java is missing: install default-jre-headless (see .ci/run)")
        pytest.skip("java is not installed")
    for form_id in (FORM_ID, RESIDENT_FORM_ID):
        path = tmp_path / f"{form_id}.xml"
        path.write_text(xform(build_spec(codes(), areas(), form_id)), encoding="utf-8")
        warnings = odk_validate.check_xform(str(path))  # raises ODKValidateError when invalid
        assert isinstance(warnings, list)


@pytest.mark.django_db
def test_a_broken_xform_fails_odk_validate(tmp_path: Path) -> None:
    """The check above can fail: a question whose node is missing from the instance."""
    if shutil.which("java") is None:
        pytest.skip("java is not installed")
    text = xform(build_spec(codes(), areas())).replace("<study_id/>", "", 1)
    path = tmp_path / "broken.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(odk_validate.ODKValidateError):
        odk_validate.check_xform(str(path))


@pytest.mark.django_db
def test_the_form_takes_ranges_units_and_required_answers_from_the_vocabulary() -> None:
    spec = build_spec(codes(), areas())
    rows = {row["name"]: row for row in xlsform(spec)["survey"]}
    lead = rows["c_lab_blood_lead_value"]
    # 0–200 µg/dL, also when the worker picks µmol/L (factor 20.72).
    assert (
        "${c_lab_blood_lead_unit} = 'u0' and . * 1.0 >= 0.0 and . * 1.0 <= 200.0"
        in (lead["constraint"])
    )
    assert ". * 20.72 <= 200.0" in lead["constraint"]
    assert lead["required"] == "yes"
    assert rows["visited_on"]["constraint"] == ". <= today()"
    assert rows["study_id"]["required"] == "yes"
    assert rows["c_symptom_cough"]["label"] == "Cough"
    assert "pm2_5" not in str(rows)  # pollutants are not asked at a visit
    units = [
        c["label"] for c in xlsform(spec)["choices"] if c["list_name"] == "c_lab_blood_lead_units"
    ]
    assert units == list(VocabularyCode.objects.get(code="lab.blood_lead").accepted_units)


@pytest.mark.django_db
def test_a_vocabulary_change_gives_a_new_form_version() -> None:
    before = build_spec(codes(), areas()).version
    assert build_spec(codes(), areas()).version == before  # stable
    VocabularyCode.objects.filter(code="lab.blood_lead").update(max_value=150)
    changed = build_spec(codes(), areas())
    assert changed.version != before
    assert f'version="{changed.version}"' in xform(changed)
    VocabularyCode.objects.filter(code="symptom.headache").update(active=False)
    assert build_spec(codes(), areas()).version not in {before, changed.version}
