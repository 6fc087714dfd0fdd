"""Notifications sent by a real Celery worker on PostgreSQL + Redis (issue 17, part 7): the
planted outbreak's alerts reach the epidemiologist by e-mail once per alert, and a re-run that
computes the alerts again sends nothing more."""

from __future__ import annotations

import datetime as dt
import email
import json
import re
import time
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from analytics.models import Alert, AnalysisRun, RunStatus
from notifications.models import Notification, NotificationStatus
from tests.conftest import client_for, load_community
from tests.i18n import shape

pytestmark = pytest.mark.django_db(transaction=True)

RESIDENTS = 2500
SEED = 2026
RUN_FORM = {"near_km": "2", "far_km": "8", "standard": "who_world_2000_2025", "pollutant": "pm10"}


@pytest.fixture(scope="session")
def outbreak_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from surveys.synthetic import generate_community

    folder = tmp_path_factory.mktemp("notify-community")
    generate_community(residents=RESIDENTS, years=5, seed=SEED, out_dir=folder, end_year=2025)
    return folder


def wait_for(check: Any, what: str, timeout: float = 420) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def subject_of(mail: str) -> str:
    """The Subject header as the reader sees it (RFC 2047 words decoded, folding undone)."""
    header = email.message_from_string(mail.strip())["Subject"]
    # Unfold only line breaks: a French subject's no-break space before ":" is the text's own.
    return re.sub(r"[ \t]*\r?\n[ \t]+", " ", str(make_header(decode_header(header))))


def mails_in(folder: Path) -> list[str]:
    """The file backend writes each connection's messages to a file, separated by a rule."""
    texts = [path.read_text() for path in sorted(folder.glob("*.log"))] if folder.exists() else []
    return [part for text in texts for part in text.split("-" * 79) if "Subject:" in part]


def test_a_real_worker_mails_the_planted_outbreak_once_per_alert_even_when_re_run(
    outbreak_folder: Path,
    vocabulary: None,
    epidemiologist: User,
    start_worker: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    mail_folder = tmp_path / "mail"
    # The worker process reads these at start-up: its e-mails go to files the test can read.
    monkeypatch.setenv("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    monkeypatch.setenv("EMAIL_FILE_PATH", str(mail_folder))
    worker = start_worker("notify")
    epidemiologist.email = "epi@example.org"
    epidemiologist.save(update_fields=["email"])
    load_community(outbreak_folder)
    outbreak = json.loads((outbreak_folder / "truth.json").read_text())["effects"][
        "acute_respiratory_outbreak"
    ]["outbreak"]

    assert client_for(epidemiologist).post("/analysis/runs/", RUN_FORM).status_code == 302
    first = AnalysisRun.objects.get()
    wait_for(lambda: AnalysisRun.objects.get(pk=first.pk).is_finished, "the run")
    assert AnalysisRun.objects.get(pk=first.pk).status == RunStatus.SUCCEEDED
    alerts = Alert.objects.count()
    weeks = [dt.date.fromisoformat(w) for w in outbreak["week_starts"]]
    assert Alert.objects.filter(area_code=outbreak["area_code"], week__in=weeks).exists()
    wait_for(
        lambda: Notification.objects.filter(status=NotificationStatus.SENT).count() == alerts,
        "the e-mails",
        timeout=120,
    )
    sent = mails_in(mail_folder)
    assert len(sent) == alerts, worker.log_text()[-3000:]
    alert_subject = shape("Outbreak alert: %(outcome)s in %(area)s, week of %(week)s")
    assert all("To: epi@example.org" in m for m in sent)
    assert all(re.fullmatch(alert_subject, subject_of(m)) for m in sent), [
        subject_of(m) for m in sent
    ]

    # Another run on other parameters computes the alerts again: nobody is mailed twice.
    assert (
        client_for(epidemiologist).post("/analysis/runs/", {**RUN_FORM, "near_km": "3"}).status_code
        == 302
    )
    second = AnalysisRun.objects.order_by("-pk").first()
    assert second is not None and second.pk != first.pk
    wait_for(lambda: AnalysisRun.objects.get(pk=second.pk).is_finished, "the second run")
    second.refresh_from_db()
    assert second.status == RunStatus.SUCCEEDED and not second.reused
    assert set(Alert.objects.values_list("last_run", flat=True)) == {second.pk}
    time.sleep(3)  # anything queued by the second run has had time to be sent
    assert Notification.objects.count() == alerts
    assert len(mails_in(mail_folder)) == alerts
