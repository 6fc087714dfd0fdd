"""The monitoring world: a water station and an air station, a community monitor assigned to the
water station only, and the shared cast (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from tests.conftest import make_user

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from surveys.models import Station


@pytest.fixture
def water_station(db: None) -> Station:
    from surveys.models import Station

    return Station.objects.create(
        code="W-01", name="River at the bridge", medium="water", latitude=24.9, longitude=110.1
    )


@pytest.fixture
def air_station(db: None) -> Station:
    from surveys.models import Station

    return Station.objects.create(
        code="A-01", name="School roof", medium="air", latitude=24.8, longitude=110.2
    )


@pytest.fixture
def monitor(db: None, water_station: Station) -> User:
    from healthwatch.roles import Role
    from monitoring.models import MonitorAssignment

    user = make_user("ana_sampler", Role.COMMUNITY_MONITOR)
    MonitorAssignment.objects.create(monitor=user, station=water_station)
    return user


@pytest.fixture
def an_hour_ago() -> dt.datetime:
    from django.utils import timezone

    return timezone.now() - dt.timedelta(hours=1)


def publish() -> None:
    """What the worker does after monitoring writes: refresh the public snapshot. (Tests run in
    a transaction that never commits, so the writes' on-commit enqueueing does not happen.)"""
    from monitoring.tasks import sweep_public

    sweep_public()
