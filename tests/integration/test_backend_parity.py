"""The same data gives the same extraction and the same results on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from analytics import extraction, suite
from analytics.extraction import extract_all
from tests.conftest import load_community

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import hashlib, json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.conftest import load_community
from pathlib import Path
load_community(Path({folder!r}))
from analytics import suite
from analytics.extraction import extract_all
data = extract_all()
rates = suite.part_rates(data, suite.clean_parameters({{}})).rows
print(json.dumps({{"fingerprint": data.fingerprint(),
                  "rates": hashlib.sha256(rates.to_csv(index=False).encode()).hexdigest()}}))
"""


# PostgreSQL reads the observations in one stream below HALVES_FROM_PAGES pages and in two
# halves side by side above it, a row of arrays per CHUNK_PAGES pages: every way must give
# SQLite's frames (the tiny community fills a few pages; one page a chunk makes many chunks).
@pytest.mark.parametrize(
    ("halves_from", "chunk_pages", "side_by_side"),
    [
        (2, 1, True),
        (10**9, 1, True),
        (10**9, extraction.CHUNK_PAGES, True),
        (2, 1, False),
    ],
    ids=[
        "in-halves-page-by-page",
        "in-one-stream-page-by-page",
        "in-one-stream-one-chunk",
        "one-connection-one-snapshot",
    ],
)
def test_extraction_and_results_are_identical_on_sqlite_and_postgresql(
    tiny_community: Path,
    vocabulary: None,
    tmp_path: Path,
    halves_from: int,
    chunk_pages: int,
    side_by_side: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert connection.vendor == "postgresql"
    load_community(tiny_community)
    monkeypatch.setattr(extraction, "HALVES_FROM_PAGES", halves_from)
    monkeypatch.setattr(extraction, "CHUNK_PAGES", chunk_pages)
    monkeypatch.setattr(extraction, "READ_SIDE_BY_SIDE", side_by_side)
    pages = extraction._table_pages("surveys_observation")
    assert pages >= 3, "the community must fill pages enough for halves and chunks"
    reads: list[str] = []
    read = extraction._column_arrays

    def recorded(sql: str, fields: dict[str, str]) -> dict[str, Any]:
        reads.append(sql)
        return read(sql, fields)

    monkeypatch.setattr(extraction, "_column_arrays", recorded)
    data = extract_all()
    observation_reads = [sql for sql in reads if "surveys_observation" in sql]
    assert len(observation_reads) == (2 if halves_from == 2 and side_by_side else 1)
    chunks = sum(sql.count("UNION ALL") + 1 for sql in observation_reads)
    assert chunks == (pages if chunk_pages == 1 else 1)
    rates = suite.part_rates(data, suite.clean_parameters({})).rows
    here = {
        "fingerprint": data.fingerprint(),
        "rates": hashlib.sha256(rates.to_csv(index=False).encode()).hexdigest(),
    }
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'parity.sqlite3'}",
        "CELERY_BROKER_URL": "memory://localhost/",
        "HEALTHWATCH_ANALYSE_AFTER_IMPORT": "false",
        "DJANGO_SETTINGS_MODULE": "healthwatch.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(folder=str(tiny_community))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sqlite = json.loads(result.stdout.strip().splitlines()[-1])
    assert sqlite == here
