"""Check a Frictionless data package offline: the descriptor against a JSON Schema of the Data
Package and Table Schema specifications (the parts a tabular package uses), then every CSV
against its own schema (the header, and each cell parses as its field's type)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from typing import Any

import jsonschema

NAME = {"type": "string", "pattern": "^([-a-z0-9._/])+$"}
FIELD_TYPES = [
    "string", "number", "integer", "boolean", "object", "array", "date", "time", "datetime",
    "year", "yearmonth", "duration", "geopoint", "geojson", "any",
]  # fmt: skip
DATA_PACKAGE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["name", "resources", "licenses"],
    "properties": {
        "profile": {"enum": ["tabular-data-package", "data-package"]},
        "name": NAME,
        "title": {"type": "string"},
        "created": {"type": "string", "format": "date-time"},
        "licenses": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "anyOf": [{"required": ["name"]}, {"required": ["path"]}],
                "properties": {
                    # An Open Definition licence id, e.g. CC-BY-4.0 (upper case allowed).
                    "name": {"type": "string", "pattern": "^([-a-zA-Z0-9._])+$"},
                    "path": {"type": "string"},
                    "title": {"type": "string"},
                },
            },
        },
        "resources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "path", "schema"],
                "properties": {
                    "name": NAME,
                    "path": {"type": "string", "pattern": "^[^/].*\\.csv$"},
                    "profile": {"const": "tabular-data-resource"},
                    "format": {"const": "csv"},
                    "mediatype": {"const": "text/csv"},
                    "encoding": {"const": "utf-8"},
                    "schema": {
                        "type": "object",
                        "required": ["fields"],
                        "properties": {
                            "fields": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "type": {"enum": FIELD_TYPES},
                                        "description": {"type": "string"},
                                    },
                                },
                            }
                        },
                    },
                },
            },
        },
    },
}


def _parses(kind: str, text: str) -> bool:
    if text == "":
        return True  # Table Schema's default missingValues
    try:
        if kind == "integer":
            int(text)
        elif kind == "number":
            float(text)
        elif kind == "boolean":
            return text in ("true", "false")
        elif kind == "datetime":
            dt.datetime.fromisoformat(text)
        elif kind == "date":
            dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def problems_of(archive_bytes: bytes) -> list[str]:
    """Every problem of the package; an empty list when it validates."""
    archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
    descriptor = json.loads(archive.read("datapackage.json"))
    validator = jsonschema.Draft7Validator(DATA_PACKAGE_SCHEMA)
    found = [f"datapackage.json: {e.message}" for e in validator.iter_errors(descriptor)]
    for resource in descriptor.get("resources", []):
        fields = resource["schema"]["fields"]
        rows = list(csv.reader(io.StringIO(archive.read(resource["path"]).decode("utf-8"))))
        if rows[0] != [f["name"] for f in fields]:
            found.append(f"{resource['path']}: header {rows[0]} is not the schema's fields")
            continue
        for number, row in enumerate(rows[1:], start=2):
            for field, cell in zip(fields, row, strict=True):
                if not _parses(field.get("type", "string"), cell):
                    found.append(f"{resource['path']} row {number}, {field['name']}: {cell!r}")
    return found
