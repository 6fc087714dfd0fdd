"""Writes of the analytics app: requesting, starting and completing analysis runs, alerts.

A run moves queued → running → succeeded | failed. Starting a run extracts the data once,
fingerprints it, and either reuses a complete result set for the same kind, parameters, data and
code, or fans the suite out as one Celery task per part. Each part replaces its own rows in one
transaction; the last part to finish completes the result set and every run waiting on it.
Every step is safe to run twice (redelivery after a worker died).
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle  # our own cache files in VAR_DIR, written by this module only
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from analytics import suite
from analytics.extraction import Datasets, extract_all
from analytics.models import (
    Alert,
    AnalysisRun,
    ResultRow,
    ResultSet,
    RunPart,
    RunStatus,
    RunTrigger,
)

log = logging.getLogger(__name__)
User = AuthUser | AnonymousUser
IMPORT_DEBOUNCE_SECONDS = 120
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)


class RunParametersError(ValueError):
    pass


def parameters_hash(kind: str, parameters: dict[str, Any]) -> str:
    canonical = json.dumps({"kind": kind, "parameters": parameters}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def analysis_run_request(
    *,
    user: User | None,
    parameters: dict[str, Any] | None = None,
    kind: str = suite.KIND,
    trigger: str = RunTrigger.MANUAL,
    enqueue: bool = True,
) -> AnalysisRun:
    """Queue a run; its start is enqueued once the row is committed (unless run inline)."""
    cleaned = suite.clean_parameters(parameters or {})
    with transaction.atomic():
        run = AnalysisRun.objects.create(
            kind=kind,
            parameters=cleaned,
            trigger=trigger,
            created_by=user if user is not None and user.is_authenticated else None,
            code_version=suite.VERSION,
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue_start(run.pk))
    return run


def analysis_run_request_after_import() -> AnalysisRun | None:
    """Debounced: many imports in a row make one run, started a little after the first."""
    key = f"import:{suite.KIND}"
    with transaction.atomic():
        if AnalysisRun.objects.filter(debounce_key=key).exists():
            return None
        run = AnalysisRun.objects.create(
            kind=suite.KIND,
            parameters=suite.clean_parameters({}),
            trigger=RunTrigger.IMPORT,
            code_version=suite.VERSION,
            debounce_key=key,
        )
        transaction.on_commit(lambda: _enqueue_start(run.pk, countdown=IMPORT_DEBOUNCE_SECONDS))
    return run


def _enqueue_start(run_id: int, countdown: float = 0) -> None:
    from analytics.tasks import start_run

    start_run.apply_async((run_id,), countdown=countdown)


def _enqueue_parts(run_id: int, names: list[str]) -> None:
    from celery import group

    from analytics.tasks import compute_part

    group(compute_part.s(run_id, name) for name in names).apply_async()


def _cache_path(fingerprint: str) -> Path:
    return Path(settings.VAR_DIR) / "analysis-cache" / f"{fingerprint}.pickle"


def _cache_store(fingerprint: str, datasets: Datasets) -> None:
    path = _cache_path(fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("wb") as handle:
        pickle.dump(datasets, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)  # atomic: a reader never sees half a file


def _cache_drop(fingerprint: str) -> None:
    """The cache only serves the parts of a run in progress."""
    _cache_path(fingerprint).unlink(missing_ok=True)


def _cache_load(fingerprint: str) -> Datasets | None:
    path = _cache_path(fingerprint)
    if not path.exists():
        return None
    with path.open("rb") as handle:
        return pickle.load(handle)  # noqa: S301 - written by _cache_store on this machine


def _datasets_for(result_set: ResultSet) -> Datasets:
    """The data a result set was computed on: the local cache, else a fresh extraction.

    A worker on another machine re-extracts; if the data changed since the run started the
    fingerprint differs and the part refuses to mix two states of the data.
    """
    cached = _cache_load(result_set.input_fingerprint)
    if cached is not None:
        return cached
    datasets = extract_all()
    if datasets.fingerprint() != result_set.input_fingerprint:
        raise RuntimeError(
            "The recorded data changed while this run was in progress; start a new run."
        )
    return datasets


def analysis_run_execute_inline(*, run_id: int) -> AnalysisRun:
    """Run everything in this process (demo loading, notebooks, tests without a worker)."""
    for part_name in analysis_run_start(run_id=run_id, enqueue=False):
        analysis_part_compute(run_id=run_id, part_name=part_name)
    return AnalysisRun.objects.get(pk=run_id)


def analysis_run_start(*, run_id: int, enqueue: bool = True) -> list[str]:
    """Extract, fingerprint, reuse or fan out; returns the parts still to compute. Idempotent."""
    run = AnalysisRun.objects.get(pk=run_id)
    if run.is_finished:
        return []
    AnalysisRun.objects.filter(pk=run_id).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), debounce_key=None
    )
    try:
        began = time.monotonic()
        datasets = extract_all()
        fingerprint = datasets.fingerprint()
        extract_seconds = time.monotonic() - began
        with transaction.atomic():
            result_set, _ = ResultSet.objects.get_or_create(
                kind=run.kind,
                parameters_hash=parameters_hash(run.kind, run.parameters),
                input_fingerprint=fingerprint,
                code_version=suite.VERSION,
                defaults={"parameters": run.parameters, "parts_total": len(suite.PARTS)},
            )
            pending = []
            if not result_set.complete:
                for name in suite.PARTS:
                    part, _ = RunPart.objects.get_or_create(result_set=result_set, name=name)
                    if part.status != RunStatus.SUCCEEDED:
                        pending.append(name)
            AnalysisRun.objects.filter(pk=run_id).update(
                result_set=result_set,
                parts_total=len(suite.PARTS),
                extract_seconds=extract_seconds,
            )
        if result_set.complete:
            AnalysisRun.objects.filter(pk=run_id).update(
                status=RunStatus.SUCCEEDED,
                reused=True,
                parts_done=len(suite.PARTS),
                finished_at=timezone.now(),
                compute_seconds=0.0,
            )
            return []
        _cache_store(fingerprint, datasets)
        del datasets
        if not pending:  # every part already done by another run: complete now
            _complete_if_done(result_set.pk)
        elif enqueue:
            transaction.on_commit(lambda: _enqueue_parts(run_id, pending))
        return pending
    except TRANSIENT_DATABASE_ERRORS:
        raise  # the task retries; the run stays running
    except Exception as error:
        analysis_run_fail(run_id=run_id, error=error)
        raise


def analysis_part_compute(*, run_id: int, part_name: str) -> None:
    """Compute one part and replace its rows atomically. Idempotent."""
    run = AnalysisRun.objects.select_related("result_set").get(pk=run_id)
    result_set = run.result_set
    if result_set is None or run.status == RunStatus.FAILED:
        return
    part = RunPart.objects.get(result_set=result_set, name=part_name)
    if part.status == RunStatus.SUCCEEDED:
        _complete_if_done(result_set.pk)
        return
    RunPart.objects.filter(pk=part.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    try:
        datasets = _datasets_for(result_set)
        output = suite.PARTS[part_name](datasets, result_set.parameters)
    except TRANSIENT_DATABASE_ERRORS:
        raise  # the task retries; the part stays running
    except Exception as error:
        RunPart.objects.filter(pk=part.pk).update(
            status=RunStatus.FAILED, error=_describe(error), finished_at=timezone.now()
        )
        analysis_run_fail(run_id=run_id, error=error, part=part_name)
        return
    with transaction.atomic():
        ResultRow.objects.filter(result_set=result_set, part=part_name).delete()
        rows = [
            ResultRow(result_set=result_set, part=part_name, **row)
            for row in _clean_rows(output.rows)
        ]
        ResultRow.objects.bulk_create(rows, batch_size=2000)
        alert_upsert(run=run, alerts=output.alerts)
        RunPart.objects.filter(pk=part.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), rows=len(rows), error=""
        )
    _complete_if_done(result_set.pk)


def _clean_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    def clean(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, float) and value != value:  # NaN
            return None
        return value

    text = ("analysis", "outcome", "area_code", "period", "stratum", "measure", "flags")
    records = []
    for record in frame.to_dict("records"):
        row = {key: clean(record.get(key)) for key in suite.ROW_FIELDS}
        for key in text:
            row[key] = "" if row[key] is None else str(row[key])
        for key in ("estimate", "ci_lower", "ci_upper", "numerator", "denominator", "p_value"):
            row[key] = None if row[key] is None else float(row[key])
        records.append(row)
    return records


def _complete_if_done(result_set_id: int) -> None:
    with transaction.atomic():
        result_set = ResultSet.objects.select_for_update().get(pk=result_set_id)
        done = RunPart.objects.filter(result_set=result_set, status=RunStatus.SUCCEEDED).count()
        waiting = AnalysisRun.objects.filter(result_set=result_set, status=RunStatus.RUNNING)
        waiting.update(parts_done=min(done, result_set.parts_total))
        if done < result_set.parts_total:
            return
        now = timezone.now()
        if not result_set.complete:
            result_set.complete = True
            result_set.completed_at = now
            result_set.save(update_fields=["complete", "completed_at"])
            transaction.on_commit(lambda: _cache_drop(result_set.input_fingerprint))
        for run in waiting:
            started = run.started_at or now
            AnalysisRun.objects.filter(pk=run.pk).update(
                status=RunStatus.SUCCEEDED,
                finished_at=now,
                compute_seconds=max(
                    (now - started).total_seconds() - (run.extract_seconds or 0), 0
                ),
            )


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip()[:2000]


def analysis_run_fail(*, run_id: int, error: BaseException, part: str | None = None) -> None:
    where = f" in part {part}" if part else ""
    log.error("analysis run %s failed%s: %s", run_id, where, _describe(error))
    AnalysisRun.objects.filter(pk=run_id).exclude(status=RunStatus.SUCCEEDED).update(
        status=RunStatus.FAILED,
        error=f"Failed{where}: {_describe(error)}",
        finished_at=timezone.now(),
        debounce_key=None,
    )


def alert_upsert(*, run: AnalysisRun, alerts: list[suite.AlertCandidate]) -> int:
    """One alert per outcome, area, week and method; re-runs update, never duplicate."""
    with transaction.atomic():
        for candidate in alerts:
            _alert_upsert_one(run, candidate)
    return len(alerts)


def _alert_upsert_one(run: AnalysisRun, candidate: suite.AlertCandidate) -> None:
    alert, created = Alert.objects.get_or_create(
        outcome=candidate.outcome,
        area_code=candidate.area_code,
        week=candidate.week,
        method=candidate.method,
        defaults={
            "observed": candidate.observed,
            "expected": candidate.expected,
            "upper_bound": candidate.upper_bound,
            "first_run": run,
            "last_run": run,
        },
    )
    if not created:
        alert.observed = candidate.observed
        alert.expected = candidate.expected
        alert.upper_bound = candidate.upper_bound
        alert.last_run = run
        alert.save(update_fields=["observed", "expected", "upper_bound", "last_run"])


def alert_acknowledge(*, user: User, alert: Alert, annotation: str) -> Alert:
    if not annotation.strip():
        from surveys.validation import FieldError, ValidationProblem

        raise ValidationProblem([FieldError("annotation", "Say what was found or done.")])
    alert.status = "acknowledged"
    alert.annotation = annotation.strip()
    alert.acknowledged_by = user if user.is_authenticated else None
    alert.acknowledged_at = timezone.now()
    alert._change_reason = "acknowledged"  # type: ignore[attr-defined]
    with transaction.atomic():  # the alert and its history entry
        alert.save()
    return alert


def alert_annotate(*, user: User, alert: Alert, annotation: str) -> Alert:
    alert.annotation = annotation.strip()
    alert._change_reason = f"annotated by {user.get_username()}"  # type: ignore[attr-defined]
    with transaction.atomic():  # the annotation and its history entry
        alert.save(update_fields=["annotation"])
    return alert
