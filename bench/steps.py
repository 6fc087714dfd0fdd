"""The Django-side steps of `make bench`, each run in its own process by bench/run.py.

    python bench/steps.py load    --result R.json --community DIR
    python bench/steps.py suite   --result R.json [--timeout 1200]
    python bench/steps.py publish --result R.json --run-id N --page-file PAGE.html
    python bench/steps.py ledger  --result R.json --run-id N   # publish the earlier years
    python bench/steps.py audit   --result R.json --run-id N   # a correction against them all
    python bench/steps.py outcome_page --result R.json [--outcome acute_respiratory]

The database, broker and secrets come from the environment (bench/harness.py bench_env). Each
step writes its figures as JSON to --result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")

OTHER_KINDS = ("sites", "areas", "population", "stations", "measurements", "residents")
COPY_TABLE = "bench_copy_observations"
# The observations contract, as a bare table: no key, no constraint, no index. `value` is text
# because a yes/no code carries true/false in it; dates are dates, limits numbers.
COPY_COLUMNS = (
    "study_id text, observed_on date, code text, value text, unit text, below_lod text, lod numeric"
)


def say(message: str) -> None:
    print(f"    {time.strftime('%H:%M:%S')} {message}", flush=True)


def _dsn() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    return " ".join(
        f"{key}={params[key]}"
        for key in ("host", "port", "user", "dbname", "password")
        if params.get(key) not in (None, "")
    )


def copy_observations(path: Path) -> dict[str, Any]:
    """PostgreSQL COPY of the same CSV file (streamed from this client) into a bare table."""
    import psycopg

    with psycopg.connect(_dsn()) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        conn.execute(f"CREATE TABLE {COPY_TABLE} ({COPY_COLUMNS})")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            path.open("rb") as stream,
            cursor.copy(f"COPY {COPY_TABLE} FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while block := stream.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        rows = conn.execute(f"SELECT count(*) FROM {COPY_TABLE}").fetchone()[0]  # type: ignore[index]
        conn.execute(f"DROP TABLE {COPY_TABLE}")
        conn.commit()
    return {"seconds": seconds, "rows": int(rows)}


class StageClock:
    """Where the import's time goes: wall time inside the importer's validate, write and the
    transaction's exit (COMMIT, where PostgreSQL checks the deferred foreign keys) — bench
    only, by wrapping those methods in this process."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def _wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - began

        setattr(owner, name, timed)

    def install(self) -> None:
        from django.db import transaction

        import surveys.importing.bulk as bulk
        from surveys.importing.people import ObservationsImporter

        self._wrap(ObservationsImporter, "validate_cells", "validate")
        self._wrap(ObservationsImporter, "finish", "validate")
        self._wrap(bulk, "insert_visits", "write visits")
        self._wrap(bulk, "insert_observations", "write observations")
        self._wrap(ObservationsImporter, "_flag", "quality flags")
        self._wrap(transaction.Atomic, "__exit__", "commit")


# The shortest SQL that puts the same rows into the same tables, with their indexes, check
# constraints and foreign keys: no validation, no unit conversion, no duplicate or stored-row
# checks, no quality flags. What no importer of this schema can beat.
FLOOR_SQL = (
    "CREATE TEMPORARY TABLE floor_rows (study_id text, observed_on text, code text, value text,"
    " unit text, below_lod text, lod text)",
    "CREATE TEMPORARY TABLE floor_pseudonyms (study_id text PRIMARY KEY, pseudonym text)",
)
FLOOR_INSERTS = (
    """CREATE TEMPORARY TABLE floor_keyed AS
       SELECT r.id AS resident_id, f.observed_on::date AS day, c.id AS code_id, f.value, f.unit,
              f.below_lod, f.lod
       FROM floor_rows f JOIN floor_pseudonyms p USING (study_id)
       JOIN surveys_resident r ON r.pseudonym = p.pseudonym
       JOIN surveys_vocabularycode c ON c.code = f.code""",
    """CREATE TEMPORARY TABLE floor_visits AS
       SELECT nextval(pg_get_serial_sequence('surveys_visit', 'id')) AS id, resident_id, day
       FROM (SELECT DISTINCT resident_id, day FROM floor_keyed ORDER BY 1, 2) AS distinct_visits""",
    """INSERT INTO surveys_visit (id, resident_id, visited_on, created_at)
       SELECT id, resident_id, day, now() FROM floor_visits ORDER BY id""",
    """INSERT INTO surveys_observation
           (visit_id, code_id, value, value_boolean, entered_unit, below_lod, lod)
       SELECT v.id, k.code_id,
              CASE WHEN k.value IN ('', 'true', 'false') THEN NULL ELSE k.value::float8 END,
              CASE k.value WHEN 'true' THEN true WHEN 'false' THEN false END,
              k.unit, k.below_lod = 'true', NULLIF(k.lod, '')::float8
       FROM floor_keyed k JOIN floor_visits v USING (resident_id, day)
       ORDER BY v.id, k.code_id""",
)


