"""The access chokepoints: who sees which residents and monitoring data."""

import pytest
from django.contrib.auth.models import AnonymousUser, User

from surveys.models import Area, Resident, Station
from surveys.pseudonyms import pseudonymize
from surveys.selectors import (
    areas_for_user,
    measurements_for_user,
    residents_for_user,
    stations_for_user,
)


def resident_in(area: Area, study_id: str) -> Resident:
    p = pseudonymize(study_id)
    return Resident.objects.create(
        pseudonym=p.value,
        key_version=p.key_version,
        area=area,
        birth_year=1980,
        sex="F",
        enrolled_on="2024-01-10",
    )


@pytest.mark.django_db
def test_health_workers_see_only_residents_of_their_areas(
    worker_a: User, worker_b: User, area_a: Area, area_b: Area
) -> None:
    in_a = resident_in(area_a, "HW-1")
    in_b = resident_in(area_b, "HW-2")
    assert list(residents_for_user(worker_a)) == [in_a]
    assert list(residents_for_user(worker_b)) == [in_b]
    assert list(areas_for_user(worker_a)) == [area_a]


@pytest.mark.django_db
def test_epidemiologists_see_every_resident_and_reviewers_none(
    epidemiologist: User, community_reviewer: User, area_a: Area, area_b: Area
) -> None:
    resident_in(area_a, "HW-1")
    resident_in(area_b, "HW-2")
    assert residents_for_user(epidemiologist).count() == 2
    assert residents_for_user(community_reviewer).count() == 0
    assert residents_for_user(AnonymousUser()).count() == 0


@pytest.mark.django_db
def test_monitoring_data_is_visible_to_every_staff_role_but_not_through_the_staff_path_anonymously(
    community_reviewer: User, worker_b: User
) -> None:
    Station.objects.create(code="S1", name="S1", medium="air", latitude=25, longitude=110)
    assert stations_for_user(community_reviewer).count() == 1
    assert stations_for_user(worker_b).count() == 1
    assert stations_for_user(AnonymousUser()).count() == 0
    assert measurements_for_user(AnonymousUser()).count() == 0
