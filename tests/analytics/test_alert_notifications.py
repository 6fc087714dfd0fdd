"""An outbreak alert reaches the epidemiologists by e-mail, once (issue 17, part 7 acceptance):
the synthetic community's planted outbreak, analysed through the run services, then re-run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils.formats import date_format

from analytics import services
from analytics.models import Alert, AnalysisRun
from notifications.models import Notification, NotificationStatus
from surveys.models import Area
from tests.conftest import load_community

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queued notifications are sent at once in this process, as a worker would."""
    from notifications import services as notifications
    from notifications import tasks

    monkeypatch.setattr(
        tasks.send_notification,
        "apply_async",
        lambda args, **kwargs: notifications.notification_send(notification_id=args[0]),
    )


def analyse(user: User, parameters: dict[str, Any], on_commit: Any) -> AnalysisRun:
    """A run as the workers do it, up to the part that raises the alerts."""
    run = services.analysis_run_request(user=user, parameters=parameters, enqueue=False)
    with on_commit(execute=True):
        services.analysis_run_start(run_id=run.pk, enqueue=False)
        services.analysis_part_compute(run_id=run.pk, part_name="aberration")
    return AnalysisRun.objects.get(pk=run.pk)


def test_the_planted_outbreak_mails_each_epidemiologist_once_per_alert_even_when_re_run(
    community_files: Path,
    epidemiologist: User,
    community_reviewer: User,
    sent_inline: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for user in (epidemiologist, community_reviewer):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])
    load_community(community_files)
    truth = json.loads((community_files / "truth.json").read_text())
    outbreak = truth["effects"]["acute_respiratory_outbreak"]["outbreak"]
    weeks = {dt.date.fromisoformat(w) for w in outbreak["week_starts"]}

    first = analyse(epidemiologist, {}, django_capture_on_commit_callbacks)
    alerts = list(Alert.objects.all())
    planted = [a for a in alerts if a.area_code == outbreak["area_code"] and a.week in weeks]
    assert planted, alerts
    assert len(mail.outbox) == len(alerts)  # one e-mail per alert, to the one epidemiologist
    assert {m.to[0] for m in mail.outbox} == {epidemiologist.email}
    area_name = Area.objects.get(code=outbreak["area_code"]).name
    week = date_format(planted[0].week, "SHORT_DATE_FORMAT")
    about_planted = [m for m in mail.outbox if area_name in m.subject and week in m.subject]
    assert len(about_planted) == 1, [m.subject for m in mail.outbox]
    assert outbreak["area_code"] not in about_planted[0].subject  # the area's name, not code

    # Re-run on other parameters: a new result set, so the aberration part runs again and
    # meets the same alerts. Nobody is told twice.
    second = analyse(epidemiologist, {"near_km": 3.0}, django_capture_on_commit_callbacks)
    assert second.result_set_id != first.result_set_id
    assert Alert.objects.count() == len(alerts)
    assert set(Alert.objects.values_list("last_run", flat=True)) == {second.pk}
    assert len(mail.outbox) == len(alerts)
    assert Notification.objects.filter(kind="alert_opened").count() == len(alerts)
    assert not Notification.objects.exclude(status=NotificationStatus.SENT).exists()
