"""Writes of notifications: record who is to be told of an event (the outbox rows, in the
event's own transaction), send one row (claimed first, so at most once), and sweep what a lost
message or worker left waiting.

The events' services call the ``notify_*`` functions; nothing here raises into them: a
notification that cannot be written is logged, never a reason to fail an analysis or an import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from healthwatch.i18n import localized_decimal
from healthwatch.roles import Role
from notifications.models import (
    Channel,
    Notification,
    NotificationKind,
    NotificationPreference,
    NotificationStatus,
)

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-HealthWatch-Signature"
EVENT_HEADER = "X-HealthWatch-Event"
DELIVERY_HEADER = "X-HealthWatch-Delivery"
WEBHOOK_TIMEOUT_SECONDS = 10
#: A row claimed for sending this long ago, still not sent: its worker died; send it again.
CLAIM_STALE_SECONDS = 15 * 60
#: A row waiting this long was never delivered to a worker (the queue was down): queue again.
PENDING_STALE_SECONDS = 5 * 60
#: Back-off after the 1st, 2nd… failed send (seconds). The row holds its next attempt's time
#: and the five-minute sweep queues it when due: no Celery countdown outlives the broker's
#: visibility timeout, and a 20-minute mail outage costs three attempts, not all of them.
RETRY_DELAYS_SECONDS = (60, 5 * 60, 15 * 60, 30 * 60, 60 * 60)


def retry_delay(attempts: int) -> dt.timedelta:
    """How long a row waits after its ``attempts``-th failed send."""
    return dt.timedelta(seconds=RETRY_DELAYS_SECONDS[min(attempts, len(RETRY_DELAYS_SECONDS)) - 1])


class SendOutcome(Enum):
    SENT = "sent"
    NOTHING_TO_DO = "nothing"
    RETRY = "retry"
    FAILED = "failed"


def sign(body: bytes, secret: str) -> str:
    """The webhook signature header's value: ``sha256=`` and the HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON with sorted keys."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


# --- who is told -------------------------------------------------------------------------------


def _with_role(role: Role) -> Iterable[AbstractBaseUser]:
    users = get_user_model().objects.filter(is_active=True, groups__name=role.value)
    return users.exclude(email="").distinct().order_by("pk")


def _wanting(users: Iterable[Any], kind: str) -> list[Any]:
    users = [u for u in users if getattr(u, "is_active", False) and getattr(u, "email", "")]
    opted_out = {
        p.user_id: p
        for p in NotificationPreference.objects.filter(user_id__in=[u.pk for u in users])
    }
    return [u for u in users if u.pk not in opted_out or opted_out[u.pk].wants(kind)]


#: Writes an event's e-mail (subject, body) in the active language.
Message = Callable[[], tuple[str, str]]


def _in_language(language: str, message: Message) -> tuple[str, str]:
    with translation.override(language):
        return message()


def _record(
    *,
    kind: str,
    event_key: str,
    recipients: list[Any],
    message: Message,
    data: dict[str, Any],
) -> list[int]:
    """Write the event's rows (one per recipient, plus the webhook's) and queue them on commit.

    Each e-mail is written in its recipient's saved language (else the installation's,
    LANGUAGE_CODE), whatever language the worker writing it runs in; the webhook's subject in
    the installation's. Rows that exist already (the same event noticed again) are left as they
    are: each is sent once. Returns the ids of the new rows.
    """
    from healthwatch.models import UserProfile

    saved = dict(
        UserProfile.objects.filter(user_id__in=[user.pk for user in recipients])
        .exclude(language="")
        .values_list("user_id", "language")
    )
    rows: list[tuple[str, Any, str, str, tuple[str, str], dict[str, Any]]] = [
        (
            f"{event_key}|email|{user.pk}",
            user,
            Channel.EMAIL,
            user.email,
            _in_language(saved.get(user.pk) or settings.LANGUAGE_CODE, message),
            {},
        )
        for user in recipients
    ]
    if settings.HEALTHWATCH_WEBHOOK_URL:
        subject, body = _in_language(settings.LANGUAGE_CODE, message)
        payload = {
            "event": kind,
            "delivery": f"{event_key}|webhook",
            "occurred_at": timezone.now().isoformat(),
            "subject": subject,
            "data": data,
        }
        rows.append(
            (
                f"{event_key}|webhook",
                None,
                Channel.WEBHOOK,
                settings.HEALTHWATCH_WEBHOOK_URL,
                (subject, body),
                payload,
            )
        )
    created: list[int] = []
    for unique_key, user, channel, address, (subject, body), payload in rows:
        try:
            with transaction.atomic():  # a savepoint: a duplicate does not spoil the event's
                row, new = Notification.objects.get_or_create(
                    unique_key=unique_key,
                    defaults={
                        "kind": kind,
                        "event_key": event_key,
                        "channel": channel,
                        "recipient": user,
                        "address": address,
                        "subject": subject[:300],
                        "body": body,
                        "payload": payload,
                    },
                )
        except IntegrityError:  # written by a concurrent notice of the same event
            continue
        if new:
            created.append(row.pk)
    if created:
        transaction.on_commit(lambda: _enqueue(created))
    return created


