"""Writes of the analytics app: requesting, starting and completing analysis runs, alerts.

A run moves queued → running → succeeded | failed. Starting a run extracts the data once,
fingerprints it, and either reuses a complete result set for the same kind, parameters, data and
code, or fans the suite out as one Celery task per part. Each part replaces its own rows in one
transaction; the last part to finish completes the result set and every run waiting on it.
Every step is safe to run twice (redelivery after a worker died).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import pickle  # our own cache files in VAR_DIR, written by this module only
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, InterfaceError, OperationalError, connections, transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop, ngettext

from analytics import outcome_charts, selectors, suite
from analytics.extraction import Datasets, extract_all
from analytics.models import (
    Alert,
    AnalysisRun,
    ResultChart,
    ResultRow,
    ResultSet,
    RunPart,
    RunStatus,
    RunTrigger,
)
from analytics.templatetags.analytics_labels import part_label
from notifications.services import notify_alert_opened, notify_run_failed
from surveys.selectors import data_change_marker

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
            queued_at=timezone.now() if enqueue else None,
        )
        if enqueue:
            transaction.on_commit(lambda: _enqueue_start(run.pk))
    return run


def analysis_run_request_after_import() -> AnalysisRun | None:
    """Debounced: many imports in a row make one run, started a little after the first."""
    key = f"import:{suite.KIND}"
    _release_stale_debounce(key)
    try:
        with transaction.atomic():
            if AnalysisRun.objects.filter(debounce_key=key).exists():
                return None
            run = AnalysisRun.objects.create(
                kind=suite.KIND,
                parameters=suite.clean_parameters({}),
                trigger=RunTrigger.IMPORT,
                code_version=suite.VERSION,
                debounce_key=key,
                queued_at=timezone.now() + dt.timedelta(seconds=IMPORT_DEBOUNCE_SECONDS),
            )
            transaction.on_commit(lambda: _enqueue_start(run.pk, countdown=IMPORT_DEBOUNCE_SECONDS))
    except IntegrityError:  # another import's trigger created the pending run just now
        return None
    return run


def _release_stale_debounce(key: str) -> None:
    """A pending run that never started (its message lost, the queue down) must not hold the
    debounce key for ever: every later import would coalesce into a run that never comes."""
    stale = timezone.now() - dt.timedelta(seconds=settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS)
    for run in _queued_since_before(stale).filter(debounce_key=key):
        _fail_run(
            run.pk, gettext("Not started in time: the job queue or its workers were unavailable.")
        )


def _queued_since_before(moment: dt.datetime) -> QuerySet[AnalysisRun]:
    return (
        AnalysisRun.objects.filter(status=RunStatus.QUEUED)
        .annotate(due=Coalesce("queued_at", "created_at"))
        .filter(due__lt=moment)
    )


# Failure texts are stored in the language active when the run fails: the asker's, when the queue
# refuses their request; the server's (LANGUAGE_CODE) in the sweep, which no one is waiting on.
QUEUE_UNAVAILABLE = gettext_noop(
    "Not started: the job queue is unavailable (%(error)s). Start it again later."
)


def _fail_run(run_id: int, message: str) -> None:
    log.error("analysis run %s failed: %s", run_id, message)
    AnalysisRun.objects.filter(pk=run_id).exclude(status=RunStatus.SUCCEEDED).update(
        status=RunStatus.FAILED, error=message, finished_at=timezone.now(), debounce_key=None
    )
    notify_run_failed(run_id=run_id)  # once per run: the notification's unique key


def _enqueue_start(run_id: int, countdown: float = 0) -> None:
    """Send the run's start to the job queue; a queue that cannot take it fails the run (the
    person who asked is told; a 500 would leave the run queued for ever)."""
    from analytics.tasks import start_run

    try:
        start_run.apply_async((run_id,), countdown=countdown)
    except Exception as error:  # kombu/redis connection errors have no common base but this
        _fail_run(run_id, gettext(QUEUE_UNAVAILABLE) % {"error": _describe(error)})


def _enqueue_parts(run_id: int, names: list[str]) -> None:
    """Fan the parts out. A queue that cannot take them leaves them queued: the sweep sends
    them again when the queue is back (the run is already running on a worker)."""
    from celery import group

    from analytics.tasks import compute_part

    try:
        group(compute_part.s(run_id, name) for name in names).apply_async()
    except Exception as error:
        log.error("run %s: parts not queued, the sweep will retry: %s", run_id, error)


def _enqueue_part(run_id: int, name: str) -> bool:
    from analytics.tasks import compute_part

    try:
        compute_part.apply_async((run_id, name))
    except Exception as error:
        log.error("run %s: part %s not re-queued, the sweep will retry: %s", run_id, name, error)
        return False
    return True


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
    _cache_path(fingerprint).unlink(missing_ok=True)


def _cache_keep_latest(fingerprint: str) -> None:
    """A result set completed: its data stays cached (a report draft of it needs that data,
    result_set_datasets_unchanged), the data of the result sets completed before it goes
    (unless a result set still in progress shares it: its parts read it)."""
    in_progress = set(
        ResultSet.objects.filter(complete=False).values_list("input_fingerprint", flat=True)
    )
    older = (
        ResultSet.objects.filter(complete=True)
        .exclude(input_fingerprint=fingerprint)
        .exclude(input_fingerprint__in=in_progress)
        .values_list("input_fingerprint", flat=True)
        .distinct()
    )
    for stale in older:
        _cache_drop(stale)


def _cache_load(fingerprint: str) -> Datasets | None:
    path = _cache_path(fingerprint)
    if not path.exists():
        return None
    with path.open("rb") as handle:
        return pickle.load(handle)  # noqa: S301 - written by _cache_store on this machine


class InputChanged(RuntimeError):
    """The recorded data is no longer the data a result set was computed on."""


def _datasets_for(result_set: ResultSet) -> Datasets:
    """The data a result set was computed on: the local cache, else a fresh extraction.

    A worker on another machine re-extracts; if the data changed since the run started the
    fingerprint differs and the part refuses to mix two states of the data.
    """
    cached = _cache_load(result_set.input_fingerprint)
    if cached is not None:
        return cached
    return _extract_unchanged(
        result_set, "The recorded data changed while this run was in progress; start a new run."
    )


def _extract_unchanged(result_set: ResultSet, changed: str) -> Datasets:
    """Extract again; InputChanged(changed) unless it is the result set's data. While the
    change marker is the one stored with the result set (before and after the extraction) the
    data is the same without hashing it; otherwise the fingerprint decides."""
    marker = result_set.input_marker
    unchanged_before = bool(marker) and data_change_marker() == marker
    datasets = extract_all()
    if unchanged_before and data_change_marker() == marker:
        return datasets
    if datasets.fingerprint() != result_set.input_fingerprint:
        raise InputChanged(changed)
    return datasets


def result_set_datasets_unchanged(result_set: ResultSet, changed: str) -> Datasets:
    """The data a complete result set was computed on, when the recorded data is still that
    data (a report must agree with both); InputChanged(changed) otherwise.

    The cheap way first: if nothing was written since the result set's data was read (the
    change marker) and this machine keeps that data (the cache of the latest complete result
    set), nothing is read from the database. Otherwise the data is extracted again and checked.
    """
    if result_set.input_marker and data_change_marker() == result_set.input_marker:
        cached = _cache_load(result_set.input_fingerprint)
        if cached is not None:
            return cached
    return _extract_unchanged(result_set, changed)


def analysis_run_execute_inline(*, run_id: int) -> AnalysisRun:
    """Run everything in this process (demo loading, notebooks, tests without a worker). The
    charts in the languages besides the site's are left to a worker, as after any run
    (`result_set_charts_translate`: drawing them takes ~30 s for the demo community)."""
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
        marker = data_change_marker()
        datasets = extract_all()
        if data_change_marker() != marker:
            marker = ""  # written to while extracting: the marker does not name this data
        fingerprint = datasets.fingerprint()
        extract_seconds = time.monotonic() - began
        with transaction.atomic():
            result_set, _ = ResultSet.objects.get_or_create(
                kind=run.kind,
                parameters_hash=parameters_hash(run.kind, run.parameters),
                input_fingerprint=fingerprint,
                code_version=suite.VERSION,
                defaults={
                    "parameters": run.parameters,
                    "parts_total": len(suite.PARTS),
                    "data_end": suite.data_end_of(datasets, run.parameters),
                },
            )
            if marker and result_set.input_marker != marker:
                ResultSet.objects.filter(pk=result_set.pk).update(input_marker=marker)
                result_set.input_marker = marker
            pending = []
            if not result_set.complete:
                for name in suite.PARTS:
                    part, _ = RunPart.objects.get_or_create(result_set=result_set, name=name)
                    if part.status != RunStatus.SUCCEEDED:
                        pending.append(name)
                RunPart.objects.filter(
                    result_set=result_set, name__in=pending, status=RunStatus.QUEUED
                ).update(queued_at=timezone.now())
            AnalysisRun.objects.filter(pk=run_id).update(
                result_set=result_set,
                parts_total=len(suite.PARTS),
                extract_seconds=extract_seconds,
            )
        if result_set.complete:
            if not _cache_path(fingerprint).exists():  # kept for a report draft of it
                _cache_store(fingerprint, datasets)
                _cache_keep_latest(fingerprint)
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
            return []
        pending = selectors.parts_longest_first(pending)
        if enqueue:
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
    if not _claim(part):
        return  # another worker is computing it (a redelivered or re-queued message)
    try:
        with _heartbeat(part.pk):
            datasets = _datasets_for(result_set)
            output = suite.PARTS[part_name](datasets, result_set.parameters)
            del datasets
            cleaned = _clean_rows(output.rows)
            # drawn before the write transaction (drawing takes a while), stored within it
            drawn = _render_charts(part_name, cleaned, result_set.parameters)
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
        rows = [ResultRow(result_set=result_set, part=part_name, **row) for row in cleaned]
        ResultRow.objects.bulk_create(rows, batch_size=2000)
        _store_charts(result_set, part_name, drawn)
        alert_upsert(run=run, alerts=output.alerts)
        RunPart.objects.filter(pk=part.pk).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), rows=len(rows), error=""
        )
    _complete_if_done(result_set.pk)


def _render_charts(
    part_name: str,
    rows: list[dict[str, Any]],
    parameters: dict[str, Any],
    language: str | None = None,
) -> list[outcome_charts.ChartSpec]:
    """The part's charts, their text in `language` (default: the site's, LANGUAGE_CODE).

    A chart that cannot be drawn never costs the part its statistics (an aberration part that
    failed over a drawing bug would store no outbreak alert): the error is logged, the part
    is stored without charts, and `result_set_charts_render` can draw them later.
    """
    if part_name not in outcome_charts.RENDERERS:
        return []
    try:
        with translation.override(language or settings.LANGUAGE_CODE):
            return outcome_charts.render_part(part_name, rows, selectors.chart_labels(parameters))
    except TRANSIENT_DATABASE_ERRORS:
        raise
    except Exception:
        log.exception("part %s: charts not drawn; its rows are stored without them", part_name)
        return []


def _store_charts(
    result_set: ResultSet,
    part_name: str,
    drawn: list[outcome_charts.ChartSpec],
    language: str | None = None,
) -> None:
    """Replace the part's stored charts (in the caller's transaction). Without `language`
    (the part was computed again): every language's charts of the part go, its new ones in the
    site's language are stored (the other languages are drawn again after the run,
    `result_set_charts_translate`). With `language`: only that language's are replaced."""
    stored = ResultChart.objects.filter(result_set=result_set, part=part_name)
    if language is not None:
        stored = stored.filter(language=language)
    stored.delete()
    ResultChart.objects.bulk_create(
        [
            ResultChart(
                result_set=result_set,
                part=part_name,
                outcome=chart.outcome,
                key=chart.key,
                language=language or settings.LANGUAGE_CODE,
                position=chart.position,
                title=chart.title[:300],
                svg=chart.svg,
            )
            for chart in drawn
        ]
    )


