"""The versioned vocabulary shipped as data (surveys/data/vocabulary_v*.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
FIELDS = (
    "label",
    "category",
    "kind",
    "medium",
    "canonical_unit",
    "accepted_units",
    "min_value",
    "max_value",
    "icd10",
    "loinc",
    "reference_level",
    "reference_note",
)


def read_vocabulary(version: str = "1") -> tuple[str, list[dict[str, Any]]]:
    data = json.loads((DATA_DIR / f"vocabulary_v{version}.json").read_text(encoding="utf-8"))
    return data["version"], data["codes"]


def load_vocabulary(code_model: Any, version: str = "1") -> int:
    """Create or update every code of a vocabulary version; returns how many were written.

    Takes the model as an argument so that migrations can pass their historical model.
    """
    vocabulary_version, codes = read_vocabulary(version)
    for entry in codes:
        defaults = {
            "label": entry["label"],
            "category": entry["category"],
            "kind": entry["kind"],
            "medium": entry.get("medium", ""),
            "canonical_unit": entry.get("canonical_unit", ""),
            "accepted_units": entry.get("accepted_units", {}),
            "min_value": entry.get("min_value"),
            "max_value": entry.get("max_value"),
            "icd10": entry.get("icd10", ""),
            "loinc": entry.get("loinc", ""),
            "reference_level": entry.get("reference_level"),
            "reference_note": entry.get("reference_note", ""),
            "vocabulary_version": vocabulary_version,
        }
        code_model.objects.update_or_create(code=entry["code"], defaults=defaults)
    return len(codes)