def _enqueue(ids: list[int]) -> None:
    from notifications.tasks import send_notification

    for pk in ids:
        try:
            send_notification.apply_async((pk,))
        except Exception as error:  # the queue is down: the row waits, the sweep sends it
            log.warning("notification %s not queued, the sweep will: %s", pk, error)


def _link(path: str) -> str:
    return f"{settings.HEALTHWATCH_SITE_URL}{path}"


def _compose(subject: str, lines: list[str], why: str = "") -> str:
    """An e-mail's text: the subject, what happened and where to act, and how to opt out."""
    opt_out = _("Opt out: %(link)s") % {"link": _link(reverse("notification_settings"))}
    return "\n".join([subject, "", *lines, "", f"{why} {opt_out}".strip()])


def _safely(what: str, action: Any) -> list[int]:
    """A notification must never fail the event that caused it."""
    try:
        with transaction.atomic():
            result: list[int] = action()
            return result
    except Exception:
        log.exception("could not record the notification of %s", what)
        return []


# --- the events --------------------------------------------------------------------------------


def outcome_label(code: str) -> str:
    from analytics import suite
    from surveys.models import VocabularyCode

    if code == suite.ACUTE_RESPIRATORY:
        from analytics.extraction import ACUTE_RESPIRATORY_LABEL

        return _(ACUTE_RESPIRATORY_LABEL)
    from surveys.labels import code_label

    label = VocabularyCode.objects.filter(code=code).values_list("label", flat=True).first()
    # The vocabulary label in the language the message is written in (the stored one is English).
    return code_label(code, label) if label else code


def area_label(code: str) -> str:
    from surveys.models import Area

    if code == "ALL":
        return _("all areas")
    name = Area.objects.filter(code=code).values_list("name", flat=True).first()
    return name or code


def notify_alert_opened(*, alert_id: int) -> list[int]:
    """A new outbreak alert: the site's epidemiologists (and the webhook) are told, once."""

    def record() -> list[int]:
        from analytics.models import Alert
        from analytics.templatetags.analytics_labels import method_label

        alert = Alert.objects.get(pk=alert_id)

        def message() -> tuple[str, str]:
            what = {
                "outcome": outcome_label(alert.outcome),
                "area": area_label(alert.area_code),
                "week": date_format(alert.week, "SHORT_DATE_FORMAT"),
            }
            subject = _("Outbreak alert: %(outcome)s in %(area)s, week of %(week)s") % what
            observed = _(
                "Observed: %(observed)s cases; expected %(expected)s (upper bound %(upper)s)."
            )
            return subject, _compose(
                subject,
                [
                    observed
                    % {
                        "observed": f"{alert.observed:.0f}",
                        "expected": localized_decimal(alert.expected, places=1),
                        "upper": localized_decimal(alert.upper_bound, places=1),
                    },
                    _("Method: %(method)s.") % {"method": method_label(alert.method)},
                    "",
                    _("Review and acknowledge it: %(link)s")
                    % {"link": _link(reverse("analytics:alert", args=[alert.pk]))},
                ],
                _("You receive this as an epidemiologist of HealthWatch."),
            )

        recipients = _wanting(_with_role(Role.EPIDEMIOLOGIST), NotificationKind.ALERT_OPENED)
        return _record(
            kind=NotificationKind.ALERT_OPENED,
            event_key=f"alert:{alert.pk}",
            recipients=recipients,
            message=message,
            data={
                "alert_id": alert.pk,
                "outcome": alert.outcome,
                "area_code": alert.area_code,
                "week": alert.week.isoformat(),
                "method": alert.method,
                "observed": alert.observed,
                "expected": alert.expected,
                "upper_bound": alert.upper_bound,
            },
        )

    return _safely(f"alert {alert_id}", record)


