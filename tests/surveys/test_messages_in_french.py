"""Refusals and flag details read in the reader's language (issue #15), checked in French.

The other tests look wording up in the catalogue (tests/i18n.py), so they pass in any language
even where a message has no translation; these spell out the French a health worker reads, so a
message left in English — or a row or column left out of it — fails here. Codes, column names
and values stay as they are inside the French sentence.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.auth.models import User
from django.utils import translation
from rest_framework.test import APIClient

from surveys import services
from surveys.importing import import_csv
from surveys.models import Area, VocabularyCode
from surveys.quality import DETAIL_OUTLIER, DETAIL_SAME_DAY, detail_text
from surveys.services import ValidationProblem
from surveys.validation import FieldError
from tests.i18n import label_of, t

pytestmark = pytest.mark.django_db


def typeset(text: str) -> str:
    """French as the catalogue writes it: a no-break space before : and ; and inside « »."""
    for plain, tied in ((" :", "\u00a0:"), (" ;", "\u00a0;"), ("« ", "«\u00a0"), (" »", "\u00a0»")):
        text = text.replace(plain, tied)
    return text


RESIDENTS = (
    "study_id,area_code,birth_year,sex,enrolled_on,latitude,longitude,works_at_site,smoking\n"
)


def import_in_french(kind: str, content: str, user: User | None = None) -> list[str]:
    with translation.override("fr"):
        report = import_csv(
            kind=kind,
            stream=io.BytesIO(content.encode()),
            file_name=f"{kind}.csv",
            user=user,
            today=dt.date(2026, 1, 1),
        )
        return [str(error) for error in report.errors]


def test_an_import_refusal_in_french_names_the_row_the_column_and_what_is_wrong(
    area_a: Area,
) -> None:
    errors = import_in_french("residents", RESIDENTS + "R-1,ZZ,1970,F,2024-01-01,,,,\n")
    assert errors == [typeset("ligne 2, colonne area_code, valeur « ZZ » : zone « ZZ » inconnue.")]


def test_a_refusal_for_an_area_not_assigned_to_the_worker_reads_in_french(
    worker_b: User, area_a: Area
) -> None:
    errors = import_in_french("residents", RESIDENTS + "R-1,A,1970,F,2024-01-01,,,,\n", worker_b)
    assert errors == [
        typeset(
            "ligne 2, colonne area_code, valeur « A » : vous n’êtes pas affecté(e) à la zone A."
        )
    ]


def test_header_and_row_shape_problems_read_in_french_with_a_plural_that_agrees(db: None) -> None:
    errors = import_in_french("areas", "area_code,name,latitude\nA,Area A,25\n")
    assert errors == [
        typeset("ligne 1, colonne longitude, valeur «  » : colonne « longitude » manquante.")
    ]
    errors = import_in_french("areas", "area_code,name,latitude,longitude\nA,Area A,25\n")
    assert errors == [
        typeset(
            "ligne 2, colonne , valeur «  » : cette ligne a 3 cellules mais l’en-tête en a 4 ; "
            "vérifiez s’il manque une virgule ou s’il y en a une de trop."
        )
    ]
    errors = import_in_french("areas", "area_code,name,latitude,longitude\nA\n")
    assert "cette ligne a 1 cellule mais l’en-tête en a 4" in errors[0]


def test_a_duplicate_observation_key_reads_in_french_and_keeps_the_column_names(
    area_a: Area,
) -> None:
    assert not import_in_french("residents", RESIDENTS + "R-1,A,1970,F,2024-01-01,,,,\n")
    row = "R-1,2024-02-01,symptom.cough,yes,,,\n"
    errors = import_in_french(
        "observations", "study_id,observed_on,code,value,unit,below_lod,lod\n" + row + row
    )
    assert errors == [
        typeset(
            "ligne 3, colonne study_id, valeur «  » : clé en double : les mêmes identifiant "
            "d’étude, observed_on et code figurent aussi à la ligne 2 ; chaque clé ne peut "
            "apparaître qu’une fois par fichier."
        )
    ]


def test_service_refusals_read_in_french(worker_a: User, worker_b: User, area_a: Area) -> None:
    def register(user: User, study_id: str) -> None:
        services.resident_register(
            user=user,
            study_id=study_id,
            area=area_a,
            birth_year=1970,
            sex="F",
            enrolled_on=dt.date(2024, 1, 1),
            latitude=None,
            longitude=None,
        )

    register(worker_a, "HW-1")
    with translation.override("fr"):
        with pytest.raises(ValidationProblem) as outside:
            register(worker_b, "HW-2")
        with pytest.raises(ValidationProblem) as twice:
            register(worker_a, "hw-1")
    assert outside.value.errors == [FieldError("area", "Vous n’êtes pas affecté(e) à la zone A.")]
    assert twice.value.errors == [
        FieldError("study_id", "Cet identifiant d’étude est déjà enregistré.")
    ]


def test_api_refusals_read_in_the_language_the_client_asks_for(worker_a: User) -> None:
    client = APIClient()
    client.force_authenticate(worker_a)
    denied = client.get("/api/v1/quality-flags/", HTTP_ACCEPT_LANGUAGE="fr")
    assert denied.status_code == 403
    assert denied.json()["detail"] == "Votre rôle ne donne pas accès à ceci."


def test_a_stored_flag_detail_is_shown_in_the_readers_language_with_the_codes_label(
    db: None,
) -> None:
    lead = VocabularyCode.objects.get(code="lab.blood_lead")
    stored = DETAIL_OUTLIER % {
        "label": lead.label,
        "value": "20",
        "unit": lead.canonical_unit,
        "distance": "3.5",
        "mean": "4.1",
        "band": "55-59",
        "n": 40,
    }
    with translation.override("fr"):
        shown = detail_text(stored)
        label = label_of("lab.blood_lead")
        assert shown == t(
            DETAIL_OUTLIER,
            label=label,
            value="20",
            unit=lead.canonical_unit,
            distance="3,5",
            mean="4,1",
            band="55-59",
            n="40",
        )
        assert "à 3,5 écarts-types de la moyenne 4,1 de la tranche d’âge 55-59" in shown
        same_day = detail_text(DETAIL_SAME_DAY % {"date": dt.date(2024, 3, 1)})
    assert same_day == "Une autre visite de cet habitant est enregistrée le 01/03/2024."
    with translation.override("en"):
        assert detail_text(stored) == stored  # English: the stored words themselves


def test_a_detail_in_no_known_wording_is_shown_as_stored(db: None) -> None:
    with translation.override("fr"):
        assert detail_text("checked by hand in 2023") == "checked by hand in 2023"


def test_a_background_import_words_its_report_in_the_requesters_saved_language(
    admin_user: User,
) -> None:
    from healthwatch.i18n import save_language
    from surveys.importing.jobs import import_job_run
    from surveys.models import ImportJob, ImportJobChunk

    save_language(admin_user, "fr")
    content = b"station_code,name,medium,latitude,longitude\nS1,One,mud,25,110\n"
    job = ImportJob.objects.create(
        kind="stations", file_name="s.csv", size=len(content), requested_by=admin_user
    )
    ImportJobChunk.objects.create(job=job, seq=0, data=content)
    with translation.override("en"):  # the worker's own language
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.report is not None
    assert [(e["row"], e["column"], e["reason"]) for e in job.report["errors"]] == [
        (2, "medium", typeset("« mud » ne fait pas partie des valeurs admises : air, water, soil."))
    ]