def floor_insert(path: Path) -> dict[str, Any]:
    """FLOOR_SQL on a scratch copy of the database as it is before the import (so both insert
    into the same tables in the same state); the copy is dropped afterwards."""
    import psycopg
    from django.db import connection

    from surveys.pseudonyms import pseudonymize

    source = connection.settings_dict["NAME"]
    scratch = f"{source}_floor"
    connection.close()  # CREATE DATABASE … TEMPLATE needs the source without sessions
    admin = _dsn().replace(f"dbname={source}", "dbname=postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{scratch}" TEMPLATE "{source}"')
    try:
        with psycopg.connect(admin.replace("dbname=postgres", f"dbname={scratch}")) as conn:
            started = time.perf_counter()
            cursor = conn.cursor()
            for statement in FLOOR_SQL:
                cursor.execute(statement)
            with (
                path.open("rb") as stream,
                cursor.copy(
                    "COPY floor_rows FROM STDIN (FORMAT csv, HEADER true, FORCE_NOT_NULL "
                    "(study_id, observed_on, code, value, unit, below_lod, lod))"
                ) as copy,
            ):
                while block := stream.read(1 << 20):
                    copy.write(block)
            study_ids = [
                row[0] for row in cursor.execute("SELECT DISTINCT study_id FROM floor_rows")
            ]
            with cursor.copy("COPY floor_pseudonyms FROM STDIN") as copy:
                for study_id in study_ids:
                    copy.write_row((study_id, pseudonymize(study_id.strip()).value))
            cursor.execute("ANALYZE floor_rows")
            cursor.execute("ANALYZE floor_pseudonyms")
            counts = []
            for statement in FLOOR_INSERTS:
                cursor.execute(statement)
                counts.append(cursor.rowcount)
            conn.commit()  # the deferred foreign-key checks run here
            seconds = time.perf_counter() - started
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return {"seconds": seconds, "visits": counts[2], "observations": counts[3]}


def step_load(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import connection

    from surveys.importing import import_csv
    from surveys.models import Observation, Visit

    folder = Path(args.community)
    result: dict[str, Any] = {"other_kinds": {}}
    for kind in OTHER_KINDS:
        started = time.perf_counter()
        with (folder / f"{kind}.csv").open("rb") as stream:
            report = import_csv(kind=kind, stream=stream, file_name=f"{kind}.csv", user=None)
        seconds = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(f"import of {kind} refused: {report.errors[:5]}")
        result["other_kinds"][kind] = {"rows": report.rows, "seconds": round(seconds, 3)}
        say(f"imported {kind}: {report.rows:,} rows in {seconds:.1f} s")

    observations = folder / "observations.csv"
    result["file_mib"] = round(observations.stat().st_size / 2**20, 1)
    copy_before = copy_observations(observations)
    say(f"COPY (before the import): {copy_before['rows']:,} rows in {copy_before['seconds']:.2f} s")

    floor = floor_insert(observations)
    say(
        f"floor (same rows, real tables, no validation): {floor['observations']:,} observations "
        f"and {floor['visits']:,} visits in {floor['seconds']:.1f} s"
    )

    clock = StageClock()
    clock.install()
    started = time.perf_counter()
    with observations.open("rb") as stream:
        report = import_csv(
            kind="observations", stream=stream, file_name="observations.csv", user=None
        )
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"import of observations refused: {report.errors[:5]}")
    stages = {label: round(value, 2) for label, value in clock.seconds.items()}
    stages["read and the rest"] = round(seconds - sum(clock.seconds.values()), 2)
    say(
        f"import_csv observations: {report.rows:,} rows ({report.created:,} created) in "
        f"{seconds:.1f} s = {report.rows / seconds:,.0f} rows/s; stages {stages}"
    )
    copy_after = copy_observations(observations)
    say(f"COPY (after the import): {copy_after['rows']:,} rows in {copy_after['seconds']:.2f} s")
    if copy_before["rows"] != report.rows or copy_after["rows"] != report.rows:
        raise SystemExit(
            f"COPY loaded {copy_before['rows']}/{copy_after['rows']} rows, the import read "
            f"{report.rows}: not the same rows"
        )
    # The same file again: every row is stored already, nothing is written (issue #20: ≤ 0.2×
    # of the first import).
    started = time.perf_counter()
    with observations.open("rb") as stream:
        again = import_csv(
            kind="observations", stream=stream, file_name="observations.csv", user=None
        )
    reimport_seconds = time.perf_counter() - started
    if not again.ok or again.created or again.unchanged != report.rows:
        raise SystemExit(
            f"re-import of the same file: ok={again.ok}, {again.created} created, "
            f"{again.unchanged} unchanged of {report.rows}: {again.errors[:5]}"
        )
    say(
        f"re-import of the unchanged file: {again.unchanged:,} rows unchanged in "
        f"{reimport_seconds:.1f} s ({reimport_seconds / seconds:.2f}× the first import)"
    )
    # Planner statistics and visibility map as autovacuum would leave them, so the suite and
    # the reference below both read a settled database (not timed).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    result.update(
        {
            "rows": report.rows,
            "created": report.created,
            "import_seconds": seconds,
            "reimport_seconds": reimport_seconds,
            "stages": stages,
            "floor_seconds": floor["seconds"],
            "floor": floor,
            "copy_seconds_before": copy_before["seconds"],
            "copy_seconds_after": copy_after["seconds"],
            "copy_seconds": (copy_before["seconds"] + copy_after["seconds"]) / 2,
            "visits": Visit.objects.count(),
            "observations": Observation.objects.count(),
        }
    )
    return result


