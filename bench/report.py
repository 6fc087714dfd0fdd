"""bench/results.json and bench/results.md from the figures bench/run.py measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MEMORY_TARGET_MIB = 2048
# An epidemiologist waits on the draft screen (it shows the stage) for a build: a minute is
# the most we ask of them for a whole programme's annual report.
AUDIT_TARGET_S = 60.0
# Issue #20: a draft at 100k within 10 s, the data checked by the change marker (not re-read).
DRAFT_TARGET_S = 10.0
# Issue #20 sets the draft's target at 100k. A small community takes longer (more cells near
# the threshold: more complementary suppression), so its row is context, not a target.
DRAFT_TARGET_SIZE = "100000"
# Issue #20: the import against its true floor (the ≤ 3× COPY target was below the floor
# itself, 13–21× COPY: findings.md §1), and a re-import of an unchanged file.
FLOOR_TARGET = 1.1
FLOOR_TARGET_SIZE = "100000"
SCALE_TARGET = 1.7  # issue #20 Deliver 3: two worker processes vs one, at 100k residents
SCALE_TARGET_SIZE = "100000"
REIMPORT_TARGET = 0.2
GROWTH_SIZES = ("10000", "100000")
OUTCOME_PAGE_MS = 50.0  # issue #20 Deliver 4 (issue #17 asked ≤ 300 ms)
OUTCOME_PAGE_BYTES = 100_000


def _disturbed(scale: dict[str, Any]) -> bool:
    """A two-worker speed-up above the bound the one-worker run's busy CPUs set (5 % for the
    sampling of /proc/stat) cannot be the layouts' own: the machine was not the same machine
    in both (a VM's neighbours, caches)."""
    return bool(scale["speedup"] > 1.05 * scale["speedup_bound"])


def _row(
    figure: str,
    size: str,
    ours: float,
    baseline: float | None,
    unit: str,
    ratio: float,
    target: str,
    met: bool | None,
) -> dict[str, Any]:
    return {
        "figure": figure,
        "residents": size,
        "ours": ours,
        "baseline": baseline,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


PART_TARGET = 1.5  # issue #20: every part ≤ 1.5× its independent baseline


def _reference_rows(reference: dict[str, Any], size: str) -> list[dict[str, Any]]:
    """Each part's ratio to the independent reference, and the whole's (one run, interleaved)."""
    rows = []
    ours, theirs = reference["suite_parts"], reference["parts"]
    for part, label in (
        ("extract", "suite extraction vs the reference's reads"),
        ("rates", "part rates vs reference"),
        ("trends", "part trends vs reference"),
        ("exposure", "part exposure vs reference"),
    ):
        ratio = ours[part] / theirs[part]
        rows.append(
            _row(
                label,
                size,
                ours[part],
                theirs[part],
                "s",
                ratio,
                f"≤ {PART_TARGET}×",
                ratio <= PART_TARGET,
            )
        )
    rows.append(
        _row(
            "suite (extraction + rates, trends, exposure) vs reference",
            size,
            reference["suite_seconds"],
            reference["seconds"],
            "s",
            reference["ratio"],
            f"≤ {PART_TARGET}×",
            reference["ratio"] <= PART_TARGET,
        )
    )
    return rows


def figures(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sizes = results.get("sizes", {})
    for size, data in sizes.items():
        imp = data.get("import")
        if imp:
            ratio = imp["import_seconds"] / imp["floor_seconds"]
            floor_target = size == FLOOR_TARGET_SIZE
            rows.append(
                _row(
                    "import observations (import_csv vs the floor: same rows into the real "
                    "tables, no validation)",
                    size,
                    imp["import_seconds"],
                    imp["floor_seconds"],
                    "s",
                    ratio,
                    f"≤ {FLOOR_TARGET:g}× at 100k" if floor_target else "context",
                    ratio <= FLOOR_TARGET if floor_target else None,
                )
            )
            if "reimport_seconds" in imp:
                ratio = imp["reimport_seconds"] / imp["import_seconds"]
                rows.append(
                    _row(
                        "re-import of the unchanged file vs its first import",
                        size,
                        imp["reimport_seconds"],
                        imp["import_seconds"],
                        "s",
                        ratio,
                        f"≤ {REIMPORT_TARGET:g}×",
                        ratio <= REIMPORT_TARGET,
                    )
                )
            rows.append(
                _row(
                    "— import_csv vs COPY into a bare table",
                    size,
                    imp["import_seconds"],
                    imp["copy_seconds"],
                    "s",
                    imp["import_seconds"] / imp["copy_seconds"],
                    "context",
                    None,
                )
            )
            rows.append(
                _row(
                    "— the floor vs COPY (what no importer of this schema can beat)",
                    size,
                    imp["floor_seconds"],
                    imp["copy_seconds"],
                    "s",
                    imp["floor_seconds"] / imp["copy_seconds"],
                    "context",
                    None,
                )
            )
        suite = data.get("suite")
        if suite:
            rows += _reference_rows(suite["reference"], size)
        scale = data.get("scale_out")
        if scale:
            best = scale["best_seconds"]
            at_target_size = size == SCALE_TARGET_SIZE
            rows.append(
                _row(
                    "suite computed again by two worker processes vs one (each --concurrency=1; "
                    "ratio = one ÷ two, higher is better)",
                    size,
                    best["two workers"],
                    best["one worker"],
                    "s",
                    scale["speedup"],
                    f"≥ {SCALE_TARGET:g}× at 100k" if at_target_size else "context",
                    scale["speedup"] >= SCALE_TARGET and not _disturbed(scale)
                    if at_target_size
                    else None,
                )
            )
        outcome = data.get("outcome_page")
        if outcome:
            rows.append(
                _row(
                    "staff outcome page server time (stored charts, median of 20 warm)",
                    size,
                    outcome["median_ms"],
                    OUTCOME_PAGE_MS,
                    "ms",
                    outcome["median_ms"] / OUTCOME_PAGE_MS,
                    "≤ 50 ms",
                    outcome["median_ms"] <= OUTCOME_PAGE_MS,
                )
            )
            rows.append(
                _row(
                    "staff outcome page bytes transferred",
                    size,
                    outcome["bytes"],
                    OUTCOME_PAGE_BYTES,
                    "bytes",
                    outcome["bytes"] / OUTCOME_PAGE_BYTES,
                    "≤ 100 KB",
                    outcome["bytes"] <= OUTCOME_PAGE_BYTES,
                )
            )
        page = data.get("page")
        if page:
            ours, static = page["best"]["page"], page["best"]["static"]
            ratio = ours["rps"] / static["rps"]
            rows.append(
                _row(
                    "release page throughput, 32 connections",
                    size,
                    ours["rps"],
                    static["rps"],
                    "req/s",
                    ratio,
                    "≥ 0.5× static",
                    ratio >= 0.5,
                )
            )
            ratio = ours["p99_ms"] / static["p99_ms"]
            rows.append(
                _row(
                    "release page p99 latency, 32 connections",
                    size,
                    ours["p99_ms"],
                    static["p99_ms"],
                    "ms",
                    ratio,
                    "≤ 3× static",
                    ratio <= 3,
                )
            )
    small, large = (sizes.get(s, {}).get("suite") for s in GROWTH_SIZES)
    if small and large:
        ratio = large["seconds"] / small["seconds"]
        rows.append(
            _row(
                "analysis suite growth 10k → 100k residents",
                "10000→100000",
                large["seconds"],
                small["seconds"],
                "s",
                ratio,
                "≤ 12×",
                ratio <= 12,
            )
        )
    for size, data in sizes.items():
        suite = data.get("suite")
        if suite and "memory" in suite:
            peak = suite["memory"]["tree_rss_peak_mib"]
            rows.append(
                _row(
                    "worker peak RSS during the suite (process tree)",
                    size,
                    peak,
                    None,
                    "MiB",
                    peak / MEMORY_TARGET_MIB,
                    "≤ 2048 MiB",
                    peak <= MEMORY_TARGET_MIB,
                )
            )
    for size, data in sizes.items():
        timings = data.get("page", {}).get("published", {}).get("timings", {})
        if "build_draft" in timings:
            seconds = timings["build_draft"]
            rows.append(
                _row(
                    "release draft build (annual report from the run: data check, tables, "
                    "protection, save)",
                    size,
                    seconds,
                    None,
                    "s",
                    seconds / DRAFT_TARGET_S,
                    f"≤ {DRAFT_TARGET_S:.0f} s at 100k" if size == DRAFT_TARGET_SIZE else "context",
                    seconds <= DRAFT_TARGET_S if size == DRAFT_TARGET_SIZE else None,
                )
            )
    for size, data in sizes.items():
        audited = data.get("audit")
        if audited:
            seconds = audited["seconds"]
            rows.append(
                _row(
                    f"report draft audited against {audited['earlier_releases']} earlier "
                    "releases (build job, all stages)",
                    size,
                    seconds,
                    None,
                    "s",
                    seconds / AUDIT_TARGET_S,
                    f"≤ {AUDIT_TARGET_S:.0f} s, progress shown"
                    + (" — **refused**" if audited.get("refused") else ""),
                    seconds <= AUDIT_TARGET_S and not audited.get("refused"),
                )
            )
            peak = audited["peak_rss_mib"]
            rows.append(
                _row(
                    "— peak RSS of the process that built it",
                    size,
                    peak,
                    None,
                    "MiB",
                    peak / MEMORY_TARGET_MIB,
                    "≤ 2048 MiB",
                    peak <= MEMORY_TARGET_MIB,
                )
            )
    return rows


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("req/s", "MiB", "bytes"):
        return f"{value:,.0f} {unit}"
    if unit == "ms":
        return f"{value:,.1f} {unit}"
    return f"{value:,.2f} {unit}" if value < 10 else f"{value:,.1f} {unit}"


def _size(size: str) -> str:
    if "→" in size:
        return "10k → 100k"
    return f"{int(size) // 1000:,}k"


def markdown(results: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    machine = results.get("machine", {})
    lines = [
        "# HealthWatch benchmarks (`make bench`)",
        "",
        f"Run started {results.get('started_at', '?')}; {results.get('wall_seconds', 0) / 60:.1f}"
        f" min in all. Machine: {machine.get('cpus')} CPUs, {machine.get('platform')}, Python "
        f"{machine.get('python')}; PostgreSQL {machine.get('services', {}).get('postgresql', '?')},"
        f" Redis {machine.get('services', {}).get('redis', '?')}. Load average (1/5/15 min) at "
        f"start {machine.get('load_at_start', {}).get('loadavg_1_5_15')}, at end "
        f"{machine.get('load_at_end', {}).get('loadavg_1_5_15')} (a load "
        "above the number of CPUs means something besides the bench was running). Absolute "
        "times move by tens of percent between runs on this machine; the ratios (both sides "
        "measured in the same run, minutes apart) are what to read.",
        "",
    ]
    if results.get("error"):
        lines += [f"**The run did not finish: {results['error']}**", ""]
    lines += [
        "| figure | residents | ours | baseline | ratio | target | met? |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row['ratio']:.2f}×" if row["unit"] != "MiB" else f"{row['ratio']:.0%} of target"
        lines.append(
            f"| {row['figure']} | {_size(row['residents'])} | {_number(row['ours'], row['unit'])} "
            f"| {_number(row['baseline'], row['unit'])} | {ratio} | {row['target']} | "
            f"{'—' if row['met'] is None else 'yes' if row['met'] else '**no**'} |"
        )
    lines += ["", "## Details", ""]
    for size, data in results.get("sizes", {}).items():
        lines.append(f"### {int(size):,} residents × {data.get('years')} years")
        lines.append("")
        imp = data.get("import")
        if imp:
            lines.append(
                f"- Import: {imp['rows']:,} observation rows ({imp['file_mib']} MiB), "
                f"{imp['visits']:,} visits created; import_csv {imp['import_seconds']:.1f} s "
                f"({imp['rows'] / imp['import_seconds']:,.0f} rows/s); COPY "
                f"{imp['copy_seconds_before']:.2f} s before and {imp['copy_seconds_after']:.2f} s "
                "after the import."
            )
            stages = ", ".join(f"{label} {value:.1f} s" for label, value in imp["stages"].items())
            lines.append(f"- Where import_csv's time went: {stages}.")
            floor = imp["floor"]
            lines.append(
                f"- Floor: {floor['observations']:,} observations and {floor['visits']:,} visits "
                f"inserted by bench/steps.py FLOOR_SQL in {imp['floor_seconds']:.1f} s, on a "
                "scratch copy of the database as it was before the import."
            )
        suite = data.get("suite")
        if suite:
            ref = suite["reference"]
            parts = ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in suite["parts"].items())
            ref_parts = ", ".join(f"{k} {v:.3f} s" for k, v in ref["parts"].items())
            mem = suite["memory"]
            lines += [
                f"- Suite (run #{suite['run_id']}): {suite['seconds']:.1f} s from request to "
                f"succeeded; waited {suite['queued_seconds']:.2f} s in the queue, extraction "
                f"{suite['extract_seconds']:.1f} s, then the parts on "
                f"the worker (each part's own time): {parts}.",
                f"- Reference (independent, best of {ref['repeat']}, interleaved): "
                f"{ref['seconds']:.2f} s ({ref_parts}) vs the suite's own functions "
                f"{ref['suite_seconds']:.2f} s; covered: "
                + "; ".join(f"{k} {v}" for k, v in ref["covered"].items())
                + f". Same datasets as the run (fingerprint): "
                f"{'yes' if suite['same_input'] else 'NO'}; parts whose covered rows differ "
                f"from the run's (1e-9 relative): "
                f"{', '.join(suite['parts_differing_from_reference']) or 'none'}.",
                f"- Worker memory (main process + {mem['processes'] - 1} pool children, sampled "
                f"every {mem['interval_s']} s): tree RSS peak {mem['tree_rss_peak_mib']:,.0f} "
                f"MiB, tree PSS peak {mem['tree_pss_peak_mib']:,.0f} MiB, largest single-process "
                f"VmHWM {mem['process_hwm_peak_mib']:,.0f} MiB.",
            ]
        scale = data.get("scale_out")
        if scale:
            described = []
            for layout, runs in scale["rounds"].items():
                each = "; ".join(
                    f"{r['seconds']:.1f} s ({r['busy_cpus']:.2f} CPUs busy; extraction "
                    f"{r['extract_seconds']:.1f} s, parts "
                    + ", ".join(f"{k} {v:.1f}" for k, v in r["parts"].items())
                    + ")"
                    for r in runs
                )
                described.append(f"{layout}: {each}")
            lines.append(
                "- Scale-out (the suite computed afresh, alternating, best of each side): "
                + " | ".join(described)
                + f" → {scale['speedup']:.2f}×. With one worker the machine already had "
                f"{min(scale['rounds']['one worker'], key=lambda r: r['seconds'])['busy_cpus']:.2f}"
                f" of its {scale['cpus']} CPUs busy on average (the worker's threads, "
                "PostgreSQL's backends): no layout on this machine can be more than "
                f"{scale['speedup_bound']:.2f}× faster than that. With the extraction serial "
                "and everything after it split perfectly in two, the bound is "
                f"{scale['amdahl_bound']:.2f}× (Amdahl)."
                + (
                    " **The ratio is above what the CPUs allow: the machine's speed changed "
                    "between the rounds (another tenant, the page cache), so this measurement "
                    "does not count as met.**"
                    if _disturbed(scale)
                    else ""
                )
            )
        page = data.get("page")
        if page:
            runs = "; ".join(
                f"{kind} "
                + ", ".join(f"{r['rps']:,.0f} req/s p99 {r['p99_ms']:.1f} ms" for r in rs)
                for kind, rs in page["runs"].items()
            )
            lines.append(
                f"- Page {page['published']['path']}: {page['bytes']['page']:,} bytes (static "
                f"copy {page['bytes']['static']:,} bytes); client {page['client']}, "
                f"{page['connections']} connections, {page['duration_s']} s per measurement, "
                f"gunicorn {page['gunicorn_workers']} sync workers. Every measurement: {runs} "
                "(the table shows each side's best)."
            )
            draft_stages = page["published"].get("draft_stages")
            if draft_stages:
                stages = ", ".join(f"{k} {v:.2f} s" for k, v in draft_stages.items())
                lines.append(
                    f"- Release draft (build of the annual report from the run): "
                    f"{page['published']['timings']['build_draft']:.1f} s ({stages}); the data "
                    "check uses the change marker and the run's kept data when nothing was "
                    "written since the run."
                )
        outcome = data.get("outcome_page")
        if outcome:
            lines.append(
                f"- Staff outcome page {outcome['path']} (Django's whole stack in one process, "
                f"no network; {outcome['requests']} warm requests): median "
                f"{outcome['median_ms']:.1f} ms, worst {outcome['worst_ms']:.1f} ms; "
                f"{outcome['bytes']:,} bytes sent ({outcome['content_encoding']}), "
                f"{outcome['html_bytes']:,} bytes of HTML; {outcome['queries']} queries; "
                f"{outcome['svg_elements']} charts on the page, {outcome['stored_charts']} "
                "stored for the outcome."
            )
        audited = data.get("audit")
        if audited:
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in audited["stages"].items())
            ledger = audited["ledger"]
            lines.append(
                f"- Audit: earlier years {', '.join(map(str, ledger['years']))} published "
                f"first ({ledger['releases_in_ledger']} releases, {audited['ledger_cells']:,} "
                f"cells in the ledger); a correction of the annual report built in "
                f"{audited['seconds']:.1f} s ({stages}); "
                + (
                    f"REFUSED by the audit: {audited['refused']}; "
                    if audited.get("refused")
                    else f"{audited['suppressed']:,} cells withheld; "
                )
                + f"peak RSS of the building process {audited['peak_rss_mib']:,.0f} MiB "
                f"({audited['rss_before_build_mib']:,.0f} MiB before the build)."
            )
        lines.append(
            f"- Load average at start {data.get('load_at_start', {}).get('loadavg_1_5_15')}, at "
            f"end {data.get('load_at_end', {}).get('loadavg_1_5_15')}; "
            f"{data.get('wall_seconds', 0):.0f} s for this size."
        )
        lines.append("")
    lines += HOW_TO_READ
    return "\n".join(lines) + "\n"


HOW_TO_READ = [
    "## How to read",
    "",
    "Each row puts one of our paths beside the fastest simple thing that does the same work on "
    "the same machine in the same run; *ratio* is ours ÷ baseline (for throughput, ours ÷ "
    "static, so higher is better; for memory, the share of the 2 GB budget). **Import**: "
    "`import_csv` of the observations file (validation, pseudonyms, visits, inserts, quality "
    "flags, one transaction) vs. the *floor*: the shortest SQL that inserts the same rows "
    "into the real visit and observation tables (COPY into a temporary table, one INSERT … "
    "SELECT per table, COMMIT with its deferred foreign-key checks; no validation), on a scratch "
    "copy of the database as it was before the import. No importer of this schema can be faster "
    "than the floor. The *re-import* imports the same file again right after (every row stored "
    "already: nothing to write), against the first import. PostgreSQL `COPY` of the same CSV, "
    "streamed from a client, into a bare table with the same seven columns (text/date/numeric, "
    "no key or constraint) is given as context: the floor alone is 13–21× COPY (the foreign-key "
    "checks and index maintenance a bare table does not have; bench/findings.md §1), so the "
    "earlier ≤ 3× COPY target was out of reach for any importer of this schema. "
    "**Suite**: from `analysis_run_request` to status *succeeded*, executed by one real Celery "
    "worker with two pool processes over Redis (extraction, cache file, six parts fanned out, "
    "result rows written). `bench/reference_suite.py` is an independent minimal implementation "
    "of rates, trends (APC) and exposure (every row: crude and adjusted rate ratios, the "
    "distance-band trend, the rate ratio per modelled PM10) written from docs/methods.md (one "
    "aggregating SQL statement for the resident-years, one for the stations' annual means, "
    "vectorised formulas, nothing from analytics/ but the standard populations); it is timed "
    "interleaved with the suite's own extraction and part functions in one process (best of "
    "3), per part and whole, and checks its rows equal the run's stored rows to 1e-9 relative. "
    "*Growth* "
    "is our suite time at 100k ÷ at 10k residents (10× the data: ≤ 12× means no worse than "
    "linear). **Page**: the published release page (`/reports/<site>/<year>/v<n>/`, rendered "
    "from the stored snapshot) vs. the same bytes as a static file served by whitenoise from the "
    "same gunicorn (project WSGI app, project settings with only STATIC_ROOT moved, DEBUG off), "
    "32 connections from `wrk` on 127.0.0.1, 10 s per measurement after a 2 s warm-up, two "
    "measurements each, alternating, best kept. **Memory**: the largest sum of resident memory "
    "over the worker's process tree during the 100k suite (conservative: pages shared between "
    "the prefork parent and its children count twice; PSS is given beside it). On a busy 2-core "
    "machine the absolute numbers move by tens of percent between runs; compare ratios, and "
    "rerun before concluding from a ratio close to its target. **Audit**: the whole build of a "
    "correction of the annual report (the data check — change marker and the run's kept data, "
    "else extraction and fingerprint — tables, primary and "
    "complementary suppression, the audit against every published release, saving), in its own "
    "process, after the four earlier years were published; memory is that process's peak RSS "
    "(ru_maxrss), Django and the data included. What the profiles found behind "
    "each missed target, with the proposed fixes and their measured effect: bench/findings.md.",
]


def write_reports(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    rows = figures(results)
    results = {**results, "figures": rows}
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    md_path = out / "results.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(markdown(results, rows))
    return json_path, md_path
