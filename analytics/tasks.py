"""Analysis tasks. Thin: ids in, a service call. Late acknowledgement (see celery.py) means a
worker killed mid-task leaves the message for another worker; the services are idempotent."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from analytics import services
from analytics.models import RunTrigger

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)


@shared_task(
    name="analytics.tasks.start_run",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def start_run(run_id: int) -> None:
    services.analysis_run_start(run_id=run_id)


@shared_task(
    name="analytics.tasks.compute_part",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def compute_part(run_id: int, part_name: str) -> None:
    services.analysis_part_compute(run_id=run_id, part_name=part_name)


@shared_task(
    name="analytics.tasks.draw_charts_in_languages",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
)
def draw_charts_in_languages(result_set_id: int) -> None:
    services.result_set_charts_translate(result_set_id=result_set_id)


@shared_task(name="analytics.tasks.nightly_run")
def nightly_run() -> None:
    services.analysis_run_request(user=None, trigger=RunTrigger.NIGHTLY)


@shared_task(name="analytics.tasks.sweep_runs")
def sweep_runs() -> None:
    """Every minute (healthwatch/schedules.py): re-queue or fail what lost workers left."""
    services.analysis_runs_sweep()


@shared_task(name="analytics.tasks.run_after_import")
def run_after_import() -> None:
    services.analysis_run_request_after_import()