def _forget_result_sets() -> None:
    """Make the next run compute everything again on the same data (the scale-out rounds): the
    result sets of this code version are renamed to another one, so no run reuses them. Their
    rows stay (the release and outcome-page steps before have read theirs already)."""
    from analytics import suite
    from analytics.models import ResultSet

    for result_set in ResultSet.objects.filter(code_version=suite.VERSION):
        ResultSet.objects.filter(pk=result_set.pk).update(
            code_version=f"{suite.VERSION}~bench-forgotten-{result_set.pk}"
        )


def step_suite(args: argparse.Namespace) -> dict[str, Any]:
    """Request a run (enqueued over the broker on commit) and wait for the workers to finish."""
    import django

    django.setup()
    from analytics.models import AnalysisRun, RunPart, RunStatus
    from analytics.services import analysis_run_request

    if args.fresh:
        _forget_result_sets()
    started = time.perf_counter()
    run = analysis_run_request(user=None)
    deadline = started + args.timeout
    last_done = -1
    while True:
        current = AnalysisRun.objects.get(pk=run.pk)
        if current.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            break
        if current.parts_done != last_done:
            last_done = current.parts_done
            say(f"run #{run.pk} {current.status}: {current.parts_done}/{current.parts_total} parts")
        if time.perf_counter() > deadline:
            raise SystemExit(
                f"run #{run.pk} still {current.status} after {args.timeout:.0f} s "
                f"({current.parts_done}/{current.parts_total} parts): see the worker log"
            )
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if current.status != RunStatus.SUCCEEDED:
        raise SystemExit(f"run #{run.pk} failed: {current.error}")
    if current.reused:
        raise SystemExit(f"run #{run.pk} reused an earlier result set: nothing was computed")
    say(f"run #{run.pk} succeeded in {seconds:.1f} s")
    parts = {}
    for part in RunPart.objects.filter(result_set=current.result_set).order_by("name"):
        if part.started_at and part.finished_at:
            parts[part.name] = {
                "seconds": round((part.finished_at - part.started_at).total_seconds(), 3),
                "rows": part.rows,
                "attempts": part.attempts,
            }
    queued = (current.started_at - current.created_at).total_seconds()
    return {
        "run_id": run.pk,
        "seconds": seconds,
        "queued_seconds": round(queued, 3),
        "extract_seconds": current.extract_seconds,
        "compute_seconds": current.compute_seconds,
        "parts": parts,
        "input_fingerprint": current.result_set.input_fingerprint,  # type: ignore[union-attr]
    }


