"""What `make run` loads after the demo users: every part of HealthWatch that exists.

Each later capability adds its step here, so `make run` always shows everything that exists.
"""

from __future__ import annotations


def demo_data_load() -> list[str]:
    """Load demo data; return lines describing what was done. Safe to run repeatedly."""
    return ["No demo data steps yet."]


def demo_urls(base: str) -> list[str]:
    """Interesting URLs of the demo, printed by `make run`."""
    return []