def result_set_charts_render(*, result_set: ResultSet) -> int:
    """Draw and store every chart of a complete result set from its stored rows, in every
    shipped language (result sets computed before charts were stored with the run).
    Re-runnable: replaces each part's charts."""
    total = 0
    for part_name in outcome_charts.RENDERERS:
        rows = list(
            ResultRow.objects.filter(result_set=result_set, part=part_name).values(
                *suite.ROW_FIELDS
            )
        )
        drawn = _render_charts(part_name, rows, result_set.parameters)
        with transaction.atomic():
            _store_charts(result_set, part_name, drawn)
        total += len(drawn)
    return total + result_set_charts_translate(result_set_id=result_set.pk)


def _other_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def result_set_charts_translate(*, result_set_id: int) -> int:
    """Draw a complete result set's charts in every shipped language besides the site's, from
    its stored rows, and store them beside the site-language ones (issue #15: a French
    epidemiologist on an English site reads French charts; the outcome page serves what is
    stored and never draws). Runs after the run has succeeded, off its critical path; until
    it has, the page shows the site-language charts. Re-runnable: replaces each language's."""
    result_set = ResultSet.objects.filter(pk=result_set_id, complete=True).first()
    if result_set is None:
        return 0  # not complete (yet), or gone: its completion enqueues this again
    began = time.monotonic()
    total = 0
    for part_name in outcome_charts.RENDERERS:
        rows = list(
            ResultRow.objects.filter(result_set=result_set, part=part_name).values(
                *suite.ROW_FIELDS
            )
        )
        for language in _other_languages():
            drawn = _render_charts(part_name, rows, result_set.parameters, language)
            with transaction.atomic():
                _store_charts(result_set, part_name, drawn, language)
            total += len(drawn)
    log.info(
        "result set %s: %s charts drawn in %s other languages in %.1f s",
        result_set_id,
        total,
        len(_other_languages()),
        time.monotonic() - began,
    )
    return total