def step_publish(args: argparse.Namespace) -> dict[str, Any]:
    """Build, approve, review and publish the annual report; save the page the public gets."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.test import Client

    from analytics.models import AnalysisRun
    from healthwatch.roles import Role
    from reports import services
    from surveys.models import ProductionSite

    epi, _ = User.objects.get_or_create(username="bench_epi")
    epi.groups.add(Group.objects.get(name=Role.EPIDEMIOLOGIST.value))
    reviewer, _ = User.objects.get_or_create(username="bench_reviewer")
    reviewer.groups.add(Group.objects.get(name=Role.COMMUNITY_REVIEWER.value))
    run = AnalysisRun.objects.get(pk=args.run_id)
    site = ProductionSite.objects.filter(kind="separation_plant").order_by("code").first()
    if site is None:
        raise SystemExit("the bench community has no separation plant to report on")
    year = args.year
    timings: dict[str, float] = {}
    stages: list[tuple[str, float]] = []
    began = time.perf_counter()
    release = services.release_build_draft(
        user=epi,
        run=run,
        site_code=site.code,
        year=year,
        progress=lambda stage: stages.append((stage, time.perf_counter())),
    )
    timings["build_draft"] = time.perf_counter() - began
    marks = [t for _stage, t in stages] + [began + timings["build_draft"]]
    names = ("check_data", "tables_protection_audit", "save")
    draft_stages = {n: round(b - a, 3) for n, a, b in zip(names, marks, marks[1:], strict=False)}
    say(f"draft built in {timings['build_draft']:.2f} s ({draft_stages})")
    began = time.perf_counter()
    services.release_approve(user=epi, release=release)
    services.release_review(user=reviewer, release=release, decision="approve", body="Bench.")
    release = services.release_publish(user=epi, release_id=release.pk)
    timings["review_and_publish"] = time.perf_counter() - began
    path = f"/reports/{release.site_code}/{release.year}/v{release.version}/"
    response = Client(SERVER_NAME="127.0.0.1").get(path)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}")
    page = Path(args.page_file)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_bytes(response.content)
    say(f"published {path} ({len(response.content):,} bytes)")
    return {
        "path": path,
        "bytes": len(response.content),
        "release_id": release.pk,
        "timings": timings,
        "draft_stages": draft_stages,
    }


def _bench_people() -> tuple[Any, Any]:
    from django.contrib.auth.models import Group, User

    from healthwatch.roles import Role

    epi, _ = User.objects.get_or_create(username="bench_epi")
    epi.groups.add(Group.objects.get(name=Role.EPIDEMIOLOGIST.value))
    reviewer, _ = User.objects.get_or_create(username="bench_reviewer")
    reviewer.groups.add(Group.objects.get(name=Role.COMMUNITY_REVIEWER.value))
    return epi, reviewer


def _bench_site() -> Any:
    from surveys.models import ProductionSite

    site = ProductionSite.objects.filter(kind="separation_plant").order_by("code").first()
    if site is None:
        raise SystemExit("the bench community has no separation plant to report on")
    return site


def step_ledger(args: argparse.Namespace) -> dict[str, Any]:
    """Publish the site's report for every earlier year of the data, so that with the annual
    report (step publish) the ledger holds five releases when the audit step runs."""
    import django

    django.setup()
    from analytics.models import AnalysisRun, ResultRow
    from reports import services
    from reports.models import Release, ReleaseStatus

    epi, reviewer = _bench_people()
    run = AnalysisRun.objects.get(pk=args.run_id)
    site = _bench_site()
    periods = ResultRow.objects.filter(result_set=run.result_set, period__regex=r"^\d{4}$")
    years = sorted({int(p) for p in periods.values_list("period", flat=True)})
    earlier = [y for y in years if y < args.year][-4:]
    seconds: dict[str, float] = {}
    for year in earlier:
        if Release.objects.filter(site_code=site.code, year=year).exists():
            continue
        began = time.perf_counter()
        release = services.release_build_draft(user=epi, run=run, site_code=site.code, year=year)
        services.release_approve(user=epi, release=release)
        services.release_review(user=reviewer, release=release, decision="approve", body="Bench.")
        services.release_publish(user=epi, release_id=release.pk)
        seconds[str(year)] = round(time.perf_counter() - began, 3)
        say(f"published {site.code} {year} in {seconds[str(year)]:.1f} s")
    published = Release.objects.filter(status=ReleaseStatus.PUBLISHED).count()
    return {"years": earlier, "seconds": seconds, "releases_in_ledger": published}


def step_audit(args: argparse.Namespace) -> dict[str, Any]:
    """A correction of the annual report, built and audited against every release in the
    ledger, as the draft screen's job runs it: time by stage and the process's peak memory."""
    import resource

    import django

    django.setup()
    from analytics.models import AnalysisRun
    from reports import services
    from reports.models import LedgerEntry, Release, ReleaseStatus

    epi, _reviewer = _bench_people()
    run = AnalysisRun.objects.get(pk=args.run_id)
    site = _bench_site()
    annual = Release.objects.get(
        site_code=site.code, year=args.year, status=ReleaseStatus.PUBLISHED, superseded=False
    )
    stages: list[tuple[str, float]] = []
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    try:
        correction = services.release_build_draft(
            user=epi,
            run=run,
            site_code=site.code,
            year=args.year,
            threshold=annual.threshold,
            erratum="Bench: the same data, audited against the ledger again.",
            supersedes=annual,
            progress=lambda stage: stages.append((stage, time.perf_counter())),
        )
    except services.DisclosureProblem as refusal:
        # A refusal is a result of the audit (and a finding: the same data again should
        # publish), not a crash of the bench.
        correction = None
        refused = refusal.errors[0].message
    ended = time.perf_counter()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    marks = [t for _stage, t in stages] + [ended]
    names = ("check_data", "tables_protection_audit", "save")
    by_stage = {name: round(b - a, 3) for name, a, b in zip(names, marks, marks[1:], strict=False)}
    if correction is None:
        say(f"the audit refused the correction after {ended - began:.1f} s: {refused}")
        return {
            "seconds": round(ended - began, 3),
            "stages": by_stage,
            "refused": refused,
            "earlier_releases": Release.objects.filter(status=ReleaseStatus.PUBLISHED).count(),
            "ledger_cells": LedgerEntry.objects.count(),
            "cells": 0,
            "suppressed": 0,
            "peak_rss_mib": round(rss_peak / 1024, 1),
            "rss_before_build_mib": round(rss_before / 1024, 1),
        }
    internal = correction.internal_audit
    say(f"correction audited against the ledger in {ended - began:.1f} s ({by_stage})")
    return {
        "seconds": round(ended - began, 3),
        "stages": by_stage,
        "earlier_releases": correction.content["privacy"]["earlier_releases"],
        "ledger_cells": LedgerEntry.objects.count(),
        "cells": len(internal.get("ranges", {})) + len(internal.get("published", [])),
        "suppressed": len(internal.get("decisions", {})),
        "peak_rss_mib": round(rss_peak / 1024, 1),
        "rss_before_build_mib": round(rss_before / 1024, 1),
    }


OUTCOME_PAGE_REQUESTS = 20


def step_outcome_page(args: argparse.Namespace) -> dict[str, Any]:
    """The staff outcome page of the latest complete result set, in this process through
    Django's whole stack (middleware, view, template; no network): server time per request
    (warm, median and worst of OUTCOME_PAGE_REQUESTS), bytes sent, database queries."""
    import gzip
    import statistics

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from analytics.models import ResultChart
    from analytics.selectors import latest_complete_result_set
    from healthwatch.roles import Role

    epi, _ = User.objects.get_or_create(username="bench_epi")
    epi.groups.add(Group.objects.get(name=Role.EPIDEMIOLOGIST.value))
    result_set = latest_complete_result_set()
    if result_set is None:
        raise SystemExit("no complete result set: run the suite first")
    client = Client(SERVER_NAME="127.0.0.1", HTTP_ACCEPT_ENCODING="gzip")
    client.force_login(epi)
    path = f"/analysis/outcomes/{args.outcome}/"
    for _warm in range(2):
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")
    timings = []
    for _ in range(OUTCOME_PAGE_REQUESTS):
        began = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    sent = response.content  # as transferred: gzip-encoded when the view compresses
    encoding = response.get("Content-Encoding", "")
    body = gzip.decompress(sent) if encoding == "gzip" else sent
    charts = ResultChart.objects.filter(result_set=result_set, outcome=args.outcome).count()
    median = statistics.median(timings)
    say(
        f"{path}: median {median:.1f} ms, worst {max(timings):.1f} ms, {len(sent):,} bytes "
        f"sent ({encoding or 'identity'}; {len(body):,} bytes of HTML), {len(queries)} queries, "
        f"{charts} stored charts"
    )
    return {
        "path": path,
        "requests": OUTCOME_PAGE_REQUESTS,
        "median_ms": median,
        "worst_ms": max(timings),
        "bytes": len(sent),
        "content_encoding": encoding or "identity",
        "html_bytes": len(body),
        "queries": len(queries),
        "stored_charts": charts,
        "svg_elements": body.count(b"<svg"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step", choices=("load", "suite", "publish", "ledger", "audit", "outcome_page")
    )
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--community")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--run-id", type=int)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--page-file")
    parser.add_argument("--outcome", default="acute_respiratory")
    parser.add_argument(
        "--fresh", action="store_true", help="suite: compute again, reusing no result set"
    )
    args = parser.parse_args()
    steps = {
        "load": step_load,
        "suite": step_suite,
        "publish": step_publish,
        "ledger": step_ledger,
        "audit": step_audit,
        "outcome_page": step_outcome_page,
    }
    result = steps[args.step](args)
    args.result.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
