"""Start-up refuses an unsafe configuration, in a fresh interpreter as a deployment would."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_django(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "HEALTHWATCH_PSEUDONYM_KEY", "DEBUG", "DATABASE_URL"}
    }
    environ.update({"HEALTHWATCH_ENV_FILE": "/nonexistent/.env", **env})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_debug_a_missing_secret_key_stops_start_up_saying_what_to_set() -> None:
    result = start_django(DEBUG="false", HEALTHWATCH_PSEUDONYM_KEY="k")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_without_debug_a_missing_pseudonym_key_stops_start_up_saying_what_to_set() -> None:
    result = start_django(DEBUG="false", SECRET_KEY="s" * 50)
    assert result.returncode != 0
    assert "HEALTHWATCH_PSEUDONYM_KEY is not set" in result.stderr


def test_with_both_secrets_set_start_up_succeeds() -> None:
    result = start_django(DEBUG="false", SECRET_KEY="s" * 50, HEALTHWATCH_PSEUDONYM_KEY="k" * 32)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_a_malformed_setting_stops_start_up_naming_it() -> None:
    result = start_django(DEBUG="true", API_PAGE_SIZE="lots")
    assert result.returncode != 0
    assert "API_PAGE_SIZE='lots' is not a whole number" in result.stderr


def test_a_time_limit_below_the_soft_limit_is_refused() -> None:
    result = start_django(
        DEBUG="true", CELERY_TASK_SOFT_TIME_LIMIT="60", CELERY_TASK_TIME_LIMIT="30"
    )
    assert result.returncode != 0
    assert "CELERY_TASK_TIME_LIMIT must be greater" in result.stderr


def test_without_debug_a_pseudonym_key_shorter_than_32_bytes_stops_start_up() -> None:
    result = start_django(DEBUG="false", SECRET_KEY="s" * 50, HEALTHWATCH_PSEUDONYM_KEY="k" * 31)
    assert result.returncode != 0
    assert "HEALTHWATCH_PSEUDONYM_KEY must be at least 32 bytes" in result.stderr


def test_with_debug_on_a_short_development_pseudonym_key_is_allowed() -> None:
    result = start_django(DEBUG="true", HEALTHWATCH_PSEUDONYM_KEY="short")
    assert result.returncode == 0, result.stderr


def test_a_malformed_api_throttle_rate_stops_start_up_naming_it() -> None:
    result = start_django(DEBUG="true", API_THROTTLE_USER="lots")
    assert result.returncode != 0
    assert "API_THROTTLE_USER='lots' is not a rate" in result.stderr


def test_the_deploy_check_passes_with_only_the_two_warnings_that_depend_on_the_proxy() -> None:
    """README, "The deploy check": no errors; HSTS and the SSL redirect are the site's choice."""
    import re
    import secrets

    environ = {
        key: value
        for key, value in os.environ.items()
        # DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests set it for Playwright in this process;
        # a deployment never has it (async.E001), so the checked process must not inherit it.
        if key
        not in {
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "HEALTHWATCH_BEHIND_TLS_PROXY",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    environ.update(
        HEALTHWATCH_ENV_FILE="/nonexistent/.env",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        HEALTHWATCH_PSEUDONYM_KEY=secrets.token_urlsafe(32),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert set(re.findall(r"\(([a-z_]+\.[EW]\d+)\)", output)) == {"security.W004", "security.W008"}
