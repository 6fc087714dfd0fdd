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


def load_vocabulary(
    code_model: Any, version: str = "1", translation_model: Any | None = None
) -> int:
    """Create or update every code of a vocabulary version; returns how many were written.

    Takes the models as arguments so that migrations can pass their historical models; with
    `translation_model` (CodeLabelTranslation) the labels in other languages are loaded too.
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
        code, _created = code_model.objects.update_or_create(code=entry["code"], defaults=defaults)
        if translation_model is not None:
            _load_translations(translation_model, code, entry.get("translations", {}))
    return len(codes)


def load_translations(code_model: Any, translation_model: Any, version: str = "1") -> int:
    """Create or update the translated labels of a vocabulary version's codes."""
    _version, codes = read_vocabulary(version)
    written = 0
    for entry in codes:
        code = code_model.objects.filter(code=entry["code"]).first()
        if code is not None:
            written += _load_translations(translation_model, code, entry.get("translations", {}))
    return written


def _load_translations(translation_model: Any, code: Any, translations: dict[str, Any]) -> int:
    for language, texts in translations.items():
        translation_model.objects.update_or_create(
            code=code,
            language=language,
            defaults={"label": texts["label"], "help_text": texts.get("help_text", "")},
        )
    return len(translations)
