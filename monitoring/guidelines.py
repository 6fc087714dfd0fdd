"""The starter guideline values, shipped as data (monitoring/data/guidelines.json).

Takes the model classes as arguments so that the data migration (historical models) and the
test world (after a flush) load the same rows the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "guidelines.json"


def load_guidelines(guideline_model: Any, vocabulary_model: Any) -> int:
    """Create the shipped guideline values that are missing; returns how many were created."""
    created = 0
    for row in json.loads(DATA.read_text(encoding="utf-8")):
        row = dict(row)
        code = vocabulary_model.objects.filter(code=row.pop("pollutant")).first()
        if code is None:
            continue
        _guideline, new = guideline_model.objects.get_or_create(
            pollutant=code, source=row["source"], averaging=row["averaging"], defaults=row
        )
        created += int(new)
    return created