def notify_release_in_review(*, release_id: int) -> list[int]:
    """A release sent to community review: the community reviewers are told, once a round."""

    def record() -> list[int]:
        from reports.models import Release

        release = Release.objects.get(pk=release_id)
        what = {"site": release.site_name, "year": release.year, "version": release.version}

        def message() -> tuple[str, str]:
            subject = _("Awaiting your review: %(site)s %(year)s, version %(version)s") % what
            return subject, _compose(
                subject,
                [
                    _(
                        "An epidemiologist approved this report and sent it to community review. "
                        "It is published only once community reviewers approve it."
                    ),
                    _("Read it and choose Approve or Ask for changes: %(link)s")
                    % {"link": _link(reverse("reports:release", args=[release.pk]))},
                ],
                _("You receive this as a community reviewer of HealthWatch."),
            )

        approved_at = release.approved_at or timezone.now()
        recipients = _wanting(
            _with_role(Role.COMMUNITY_REVIEWER), NotificationKind.RELEASE_IN_REVIEW
        )
        return _record(
            kind=NotificationKind.RELEASE_IN_REVIEW,
            # Each round of review is its own event (a release may come back after changes).
            event_key=f"release:{release.pk}:review:{approved_at.isoformat()}",
            recipients=recipients,
            message=message,
            data={
                "release_id": release.pk,
                "site_code": release.site_code,
                "year": release.year,
                "version": release.version,
            },
        )

    return _safely(f"release {release_id}", record)


def notify_run_failed(*, run_id: int) -> list[int]:
    """A failed analysis run: whoever started it; a scheduled or after-import run (nobody
    started it) tells the epidemiologists."""

    def record() -> list[int]:
        from analytics.models import AnalysisRun, RunStatus

        run = AnalysisRun.objects.select_related("created_by").get(pk=run_id)
        if run.status != RunStatus.FAILED:
            return []

        def message() -> tuple[str, str]:
            subject = _("Analysis run %(id)s failed") % {"id": run.pk}
            return subject, _compose(
                subject,
                [
                    _("Started: %(when)s (%(trigger)s).")
                    % {
                        "when": date_format(
                            run.created_at.astimezone(dt.UTC), "SHORT_DATETIME_FORMAT"
                        )
                        + " UTC",
                        "trigger": run.get_trigger_display(),
                    },
                    _("What went wrong: %(error)s") % {"error": run.error or _("not recorded")},
                    "",
                    _("See the run and start it again: %(link)s")
                    % {"link": _link(reverse("analytics:run", args=[run.pk]))},
                ],
            )

        people: list[Any] = (
            [run.created_by]
            if run.created_by is not None
            else list(_with_role(Role.EPIDEMIOLOGIST))
        )
        return _record(
            kind=NotificationKind.RUN_FAILED,
            event_key=f"run:{run.pk}:failed",
            recipients=_wanting(people, NotificationKind.RUN_FAILED),
            message=message,
            data={"run_id": run.pk, "error": run.error, "trigger": run.trigger},
        )

    return _safely(f"run {run_id}", record)


