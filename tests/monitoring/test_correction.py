"""A validator corrects a reading's value through a form: a new preliminary version pointing to
the old one, which is kept as it was (value, status, reason); nothing is overwritten."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User

from monitoring.models import Reading
from surveys.models import Station
from tests.conftest import client_for
from tests.i18n import dec
from tests.monitoring.test_open_data_and_pages import record_and_validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def validated(
    monitor: User, epidemiologist: User, water_station: Station, an_hour_ago: dt.datetime
) -> Reading:
    return record_and_validate(monitor, epidemiologist, water_station, an_hour_ago)


def url(reading: Reading) -> str:
    return f"/monitoring/readings/{reading.pk}/correct/"


def test_a_validator_reaches_the_correction_form_from_the_validation_page(
    validated: Reading, epidemiologist: User
) -> None:
    client = client_for(epidemiologist)
    page = client.get("/monitoring/validation/").content.decode()
    assert f'href="{url(validated)}"' in page  # under "Validated and invalid readings"
    form = client.get(url(validated)).content.decode()
    assert f"{dec('2.400')} mg/L" in form and "QC passed" in form and 'data-form="correct"' in form


def test_a_correction_is_a_new_version_and_the_old_reading_is_kept_as_it_was(
    validated: Reading, epidemiologist: User
) -> None:
    response = client_for(epidemiologist).post(
        url(validated), {"value": "2.5", "unit": "mg/L", "reason": "transcription error"}
    )
    assert response.status_code == 302 and response["Location"] == "/monitoring/validation/"
    old, new = Reading.objects.order_by("id")
    assert (old.pk, old.value, old.status, old.status_reason) == (
        validated.pk,
        2.4,
        "validated",
        "QC passed",
    )
    assert (new.value, new.status, new.corrects_id) == (2.5, "preliminary", old.pk)
    assert new.history.earliest().history_change_reason == "transcription error"
    queue = client_for(epidemiologist).get("/monitoring/validation/").content.decode()
    assert f'data-reading="{new.pk}"' in queue  # the new version waits for validation
    assert f'data-decided="{old.pk}"' not in queue  # the old one is no longer correctable


def test_a_correction_without_a_reason_is_refused_next_to_the_field_and_stores_nothing(
    validated: Reading, epidemiologist: User
) -> None:
    response = client_for(epidemiologist).post(url(validated), {"value": "2.5", "unit": "mg/L"})
    assert response.status_code == 400
    assert 'data-error-for="reason"' in response.content.decode()
    assert Reading.objects.count() == 1


def test_a_reading_already_corrected_cannot_be_corrected_again(
    validated: Reading, epidemiologist: User
) -> None:
    client = client_for(epidemiologist)
    client.post(url(validated), {"value": "2.5", "unit": "mg/L", "reason": "re-run"})
    new = Reading.objects.get(corrects=validated)
    page = client.get(url(validated)).content.decode()
    assert f'data-corrected-by="{new.pk}"' in page and 'data-form="correct"' not in page
    again = client.post(url(validated), {"value": "9", "unit": "mg/L", "reason": "again"})
    assert again.status_code == 400 and Reading.objects.count() == 2


def test_only_validators_correct_readings(
    validated: Reading, monitor: User, community_reviewer: User
) -> None:
    for user in (monitor, community_reviewer):
        response = client_for(user).post(
            url(validated), {"value": "1", "unit": "mg/L", "reason": "x"}
        )
        assert response.status_code == 403
    assert Reading.objects.count() == 1