def _enqueue_charts_translate(result_set_id: int) -> bool:
    """A queue that cannot take it only costs the other languages their charts for now (the
    page shows the site-language ones and says so; the run sweep sends it again). Returns
    whether the queue took it."""
    from analytics.tasks import draw_charts_in_languages

    try:
        draw_charts_in_languages.apply_async((result_set_id,))
    except Exception as error:
        log.error("result set %s: charts in other languages not queued: %s", result_set_id, error)
        return False
    return True


def _claim(part: RunPart) -> bool:
    """Take the part for this worker, unless another worker is alive on it (compare-and-set:
    of two deliveries of one part at the same moment, one computes)."""
    now = timezone.now()
    quiet = now - dt.timedelta(seconds=settings.HEALTHWATCH_PART_LOST_AFTER_SECONDS)
    claimed = (
        RunPart.objects.filter(pk=part.pk)
        .exclude(status=RunStatus.SUCCEEDED)
        .filter(
            ~Q(status=RunStatus.RUNNING)
            | Q(heartbeat_at__lt=quiet)
            | Q(heartbeat_at__isnull=True, started_at__lt=quiet)
        )
        .update(
            status=RunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
        )
    )
    return bool(claimed)


@contextlib.contextmanager
def _heartbeat(part_id: int) -> Iterator[None]:
    """Touch the part's heartbeat from a side thread while the part computes, so that the sweep
    can tell a long computation from a lost worker."""
    stop = threading.Event()
    interval = settings.HEALTHWATCH_PART_HEARTBEAT_SECONDS

    def beat() -> None:
        try:
            while not stop.wait(interval):
                RunPart.objects.filter(pk=part_id, status=RunStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        except Exception as error:  # a missed beat is not worth failing the part for
            log.warning("part %s: heartbeat stopped: %s", part_id, error)
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{part_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def analysis_runs_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Heal what a lost worker or message left behind; fail what cannot be healed. Idempotent.

    - a run whose start waited on the queue too long (message lost, queue was down) is sent
      again, up to HEALTHWATCH_RUN_MAX_ATTEMPTS times, then failed with the reason;
    - a run still extracting past the task time limit (its worker died) likewise;
    - a running part whose worker has not been heard of (heartbeat) is re-queued ("worker
      lost, retrying"), up to the same number of attempts, then failed with its run;
    - a part queued too long (its message lost) is sent again.
    Returns counts by what was done, for the log.
    """
    now = now or timezone.now()
    max_attempts = settings.HEALTHWATCH_RUN_MAX_ATTEMPTS
    stale = now - dt.timedelta(seconds=settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS)
    lost = now - dt.timedelta(seconds=settings.HEALTHWATCH_PART_LOST_AFTER_SECONDS)
    killed = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    done = {"runs_requeued": 0, "runs_failed": 0, "parts_requeued": 0, "parts_failed": 0}

    starting = AnalysisRun.objects.filter(
        status=RunStatus.RUNNING, result_set__isnull=True, started_at__lt=killed
    )
    for run in [*_queued_since_before(stale), *starting]:
        if run.attempts >= max_attempts:
            _fail_run(
                run.pk,
                ngettext(
                    "Not started after %(n)d attempt: the job queue or its workers are "
                    "unavailable. Start the run again when they are back.",
                    "Not started after %(n)d attempts: the job queue or its workers are "
                    "unavailable. Start the run again when they are back.",
                    run.attempts,
                )
                % {"n": run.attempts},
            )
            done["runs_failed"] += 1
            continue
        sent_again = AnalysisRun.objects.filter(
            pk=run.pk, status=run.status, attempts=run.attempts
        ).update(status=RunStatus.QUEUED, attempts=F("attempts") + 1, queued_at=now)
        if sent_again:
            _enqueue_start(run.pk)
            done["runs_requeued"] += 1

    silent = RunPart.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=lost) | Q(heartbeat_at__isnull=True, started_at__lt=lost)
    )
    forgotten = RunPart.objects.filter(status=RunStatus.QUEUED).filter(
        Q(queued_at__lt=stale) | Q(queued_at__isnull=True, result_set__created_at__lt=stale)
    )
    for part in [*silent, *forgotten]:
        waiting = AnalysisRun.objects.filter(
            result_set_id=part.result_set_id, status=RunStatus.RUNNING
        ).first()
        if waiting is None or part.attempts >= max_attempts:
            _fail_lost_part(part, max_attempts)
            done["parts_failed"] += 1
            continue
        if part.status == RunStatus.RUNNING:
            requeued = RunPart.objects.filter(
                pk=part.pk, status=RunStatus.RUNNING, heartbeat_at=part.heartbeat_at
            ).update(
                status=RunStatus.QUEUED,
                queued_at=now,
                error=f"worker lost during attempt {part.attempts}; retrying",
            )
        else:
            requeued = RunPart.objects.filter(pk=part.pk, status=RunStatus.QUEUED).update(
                queued_at=now
            )
        if requeued and _enqueue_part(waiting.pk, part.name):
            done["parts_requeued"] += 1
    done["charts_requeued"] = _charts_in_languages_heal(now, max_attempts)
    if any(done.values()):
        log.warning("run sweep: %s", done)
    return done


def _charts_in_languages_heal(now: dt.datetime, max_attempts: int) -> int:
    """The charts of the result set the pages show, in the languages that lack them (the queue
    could not take their drawing at completion, or its worker was lost): sent again, at most
    `max_attempts` times, each after the last one had time to wait in the queue and run (so a
    drawing that fails for good costs a bounded amount of work). A queue that refuses the
    message costs no attempt: the next sweep tries again. Returns 1 when sent again."""
    if not selectors.charts_in_languages_may_come(None):
        return 0
    result_set = selectors.latest_complete_result_set()
    if result_set is None or result_set.completed_at is None:
        return 0
    attempts, last = result_set.charts_translate_attempts, result_set.charts_translate_sent_at
    wait = dt.timedelta(
        seconds=max(settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS, settings.CELERY_TASK_TIME_LIMIT)
    )
    if attempts >= max_attempts or now < (last or result_set.completed_at) + wait:
        return 0
    drawn = dict(
        ResultChart.objects.filter(result_set=result_set)
        .values("language")
        .annotate(charts=Count("pk"))
        .values_list("language", "charts")
    )
    site = drawn.get(settings.LANGUAGE_CODE, 0)
    if all(drawn.get(language, 0) >= site for language in _other_languages()):
        return 0
    mine = ResultSet.objects.filter(pk=result_set.pk, charts_translate_attempts=attempts)
    if not mine.update(charts_translate_attempts=attempts + 1, charts_translate_sent_at=now):
        return 0  # another sweep sent it just now
    if _enqueue_charts_translate(result_set.pk):
        return 1
    ResultSet.objects.filter(pk=result_set.pk, charts_translate_attempts=attempts + 1).update(
        charts_translate_attempts=attempts, charts_translate_sent_at=last
    )
    return 0


def _fail_lost_part(part: RunPart, max_attempts: int) -> None:
    message = ngettext(
        "worker lost %(n)d time (the limit is %(limit)d); "
        "the part may need more memory or time than a worker has",
        "worker lost %(n)d times (the limit is %(limit)d); "
        "the part may need more memory or time than a worker has",
        part.attempts,
    ) % {"n": part.attempts, "limit": max_attempts}
    RunPart.objects.filter(pk=part.pk).update(
        status=RunStatus.FAILED, error=message, finished_at=timezone.now()
    )
    for run in AnalysisRun.objects.filter(result_set_id=part.result_set_id).exclude(
        status__in=(RunStatus.SUCCEEDED, RunStatus.FAILED)
    ):
        _fail_run(
            run.pk,
            gettext("Failed in part “%(part)s”: %(message)s.")
            % {"part": part_label(part.name), "message": message},
        )


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
            transaction.on_commit(lambda: _cache_keep_latest(result_set.input_fingerprint))
            if settings.HEALTHWATCH_CHARTS_IN_EVERY_LANGUAGE and _other_languages():
                transaction.on_commit(lambda: _enqueue_charts_translate(result_set.pk))
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
    # The error's own text stays as the method or library wrote it (English, for the log too).
    said = (
        gettext("Failed in part “%(part)s”: %(message)s.")
        % {"part": part_label(part), "message": _describe(error)}
        if part
        else gettext("Failed: %(message)s.") % {"message": _describe(error)}
    )
    AnalysisRun.objects.filter(pk=run_id).exclude(status=RunStatus.SUCCEEDED).update(
        status=RunStatus.FAILED,
        error=said,
        finished_at=timezone.now(),
        debounce_key=None,
    )
    notify_run_failed(run_id=run_id)  # once per run: the notification's unique key


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
    if created:  # a new alert: its epidemiologists are told once (notifications' unique key)
        notify_alert_opened(alert_id=alert.pk)
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
