"""Mail and webhook settings from the environment, read in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def setting(name: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "HEALTHWATCH_W"))}
    environ.update({"HEALTHWATCH_ENV_FILE": "/nonexistent/.env", "DEBUG": "true", **env})
    program = (
        f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    )
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_an_smtp_host_e_mails_go_to_the_console() -> None:
    result = setting("EMAIL_BACKEND")
    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend", result.stderr


def test_an_smtp_host_in_the_environment_selects_smtp() -> None:
    result = setting("EMAIL_BACKEND", EMAIL_HOST="smtp.example.org")
    assert result.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend", result.stderr


def test_a_webhook_without_a_long_enough_secret_stops_start_up_naming_it() -> None:
    result = setting(
        "HEALTHWATCH_WEBHOOK_URL",
        HEALTHWATCH_WEBHOOK_URL="https://hooks.example.org/hw",
        HEALTHWATCH_WEBHOOK_SECRET="short",
    )
    assert result.returncode != 0
    assert "HEALTHWATCH_WEBHOOK_SECRET must be set" in result.stderr
