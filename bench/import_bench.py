"""Import benchmark: a large observations file, streamed, with time and peak memory.

    .venv/bin/python bench/import_bench.py --rows 50000
    .venv/bin/python bench/import_bench.py --rows 1000000 --residents 20000
    DATABASE_URL=postgres://healthwatch@127.0.0.1:5432/healthwatch .venv/bin/python \
        bench/import_bench.py --rows 200000

Runs against a throw-away test database (Django's test database machinery: a temporary
SQLite file, or test_<name> on PostgreSQL), never the real one. Prints rows/s for validation +
write and the peak resident memory above the baseline, for the first import and for the
second (idempotent, 0 created) import of the same file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOOLEAN_CODES = ("symptom.cough", "symptom.wheeze", "symptom.headache", "dx.J45")
NUMERIC_CODES = (
    ("lab.blood_lead", "µg/dL", 1.0, 3.0),
    ("lab.urine_cadmium", "µg/L", 0.2, 1.0),
    ("lab.urine_fluoride", "mg/L", 0.5, 1.5),
    ("vital.bmi", "kg/m2", 18.0, 30.0),
)


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class PeakMemory:
    """Samples the resident set size every 20 ms in a thread."""

    def __enter__(self) -> PeakMemory:
        self.base = rss_kb()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kb())


def write_files(directory: Path, rows: int, residents: int, seed: int) -> tuple[Path, Path]:
    rng = random.Random(seed)
    residents_path = directory / "residents.csv"
    with residents_path.open("w", encoding="utf-8") as f:
        f.write(
            "study_id,area_code,birth_year,sex,enrolled_on,latitude,longitude,works_at_site,"
            "smoking\n"
        )
        for i in range(residents):
            lat = 25.0 + rng.uniform(-0.05, 0.05)
            lon = 110.0 + rng.uniform(-0.05, 0.05)
            f.write(
                f"BENCH-{i:07d},B{i % 4},{rng.randint(1930, 2015)},{'FM'[i % 2]},2020-01-01,"
                f"{lat:.5f},{lon:.5f},false,unknown\n"
            )
    observations_path = directory / "observations.csv"
    start = dt.date(2020, 1, 2)
    written = 0
    visit = 0
    with observations_path.open("w", encoding="utf-8") as f:
        f.write("study_id,observed_on,code,value,unit,below_lod,lod\n")
        while written < rows:
            resident = visit % residents
            day = start + dt.timedelta(days=visit // residents * 7 + resident % 7)
            visit += 1
            for code in BOOLEAN_CODES:
                f.write(f"BENCH-{resident:07d},{day},{code},{rng.random() < 0.1},,,\n")
            for code, unit, low, high in NUMERIC_CODES:
                if rng.random() < 0.05:
                    f.write(f"BENCH-{resident:07d},{day},{code},,{unit},true,{low / 2:g}\n")
                else:
                    value = rng.uniform(low, high)
                    f.write(f"BENCH-{resident:07d},{day},{code},{value:.3f},{unit},false,\n")
            written += len(BOOLEAN_CODES) + len(NUMERIC_CODES)
    return residents_path, observations_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--residents", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="hw-import-bench-"))
    os.environ.setdefault("SQLITE_TEST_NAME", str(workdir / "bench.sqlite3"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")
    import django

    django.setup()
    from django.db import connection

    from surveys.importing import import_csv
    from surveys.models import Area, Observation, ProductionSite, Visit

    residents_path, observations_path = write_files(workdir, args.rows, args.residents, args.seed)
    size_mb = observations_path.stat().st_size / 1e6
    print(f"observations file: {args.rows:,} rows, {size_mb:.1f} MB ({observations_path})")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
        ProductionSite.objects.create(
            code="S", name="Site", kind="mine", latitude=25.0, longitude=110.0
        )
        for i in range(4):
            Area.objects.create(code=f"B{i}", name=f"Bench {i}", latitude=25.0, longitude=110.0)
        with residents_path.open("rb") as stream:
            report = import_csv(
                kind="residents", stream=stream, file_name="residents.csv", user=None
            )
        assert report.ok, report.errors[:5]
        for attempt in ("first import", "second import (same file)"):
            with PeakMemory() as memory, observations_path.open("rb") as stream:
                started = time.perf_counter()
                report = import_csv(
                    kind="observations", stream=stream, file_name="obs.csv", user=None
                )
                seconds = time.perf_counter() - started
            assert report.ok, report.errors[:5]
            print(
                f"{attempt}: {report.rows:,} rows, {report.created:,} created, "
                f"{report.unchanged:,} unchanged in {seconds:.1f} s = "
                f"{report.rows / seconds:,.0f} rows/s; peak RSS {memory.peak / 1024:.0f} MB "
                f"(+{(memory.peak - memory.base) / 1024:.0f} MB over the "
                f"{memory.base / 1024:.0f} MB before)"
            )
        print(f"stored: {Visit.objects.count():,} visits, {Observation.objects.count():,} obs")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
