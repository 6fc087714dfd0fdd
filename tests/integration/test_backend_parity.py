"""The same data gives the same extraction and the same results on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

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


# PostgreSQL reads the observations in one stream below HALVES_FROM_RESIDENTS residents and
# in two halves side by side above it: both ways must give SQLite's frames.
@pytest.mark.parametrize("halves_from", [2, 10**9], ids=["in-halves", "in-one-stream"])
def test_extraction_and_results_are_identical_on_sqlite_and_postgresql(
    tiny_community: Path,
    vocabulary: None,
    tmp_path: Path,
    halves_from: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert connection.vendor == "postgresql"
    load_community(tiny_community)
    monkeypatch.setattr(extraction, "HALVES_FROM_RESIDENTS", halves_from)
    halves = extraction._middle_resident() is not None
    assert halves == (halves_from == 2)
    data = extract_all()
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