def notify_import_failed(*, job_id: int) -> list[int]:
    """A failed import job (an error, or rows refused so nothing was imported): its requester."""

    def record() -> list[int]:
        from surveys.models import ImportJob, ImportJobStatus

        job = ImportJob.objects.select_related("requested_by").get(pk=job_id)
        errors = int((job.report or {}).get("error_count") or 0)
        refused = job.status == ImportJobStatus.DONE and errors and not job.dry_run
        if job.status != ImportJobStatus.FAILED and not refused:
            return []
        if job.requested_by is None:
            return []

        def reason() -> str:
            if job.status == ImportJobStatus.FAILED:
                return job.error_message
            return ngettext(
                "%(count)s problem in the file; nothing was imported.",
                "%(count)s problems in the file; nothing was imported.",
                errors,
            ) % {"count": errors}

        def message() -> tuple[str, str]:
            subject = _("Import of %(file)s failed") % {"file": job.file_name}
            return subject, _compose(
                subject,
                [
                    _("What went wrong: %(reason)s") % {"reason": reason()},
                    _("The import's page lists the rows and columns: %(link)s")
                    % {"link": _link(reverse("surveys:import_job", args=[job.pk]))},
                ],
            )

        with translation.override(settings.LANGUAGE_CODE):
            error = reason()  # the webhook's, in the installation's language
        return _record(
            kind=NotificationKind.IMPORT_FAILED,
            event_key=f"import:{job.pk}:failed",
            recipients=_wanting([job.requested_by], NotificationKind.IMPORT_FAILED),
            message=message,
            data={
                "import_job_id": job.pk,
                "kind": job.kind,
                "error": error,
                "error_code": job.error_code,
            },
        )

    return _safely(f"import job {job_id}", record)


# --- sending -----------------------------------------------------------------------------------


def notify_exceedance_validated(*, reading_id: int) -> list[int]:
    """A validated reading above a guideline value: epidemiologists and community reviewers."""

    def record() -> list[int]:
        from monitoring.models import Reading
        from monitoring.services import exceeded_guidelines

        reading = Reading.objects.select_related("pollutant", "station").get(pk=reading_id)
        guidelines = exceeded_guidelines(reading)
        if not guidelines:
            return []
        unit = reading.pollutant.canonical_unit

        def message() -> tuple[str, str]:
            return _exceedance_message(reading, guidelines, unit)

        people = [*_with_role(Role.EPIDEMIOLOGIST), *_with_role(Role.COMMUNITY_REVIEWER)]
        unique = list({u.pk: u for u in people}.values())
        return _record(
            kind=NotificationKind.EXCEEDANCE_VALIDATED,
            event_key=f"exceedance:reading:{reading.pk}",
            recipients=_wanting(unique, NotificationKind.EXCEEDANCE_VALIDATED),
            message=message,
            data={
                "reading_id": reading.pk,
                "pollutant": reading.pollutant.code,
                "station_code": reading.station.code if reading.station else None,
                "value": reading.value,
                "unit": unit,
                "guidelines": [g.source for g in guidelines],
            },
        )

    return _safely(f"exceedance of reading {reading_id}", record)


def _exceedance_message(reading: Any, guidelines: list[Any], unit: str) -> tuple[str, str]:
    """A validated reading above guideline values, in the active language."""
    from monitoring.selectors import place_label
    from surveys.labels import code_label

    pollutant = code_label(reading.pollutant.code, reading.pollutant.label)
    what = {"pollutant": pollutant, "place": place_label(reading)}
    subject = _("Guideline exceeded: %(pollutant)s at %(place)s") % what
    lines = [
        _("Validated value: %(value)s %(unit)s, measured %(when)s.")
        % {
            "value": localized_decimal(reading.value),
            "unit": unit,
            "when": date_format(timezone.localtime(reading.measured_at), "SHORT_DATE_FORMAT"),
        },
        *[
            _("Above %(source)s: %(limit)s %(unit)s (%(averaging)s).")
            % {
                "source": g.source,
                "limit": localized_decimal(g.value),
                "unit": g.unit,
                "averaging": g.averaging,
            }
            for g in guidelines
        ],
    ]
    if reading.station is not None:
        lines.append(
            _("Public station page: %(link)s")
            % {"link": _link(reverse("monitoring:public_station", args=[reading.station.code]))}
        )
    return subject, _compose(subject, lines, _("You receive this as a HealthWatch reviewer."))


