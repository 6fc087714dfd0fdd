"""`make bench`: HealthWatch's main paths against the fastest thing doing the same work.

    .venv/bin/python bench/run.py                       # 3,000 (the demo), 10,000, 100,000
    .venv/bin/python bench/run.py --sizes 2000          # a quick try of the harness

For each size: generate the synthetic community, recreate the database healthwatch_bench_<n>
on PostgreSQL (BENCH_PG_URL, default postgres://healthwatch@127.0.0.1:5432/postgres; the name's
prefix from BENCH_DB_PREFIX), then
1. import: the observations file through import_csv (after the six other kinds) against the
   floor (bench/steps.py FLOOR_SQL: the same rows into the real tables, no validation), then the
   same file imported again (every row unchanged) against the first import; PostgreSQL COPY of
   the same CSV into a bare table as context (mean of a COPY before and one after);
2. suite: a run requested with analysis_run_request and executed by a real Celery worker
   (`--concurrency=2`, Redis db BENCH_REDIS_URL, default redis://127.0.0.1:6379/14, flushed),
   from the request to status succeeded; then bench/reference_suite.py, an independent minimal
   implementation of rates, trends and exposure, every row (aggregating SQL statements,
   vectorised formulas), timed interleaved with the suite's own extraction and part functions
   in one process: each part's ratio and the whole's, and its rows checked against the run's;
3. page: the published release page under 32 connections (wrk, or bench/page_load.py's client)
   against the same gunicorn serving the page's bytes as a static file through whitenoise;
4. memory: peak resident memory of the worker's process tree during the suite;
5. outcome page: the staff page /analysis/outcomes/acute_respiratory/ (charts stored with the
   run) through Django's stack in one process: server time (median of 20 warm requests) and
   bytes, against ≤ 50 ms (issue #20) and ≤ 100 KB (bench/steps.py outcome_page);
6. audit: the site's reports for the four earlier years published (five releases in the
   ledger with the annual one), then a correction of the annual report built and audited
   against all of them, as the draft screen's job does it: seconds by stage and peak RSS.
Writes bench/results.json and bench/results.md. Every process it starts is stopped at the end,
on error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH,
    OUT,
    PYTHON,
    ROOT,
    BenchError,
    Managed,
    bench_env,
    check_services,
    cpu_seconds,
    database_url,
    flush_redis,
    free_port,
    log,
    machine_load,
    recreate_database,
    run_script,
    run_step,
)
from memory import TreeMemory
from page_load import DURATION_S, WARMUP_S, fetch, load
from report import write_reports

# The demo community's size first (healthwatch/demo_data.py DEMO_RESIDENTS), then the scales.
SIZES = (3_000, 10_000, 100_000)
WORKER_CONCURRENCY = 2
# One sync worker per CPU: wrk runs on the same CPUs, and more workers than CPUs only adds
# preemption tails to whichever side does more work per request (measured: with 4 workers on
# 2 CPUs the page's p99 grew from 19 ms to 1.3 s at the same median). README's production
# command uses 4 on a dedicated machine; set BENCH_GUNICORN_WORKERS to compare.
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", str(os.cpu_count() or 2)))
LOAD_TIMEOUT_S = 1500
SUITE_TIMEOUT_S = 1200


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def community(residents: int, years: int, seed: int) -> Path:
    folder = OUT / f"community-{residents}"
    truth = folder / "truth.json"
    if truth.exists():
        generator = json.loads(truth.read_text()).get("generator", {})
        if (generator.get("residents"), generator.get("years"), generator.get("seed")) == (
            residents,
            years,
            seed,
        ):
            log(f"community of {residents:,} residents: reusing {folder}")
            return folder
    log(f"generating the community: {residents:,} residents × {years} years (seed {seed})")
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(
        [
            PYTHON,
            str(BENCH / "generate_bench.py"),
            f"--residents={residents}",
            f"--years={years}",
            f"--seed={seed}",
            f"--out={folder}",
        ],
        cwd=ROOT,
        check=True,
        timeout=600,
    )
    return folder


def start_worker(env: dict[str, str], name: str, concurrency: int = WORKER_CONCURRENCY) -> Managed:
    worker = Managed(
        f"celery worker {name}",
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "healthwatch",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{name}@%h",
        ],
        {**env, "LOG_LEVEL": "INFO"},
        OUT / "logs" / f"{name}.log",
    )
    worker.wait_for_log("ready.", timeout=120)
    return worker


def start_gunicorn(env: dict[str, str], static_root: Path, port: int, name: str) -> Managed:
    server = Managed(
        f"gunicorn {name}",
        [
            PYTHON,
            "-m",
            "gunicorn",
            "healthwatch.wsgi:application",
            f"--workers={GUNICORN_WORKERS}",
            f"--bind=127.0.0.1:{port}",
            f"--pythonpath={BENCH}",
            "--log-level=warning",
        ],
        {
            **env,
            "DJANGO_SETTINGS_MODULE": "settings_bench",
            "BENCH_STATIC_ROOT": str(static_root),
        },
        OUT / "logs" / f"{name}.log",
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            fetch(f"http://127.0.0.1:{port}/static/release-page.html")
            return server
        except OSError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    f"gunicorn did not answer on 127.0.0.1:{port}:\n{server.log_text()[-3000:]}"
                ) from None
            time.sleep(0.3)


def bench_import(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    log("importing the six other kinds, then observations: COPY, import_csv, COPY")
    result = run_step(
        "load",
        env,
        ["--community", str(folder)],
        LOAD_TIMEOUT_S,
    )
    seconds = result["import_seconds"]
    log(
        f"import_csv {result['rows']:,} observations: {seconds:.1f} s; COPY "
        f"{result['copy_seconds']:.2f} s → {seconds / result['copy_seconds']:.1f}×; floor "
        f"{result['floor_seconds']:.1f} s → {seconds / result['floor_seconds']:.2f}× the floor"
    )
    return result


def bench_suite(env: dict[str, str], name: str) -> dict[str, Any]:
    flush_redis()
    log(
        f"starting a Celery worker (--concurrency={WORKER_CONCURRENCY}) on "
        f"{env['CELERY_BROKER_URL']}"
    )
    worker = start_worker(env, name)
    try:
        log("requesting the analysis suite; waiting for status succeeded")
        with TreeMemory(worker.pid) as memory:
            result = run_step(
                "suite", env, ["--timeout", str(SUITE_TIMEOUT_S)], SUITE_TIMEOUT_S + 60
            )
        result["memory"] = memory.report()
    finally:
        log("stopping the worker")
        worker.stop()
    mem = result["memory"]
    log(
        f"suite {result['seconds']:.1f} s (extract {result['extract_seconds']:.1f} s); worker tree "
        f"peak RSS {mem['tree_rss_peak_mib']:.0f} MiB, PSS {mem['tree_pss_peak_mib']:.0f} MiB"
    )
    log(
        "reference suite (independent minimal implementation, interleaved with the suite's "
        "own functions in one process, best of 3)"
    )
    reference = run_script(
        "reference_suite.py", env, ["--compare-run", str(result["run_id"])], SUITE_TIMEOUT_S
    )
    result["reference"] = reference
    result["same_input"] = reference["fingerprint"] == result["input_fingerprint"]
    if not result["same_input"]:
        log("WARNING: the reference's datasets differ from the run's (fingerprints differ)")
    mismatched = [
        part for part, entry in reference.get("comparison", {}).items() if not entry["equal"]
    ]
    result["parts_differing_from_reference"] = mismatched
    if mismatched:
        log(f"WARNING: parts whose rows differ from the reference: {', '.join(mismatched)}")
    log(
        f"suite parts in one process {reference['suite_seconds']:.2f} s vs reference "
        f"{reference['seconds']:.2f} s → {reference['ratio']:.1f}×"
    )
    return result


#: Scale-out: the same suite computed afresh by one worker process and by two (each with one
#: pool process, as two machines would run them), after one untimed run that warms the caches
#: (the first run after the other steps read the tables from disk and was up to 2.5× slower),
#: in the order one, two, two, one (ABBA: a drift of the machine's speed during the rounds
#: weighs on both sides alike), best of each side.
SCALE_ORDER = ("one worker", "two workers", "two workers", "one worker")
SCALE_LAYOUTS = {"one worker": 1, "two workers": 2}


def bench_scale_out(env: dict[str, str], size: int) -> dict[str, Any]:
    """Issue #20 Deliver 3: does a second worker pay? Run after every other step of the size:
    each round forgets the stored result sets (steps.py suite --fresh) so that everything is
    computed again on the same data."""
    rounds: dict[str, list[dict[str, Any]]] = {layout: [] for layout in SCALE_LAYOUTS}
    for round_number, layout in enumerate(("warm-up", *SCALE_ORDER)):
        processes = SCALE_LAYOUTS.get(layout, 1)
        flush_redis()
        log(f"scale-out round {round_number}: {layout} (--concurrency=1 each)")
        workers = [
            start_worker(env, f"scale-{size}-{processes}-{i}", concurrency=1)
            for i in range(processes)
        ]
        busy_before, all_before = cpu_seconds()
        try:
            result = run_step(
                "suite",
                env,
                ["--fresh", "--timeout", str(SUITE_TIMEOUT_S)],
                SUITE_TIMEOUT_S + 60,
            )
        finally:
            busy_after, all_after = cpu_seconds()
            for worker in workers:
                worker.stop()
        # the whole machine's busy CPUs over the run (worker, PostgreSQL, this bench):
        # what one worker already uses of the machine bounds what a second can add
        busy_share = (busy_after - busy_before) / (all_after - all_before)
        busy_cpus = (os.cpu_count() or 1) * busy_share
        log(
            f"{layout}: {result['seconds']:.1f} s (extract {result['extract_seconds']:.1f} s)"
            f"; {busy_cpus:.2f} of {os.cpu_count()} CPUs busy on average"
        )
        if layout == "warm-up":
            continue
        rounds[layout].append(
            {
                "seconds": result["seconds"],
                "extract_seconds": result["extract_seconds"],
                "busy_cpus": busy_cpus,
                "parts": {name: part["seconds"] for name, part in result["parts"].items()},
            }
        )
    best = {layout: min(r["seconds"] for r in runs) for layout, runs in rounds.items()}
    fastest_one = min(rounds["one worker"], key=lambda r: r["seconds"])
    return {
        "rounds": rounds,
        "best_seconds": best,
        "speedup": best["one worker"] / best["two workers"],
        # no layout on this machine can beat all its CPUs busy for the whole run
        "speedup_bound": (os.cpu_count() or 1) / fastest_one["busy_cpus"],
        # Amdahl: the extraction (one task) stays serial, everything after it split in two
        "amdahl_bound": fastest_one["seconds"]
        / (
            fastest_one["extract_seconds"]
            + (fastest_one["seconds"] - fastest_one["extract_seconds"]) / 2
        ),
        "cpus": os.cpu_count(),
    }


def bench_page(env: dict[str, str], run_id: int, size: int) -> dict[str, Any]:
    static_root = OUT / f"static-{size}"
    shutil.rmtree(static_root, ignore_errors=True)
    static_root.mkdir(parents=True)
    page_file = static_root / "release-page.html"
    log("publishing the annual release (build draft, approve, review, publish)")
    published = run_step(
        "publish", env, ["--run-id", str(run_id), "--page-file", str(page_file)], 900
    )
    port = free_port()
    log(f"starting gunicorn ({GUNICORN_WORKERS} workers, DEBUG off) on 127.0.0.1:{port}")
    server = start_gunicorn(env, static_root, port, f"gunicorn-{size}")
    try:
        base = f"http://127.0.0.1:{port}"
        urls = {"page": base + published["path"], "static": base + "/static/release-page.html"}
        sizes = {}
        for kind, url in urls.items():
            status, body, _headers = fetch(url)
            if status != 200:
                raise BenchError(f"GET {url} answered {status}")
            sizes[kind] = len(body)
        log(f"page {sizes['page']:,} bytes, static file {sizes['static']:,} bytes")
        runs: dict[str, list[dict[str, Any]]] = {"static": [], "page": []}
        for url in urls.values():
            load(url, WARMUP_S, OUT / "tmp")
        for _round in range(2):
            for kind, url in urls.items():
                figures = load(url, DURATION_S, OUT / "tmp")
                if figures["non_2xx"] or figures["socket_errors"]:
                    raise BenchError(f"{kind}: errors under load: {figures}")
                runs[kind].append(figures)
                log(
                    f"{kind}: {figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.1f} ms, "
                    f"p99 {figures['p99_ms']:.1f} ms ({figures['requests']:,} requests)"
                )
    finally:
        log("stopping gunicorn")
        server.stop()
    best = {kind: max(r, key=lambda f: f["rps"]) for kind, r in runs.items()}
    return {
        "published": published,
        "bytes": sizes,
        "runs": runs,
        "best": best,
        "client": best["page"]["client"],
        "gunicorn_workers": GUNICORN_WORKERS,
        "connections": 32,
        "duration_s": DURATION_S,
    }


def bench_audit(env: dict[str, str], run_id: int) -> dict[str, Any]:
    """The disclosure audit as the epidemiologist waits for it: the earlier years published
    first (five releases in the ledger with the annual one), then a correction audited."""
    log("publishing the earlier years (the ledger the audit is held against)")
    ledger = run_step("ledger", env, ["--run-id", str(run_id)], 3600)
    log(f"auditing a correction against {ledger['releases_in_ledger']} published releases")
    audited = run_step("audit", env, ["--run-id", str(run_id)], 1800)
    return {"ledger": ledger, **audited}


def _db_name(size: int) -> str:
    # BENCH_DB_PREFIX keeps two benches on one PostgreSQL server apart (e.g. two worktrees)
    return f"{os.environ.get('BENCH_DB_PREFIX', 'healthwatch_bench')}_{size}"


def bench_size(size: int, years: int, seed: int, result: dict[str, Any]) -> dict[str, Any]:
    """Measure one size into ``result`` as each step ends, so that a step that fails leaves
    the figures of the steps before it in the report."""
    result.update({"residents": size, "years": years, "seed": seed})
    started = time.monotonic()
    folder = community(size, years, seed)
    db_name = _db_name(size)
    log(f"recreating database {db_name}; migrating")
    recreate_database(db_name)
    env = bench_env(database_url(db_name))
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    result["load_at_start"] = machine_load()
    result["import"] = bench_import(folder, env)
    result["suite"] = bench_suite(env, f"bench-{size}")
    log("staff outcome page (stored charts): server time and bytes")
    result["outcome_page"] = run_step("outcome_page", env, ["--outcome", "acute_respiratory"], 600)
    result["page"] = bench_page(env, result["suite"]["run_id"], size)
    result["audit"] = bench_audit(env, result["suite"]["run_id"])
    result["scale_out"] = bench_scale_out(env, size)
    result["load_at_end"] = machine_load()
    result["wall_seconds"] = time.monotonic() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="residents, comma-separated"
    )
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=BENCH, help="where results.* are written")
    parser.add_argument(
        "--scale-out-only",
        action="store_true",
        help="only the scale-out rounds, on the databases an earlier run left (same prefix)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_at_start": machine_load(),
            "wrk": shutil.which("wrk") is not None,
        },
        "sizes": {},
    }
    code = 0
    try:
        log("checking PostgreSQL and Redis")
        results["machine"]["services"] = check_services()
        for size in sizes:
            log(f"=== {size:,} residents ===")
            measured = results["sizes"].setdefault(str(size), {})
            if args.scale_out_only:
                env = bench_env(database_url(_db_name(size)))
                measured["scale_out"] = bench_scale_out(env, size)
                continue
            bench_size(size, args.years, args.seed, measured)
    except BenchError as error:
        log(f"FAILED: {error}")
        results["error"] = str(error)
        code = 1
    except subprocess.CalledProcessError as error:
        log(f"FAILED: {error}")
        results["error"] = str(error)
        code = 1
    except KeyboardInterrupt:
        log("interrupted: stopping what was started")
        results["error"] = "interrupted"
        code = 130
    finally:
        Managed.stop_all()
    results["machine"]["load_at_end"] = machine_load()
    results["wall_seconds"] = time.monotonic() - started
    json_path, md_path = write_reports(results, args.out)
    log(f"wrote {json_path} and {md_path} ({results['wall_seconds'] / 60:.1f} min in all)")
    return code


if __name__ == "__main__":
    sys.exit(main())
