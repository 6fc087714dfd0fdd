"""Notifications (issue 17, part 7): who is told of what, once; opt-out; retries; the webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import override_settings
from django.utils.formats import date_format

from analytics import services as analytics_services
from analytics.models import Alert, AnalysisRun, RunStatus
from healthwatch.roles import Role
from notifications import services
from notifications.models import Notification, NotificationPreference, NotificationStatus
from reports import services as report_services
from reports.models import Release
from surveys.importing import jobs
from surveys.models import ImportJob, ImportJobStatus
from tests.conftest import client_for, make_user
from tests.i18n import h, t
from tests.notifications.conftest import with_email

pytestmark = pytest.mark.django_db
SECRET = "a-webhook-secret-of-at-least-32-bytes!"


def new_alert(run: AnalysisRun | None = None, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "outcome": "acute_respiratory",
        "area_code": "A01",
        "week": dt.date(2025, 6, 2),
        "method": "farrington_flexible",
        "observed": 14.0,
        "expected": 4.1,
        "upper_bound": 9.3,
        "first_run": run,
        "last_run": run,
    }
    values.update(fields)
    return Alert.objects.create(**values)


def test_a_new_alert_mails_every_epidemiologist_with_labels_not_codes(
    epidemiologist: User,
    community_reviewer: User,
    sent_inline: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with_email(epidemiologist)
    with_email(community_reviewer)
    second = with_email(make_user("epi_2", Role.EPIDEMIOLOGIST))
    alert = new_alert()
    with django_capture_on_commit_callbacks(execute=True):
        services.notify_alert_opened(alert_id=alert.pk)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([epidemiologist.email, second.email])
    message = mail.outbox[0]
    assert message.subject == t(
        "Outbreak alert: %(outcome)s in %(area)s, week of %(week)s",
        outcome=t("Acute respiratory infection (new J06 or J20 diagnosis)"),
        area="A01",
        week=date_format(dt.date(2025, 6, 2), "SHORT_DATE_FORMAT"),
    )
    assert t("Farrington flexible (Noufaily 2013)") in message.body
    assert "farrington_flexible" not in message.body and "acute_respiratory" not in message.body
    assert f"/analysis/alerts/{alert.pk}/" in message.body


def test_an_event_noticed_twice_is_mailed_once(
    epidemiologist: User, sent_inline: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with_email(epidemiologist)
    alert = new_alert()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            services.notify_alert_opened(alert_id=alert.pk)
    assert len(mail.outbox) == 1
    assert Notification.objects.get().status == NotificationStatus.SENT


def test_a_redelivered_send_task_sends_nothing_twice(
    epidemiologist: User, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("notifications.tasks.send_notification.apply_async", lambda *a, **k: None)
    with_email(epidemiologist)
    (pk,) = services.notify_alert_opened(alert_id=new_alert().pk)
    first = services.notification_send(notification_id=pk)
    second = services.notification_send(notification_id=pk)
    assert (first, second) == (services.SendOutcome.SENT, services.SendOutcome.NOTHING_TO_DO)
    assert len(mail.outbox) == 1


def test_a_failed_send_is_retried_then_failed_with_the_reason_and_never_doubled(
    epidemiologist: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr("notifications.tasks.send_notification.apply_async", lambda *a, **k: None)
    settings.HEALTHWATCH_NOTIFY_MAX_ATTEMPTS = 2
    with_email(epidemiologist)
    (pk,) = services.notify_alert_opened(alert_id=new_alert().pk)

    def refuse(self: Any, fail_silently: bool = False) -> int:
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    assert services.notification_send(notification_id=pk) is services.SendOutcome.RETRY
    row = Notification.objects.get(pk=pk)
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert "SMTP server down" in row.last_error
    # Not before its back-off is over, however often the task is delivered.
    assert services.notification_send(notification_id=pk) is services.SendOutcome.NOTHING_TO_DO
    Notification.objects.filter(pk=pk).update(next_attempt_at=row.created_at)
    assert services.notification_send(notification_id=pk) is services.SendOutcome.FAILED
    assert Notification.objects.get(pk=pk).status == NotificationStatus.FAILED
    assert services.notification_send(notification_id=pk) is services.SendOutcome.NOTHING_TO_DO


def test_a_send_claimed_by_a_worker_that_died_is_sent_again_by_the_sweep(
    epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(
        "notifications.tasks.send_notification.apply_async",
        lambda args, **k: queued.append(args[0]),
    )
    with_email(epidemiologist)
    (pk,) = services.notify_alert_opened(alert_id=new_alert().pk)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    Notification.objects.filter(pk=pk).update(
        status=NotificationStatus.SENDING, claimed_at=long_ago
    )
    assert services.notifications_sweep() == 1 and queued == [pk]
    assert services.notification_send(notification_id=pk) is services.SendOutcome.SENT
    assert len(mail.outbox) == 1


def test_a_person_who_opted_out_is_not_mailed_and_others_still_are(
    epidemiologist: User, sent_inline: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with_email(epidemiologist)
    other = with_email(make_user("epi_2", Role.EPIDEMIOLOGIST))
    response = client_for(epidemiologist).post(
        "/accounts/notifications/", {"release_in_review": "on", "job_failed": "on"}
    )
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=epidemiologist).alert_opened is False
    with django_capture_on_commit_callbacks(execute=True):
        services.notify_alert_opened(alert_id=new_alert().pk)
    assert [m.to for m in mail.outbox] == [[other.email]]


def test_the_settings_page_shows_the_choices_as_labels(epidemiologist: User) -> None:
    page = client_for(epidemiologist).get("/accounts/notifications/").content.decode()
    assert h("New outbreak alerts (epidemiologists)") in page
    assert h("Releases awaiting community review (community reviewers)") in page
    assert "alert_opened</" not in page  # the field's code is only its name attribute
    assert (
        h(
            "Your account has no e-mail address, so you receive no e-mails. Ask an administrator "
            "to add one."
        )
        in page
    )


def test_sending_a_release_to_community_review_mails_the_reviewers_once_a_round(
    epidemiologist: User,
    community_reviewer: User,
    sent_inline: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with_email(epidemiologist)
    with_email(community_reviewer)
    release = Release.objects.create(site_code="RH-SEP", site_name="Red Hill", year=2025)
    with django_capture_on_commit_callbacks(execute=True):
        report_services.release_approve(user=epidemiologist, release=release)
    assert [m.to for m in mail.outbox] == [[community_reviewer.email]]
    assert mail.outbox[0].subject == t(
        "Awaiting your review: %(site)s %(year)s, version %(version)s",
        site="Red Hill",
        year=2025,
        version=1,
    )
    assert f"/review/releases/{release.pk}/" in mail.outbox[0].body


def test_a_failed_run_mails_its_requester_once(
    epidemiologist: User, sent_inline: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with_email(epidemiologist)
    run = AnalysisRun.objects.create(created_by=epidemiologist, status=RunStatus.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        analytics_services.analysis_run_fail(run_id=run.pk, error=ValueError("no population"))
        analytics_services.analysis_run_fail(run_id=run.pk, error=ValueError("no population"))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [epidemiologist.email]
    assert "no population" in mail.outbox[0].body


def test_a_failed_import_job_mails_its_requester_and_a_good_one_mails_nobody(
    worker_a: User, sent_inline: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with_email(worker_a)
    good = ImportJob.objects.create(
        kind="visits", file_name="ok.csv", size=1, requested_by=worker_a
    )
    bad = ImportJob.objects.create(
        kind="visits", file_name="bad.csv", size=1, requested_by=worker_a
    )
    with django_capture_on_commit_callbacks(execute=True):
        jobs._finish(good.pk, ImportJobStatus.DONE, report={"error_count": 0})
        jobs._finish(bad.pk, ImportJobStatus.FAILED, error="The import was lost.")
    assert [m.subject for m in mail.outbox] == [t("Import of %(file)s failed", file="bad.csv")]
    assert mail.outbox[0].to == [worker_a.email]


def test_each_e_mail_is_written_in_the_language_its_recipient_saved_not_the_worker_s(
    epidemiologist: User, sent_inline: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    from django.utils import translation

    from healthwatch.i18n import save_language

    with_email(epidemiologist)
    chinese = with_email(make_user("epi_zh", Role.EPIDEMIOLOGIST))
    save_language(epidemiologist, "fr")
    save_language(chinese, "zh-hans")
    alert = new_alert()
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        services.notify_alert_opened(alert_id=alert.pk)
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    for user, language in ((epidemiologist, "fr"), (chinese, "zh-hans")):
        with translation.override(language):
            subject = t(
                "Outbreak alert: %(outcome)s in %(area)s, week of %(week)s",
                outcome=t("Acute respiratory infection (new J06 or J20 diagnosis)"),
                area="A01",
                week=date_format(dt.date(2025, 6, 2), "SHORT_DATE_FORMAT"),
            )
        assert subjects[user.email] == subject
    assert subjects[epidemiologist.email] != subjects[chinese.email]


def test_an_import_refused_by_the_queue_is_mailed_in_the_requester_s_language(
    worker_a: User, sent_inline: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    from django.utils import translation

    from healthwatch.i18n import save_language

    save_language(with_email(worker_a), "pt-br")
    job = ImportJob.objects.create(kind="visits", file_name="v.csv", size=1, requested_by=worker_a)
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        jobs._finish(
            job.pk, ImportJobStatus.FAILED, error="Error 111", error_code="queue_unavailable"
        )
    with translation.override("pt-br"):
        refusal = t(
            "Not started: the job queue is unavailable (%(error)s). Upload the file again later.",
            error="Error 111",
        )
        assert mail.outbox[0].subject == t("Import of %(file)s failed", file="v.csv")
    assert refusal in mail.outbox[0].body


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[Any, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers, body))  # case-insensitive names
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[str]:
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_the_webhook_receives_the_event_once_signed_with_the_secret(
    webhook_receiver: str, sent_inline: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    with override_settings(
        HEALTHWATCH_WEBHOOK_URL=webhook_receiver, HEALTHWATCH_WEBHOOK_SECRET=SECRET
    ):
        alert = new_alert()
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                services.notify_alert_opened(alert_id=alert.pk)
    assert len(Receiver.received) == 1
    headers, body = Receiver.received[0]
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-HealthWatch-Signature"] == f"sha256={expected}"
    assert headers["X-HealthWatch-Event"] == "alert_opened"
    document = json.loads(body)
    assert document["data"]["alert_id"] == alert.pk
    assert document["delivery"] == headers["X-HealthWatch-Delivery"]


def test_a_notification_that_cannot_be_written_never_fails_the_alert(
    epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> list[int]:
        raise RuntimeError("outbox table missing")

    monkeypatch.setattr(services, "_record", broken)
    assert services.notify_alert_opened(alert_id=new_alert().pk) == []
    assert Alert.objects.count() == 1


def test_a_twenty_minute_mail_outage_costs_three_attempts_and_the_mail_still_goes_out(
    epidemiologist: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The beat sweeps every five minutes; each sweep queues only the rows that are due."""
    settings.HEALTHWATCH_NOTIFY_MAX_ATTEMPTS = 5
    queued: list[int] = []
    monkeypatch.setattr(
        "notifications.tasks.send_notification.apply_async",
        lambda args, **k: queued.append(args[0]),
    )
    with_email(epidemiologist)
    (pk,) = services.notify_alert_opened(alert_id=new_alert().pk)
    down = True

    def send(self: Any, fail_silently: bool = False) -> int:
        if down:
            raise ConnectionRefusedError("SMTP server down")
        return 1

    monkeypatch.setattr("django.core.mail.EmailMessage.send", send)
    start = dt.datetime.now(dt.UTC)
    clock = {"now": start}
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock["now"])
    assert services.notification_send(notification_id=pk) is services.SendOutcome.RETRY
    for minute in range(5, 45, 5):
        clock["now"] = start + dt.timedelta(minutes=minute)
        down = minute < 20
        queued.clear()
        services.notifications_sweep(now=clock["now"])
        for queued_pk in queued:
            services.notification_send(notification_id=queued_pk)
    row = Notification.objects.get(pk=pk)
    # Tried at 0 (failed, due +1 min), 5 (failed, due +5), 10 (failed, due +15 = 25); the
    # sweeps at 15 and 20 queue nothing; at 25 the server is back: three failures, one send.
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 4)


class Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", Redirector.target)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_webhook_does_not_follow_a_redirect(
    webhook_receiver: str, epidemiologist: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("notifications.tasks.send_notification.apply_async", lambda *a, **k: None)
    Redirector.target = webhook_receiver
    server = HTTPServer(("127.0.0.1", 0), Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with override_settings(
            HEALTHWATCH_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook",
            HEALTHWATCH_WEBHOOK_SECRET=SECRET,
        ):
            ids = services.notify_alert_opened(alert_id=new_alert().pk)
            (webhook,) = Notification.objects.filter(pk__in=ids, channel="webhook")
            outcome = services.notification_send(notification_id=webhook.pk)
    finally:
        server.shutdown()
    assert outcome is services.SendOutcome.RETRY
    assert Receiver.received == []
    assert "307" in Notification.objects.get(pk=webhook.pk).last_error