def notification_send(*, notification_id: int) -> SendOutcome:
    """Send one row, at most once: claim it (pending → sending), send, mark it sent.

    A second delivery of the task finds the row claimed, sent or not yet due and does nothing. A
    failed send goes back to pending with its next attempt's time (:func:`retry_delay`), until
    HEALTHWATCH_NOTIFY_MAX_ATTEMPTS; then it is failed.
    """
    now = timezone.now()
    stale = now - dt.timedelta(seconds=CLAIM_STALE_SECONDS)
    claimed = (
        Notification.objects.filter(pk=notification_id)
        .filter(
            Q(status=NotificationStatus.PENDING, next_attempt_at__isnull=True)
            | Q(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
            | Q(status=NotificationStatus.SENDING, claimed_at__lt=stale)
        )
        .update(status=NotificationStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return SendOutcome.NOTHING_TO_DO
    row = Notification.objects.get(pk=notification_id)
    try:
        if row.channel == Channel.WEBHOOK:
            _post_webhook(row)
        else:
            EmailMessage(
                subject=row.subject,
                body=row.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[row.address],
                headers={"X-HealthWatch-Notification": row.unique_key},
            ).send(fail_silently=False)
    except Exception as error:
        failed = row.attempts >= settings.HEALTHWATCH_NOTIFY_MAX_ATTEMPTS
        Notification.objects.filter(pk=row.pk).update(
            status=NotificationStatus.FAILED if failed else NotificationStatus.PENDING,
            last_error=f"attempt {row.attempts}: {type(error).__name__}: {error}"[:2000],
            next_attempt_at=None if failed else timezone.now() + retry_delay(row.attempts),
        )
        log.warning("notification %s, attempt %s: %s", row.pk, row.attempts, error)
        return SendOutcome.FAILED if failed else SendOutcome.RETRY
    Notification.objects.filter(pk=row.pk).update(
        status=NotificationStatus.SENT, sent_at=timezone.now(), last_error=""
    )
    return SendOutcome.SENT


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is a failed delivery: the signed event goes only to the configured URL, never to
    wherever a compromised or misconfigured receiver points (a POST turned into a GET, or an
    internal address)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def _post_webhook(row: Notification) -> None:
    body = webhook_body(row.payload)
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's, http(s) only
        row.address,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "HealthWatch-Webhook/1",
            EVENT_HEADER: row.kind,
            DELIVERY_HEADER: row.unique_key,
            SIGNATURE_HEADER: sign(body, settings.HEALTHWATCH_WEBHOOK_SECRET),
        },
    )
    with _NO_REDIRECTS.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(
                row.address, response.status, "webhook refused", response.headers, None
            )


def notifications_sweep(*, now: dt.datetime | None = None) -> int:
    """Queue again the rows no worker took (the queue was down, a worker died mid-send) and the
    failed ones whose back-off is over."""
    now = now or timezone.now()
    waiting = Notification.objects.filter(
        Q(
            status=NotificationStatus.PENDING,
            next_attempt_at__isnull=True,
            created_at__lt=now - dt.timedelta(seconds=PENDING_STALE_SECONDS),
        )
        | Q(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
        | Q(
            status=NotificationStatus.SENDING,
            claimed_at__lt=now - dt.timedelta(seconds=CLAIM_STALE_SECONDS),
        )
    )
    ids = list(waiting.values_list("pk", flat=True)[:500])
    if ids:
        _enqueue(ids)
    return len(ids)


def preference_update(*, user: AbstractBaseUser, **choices: bool) -> NotificationPreference:
    preference, _created = NotificationPreference.objects.get_or_create(user=user)
    for field in ("alert_opened", "release_in_review", "job_failed"):
        if field in choices:
            setattr(preference, field, bool(choices[field]))
    preference.save()
    return preference
