"""The public snapshot is refreshed by a worker after a monitoring write commits, never inside
the write; the refresh is idempotent, and a job queue that is down loses no write and no
refresh (the sweep serves what the queue missed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from kombu.exceptions import OperationalError as BrokerUnavailable

from monitoring import publishing, services, tasks
from monitoring.models import PublicSnapshot, Sample, SnapshotDemand
from surveys.models import Station
from tests.conftest import client_for
from tests.i18n import dec

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """What would have been sent to the job queue, instead of sending it."""
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.refresh_public, "apply_async", lambda args, **kw: sent.append(args))
    return sent


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing a task fails as kombu fails when Redis refuses the connection."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.refresh_public, "apply_async", refuse)


def _record(monitor: User, station: Station, when: dt.datetime, code: str = "S-1") -> Sample:
    return services.sample_record(user=monitor, code=code, station=station, collected_at=when)


def test_a_write_does_not_render_the_snapshot_and_enqueues_its_refresh_with_an_id_on_commit(
    monitor: User,
    water_station: Station,
    an_hour_ago: dt.datetime,
    enqueued: list[tuple[Any, ...]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _record(monitor, water_station, an_hour_ago)
        assert not PublicSnapshot.objects.exists()  # nothing rendered inside the write
    assert enqueued == []  # nothing sent before the commit
    for callback in callbacks:
        callback()
    [demand] = SnapshotDemand.objects.all()
    assert enqueued == [(demand.pk,)]
    assert not PublicSnapshot.objects.exists()


def test_the_refresh_task_serves_its_demand_once_and_a_redelivery_does_nothing(
    monitor: User, water_station: Station, an_hour_ago: dt.datetime
) -> None:
    _record(monitor, water_station, an_hour_ago, "S-1")
    _record(monitor, water_station, an_hour_ago, "S-2")
    first, second = SnapshotDemand.objects.order_by("id").values_list("id", flat=True)
    tasks.refresh_public(first)
    assert PublicSnapshot.objects.count() == 1
    assert not SnapshotDemand.objects.exists()  # the refresh covered both writes
    tasks.refresh_public(second)  # its own task, arriving late
    tasks.refresh_public(first)  # a redelivery
    assert PublicSnapshot.objects.count() == 1
    tasks.refresh_public()  # the nightly run refreshes whatever was asked
    assert PublicSnapshot.objects.count() == 2


def test_with_the_job_queue_down_the_write_is_stored_and_the_sweep_publishes_it_later(
    monitor: User,
    water_station: Station,
    epidemiologist: User,
    anonymous: Client,
    an_hour_ago: dt.datetime,
    broker_down: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(monitor).post(
            "/monitoring/my/samples/new/",
            {"code": "W-0001", "station": water_station.pk, "collected_at": "2026-01-05T09:30"},
        )
    assert response.status_code == 302  # the monitor's write succeeded ...
    assert Sample.objects.filter(code="W-0001").exists()
    assert SnapshotDemand.objects.count() == 1  # ... and its refresh is still owed
    with django_capture_on_commit_callbacks(execute=True):
        services.lab_results_attach(
            user=epidemiologist,
            results=[services.LabResult("W-0001", "fluoride", "2.4", "mg/L")],
            source="form",
        )
    assert publishing.latest() is None
    assert anonymous.get("/monitoring/stations/W-01/").status_code == 404

    tasks.sweep_public()  # the queue is back: beat runs the sweep

    assert not SnapshotDemand.objects.exists()
    page = anonymous.get("/monitoring/stations/W-01/").content.decode()
    assert "W-0001" in page and f"{dec('2.4')} mg/L" in page
    tasks.sweep_public()  # nothing owed: no new snapshot
    assert PublicSnapshot.objects.count() == 1
