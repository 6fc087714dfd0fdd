"""Shared fixtures for the pure-Python statistics tests (no Django needed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


@pytest.fixture(scope="session")
def golden() -> Callable[[str], Any]:
    """Load ``golden/<name>.json`` written by the R scripts in ``r/``."""

    def load(name: str) -> Any:
        return json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))

    return load
