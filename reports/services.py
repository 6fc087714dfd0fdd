"""Writes of the reports app: build a release, review it, publish it (ledger + snapshot),
retract or correct it, moderate public comments, and freeze the open environmental data.

Publication is one transaction under a lock: the release is audited again against the ledger
as it is now (another release may have been published since the draft was built), rendered into
its immutable snapshot (HTML, downloads, content hash) and its cells appended to the ledger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from analytics.extraction import extract_all
from analytics.models import AnalysisRun, ResultRow, RunStatus
from healthwatch.roles import Role, has_role
from notifications.services import notify_release_in_review
from reports import rendering
from reports.layouts import (
    Grouping,
    LateDataRefusal,
    ReportInput,
    ReportInputError,
    build_report,
    spec_to_atoms,
)
from reports.models import (
    CommentStatus,
    LateData,
    LedgerEntry,
    OpenDataSnapshot,
    PublicationLock,
    PublicComment,
    Release,
    ReleaseFile,
    ReleaseStatus,
    ReviewComment,
    ReviewDecision,
)
from reports.privacy import Atom, Cell, DisclosureError, Nesting, RevisionPolicy, audit
from reports.privacy import LedgerEntry as PrivacyLedgerEntry
from surveys.models import ProductionSite
from surveys.validation import FieldError, ValidationProblem

log = logging.getLogger(__name__)
User = AuthUser | AnonymousUser
COMMENTS_PER_CLIENT_PER_DAY = 5


class ReleaseStateError(ValidationProblem):
    """The release is not in a state that allows this step (the message says why)."""

    def __init__(self, message: str) -> None:
        super().__init__([FieldError("status", message)])


def _require(user: User, *roles: Role) -> None:
    if not has_role(user, *roles):
        raise PermissionError("This step is for: " + ", ".join(r.value for r in roles))


def ledger_for_audit() -> list[PrivacyLedgerEntry]:
    """Every cell of every published (or retracted: it was public) release, in order.

    Releases are named as people know them ("RH-SEP 2025 version 1") because the audit's
    messages reach the epidemiologist.
    """
    entries = LedgerEntry.objects.order_by("id").values_list(
        "release__site_code", "release__year", "release__version", "key", "atoms", "value"
    )
    return [
        PrivacyLedgerEntry(f"{site} {year} version {version}", key, spec_to_atoms(atoms), value)
        for site, year, version, key, atoms, value in entries.iterator(chunk_size=2000)
    ]


class LateDataProblem(ValidationProblem):
    """A correction would move published numbers by 1..T−1: the ways out, for the draft screen."""

    def __init__(self, refusal: LateDataRefusal) -> None:
        self.held = refusal.held
        self.threshold = refusal.threshold
        super().__init__(
            [
                FieldError(
                    "late_data",
                    f"This correction changes {len(refusal.held)} published number(s) by fewer "
                    f"than {refusal.threshold} records. Publishing them would reveal the late "
                    "records themselves, so it is not published as it is. Choose how to go on: "
                    "hold the correction, publish it with the changed numbers hidden, or publish "
                    "it at a coarser grouping.",
                )
            ]
        )


class DisclosureProblem(ValidationProblem):
    """The tables cannot be protected; ``details`` keeps the audit's equations for the fold."""

    def __init__(self, message: str, details: str) -> None:
        self.details = details
        super().__init__([FieldError("release", message)])


def _relations(internal: dict[str, Any]) -> list[Nesting]:
    return [
        Nesting(tuple(r["lesser"]), tuple(r["greater"]), r.get("name", ""))
        for r in internal.get("relations", [])
    ]


def _atom_counts(internal: dict[str, Any]) -> dict[Atom, int] | None:
    stored = internal.get("atom_counts")
    if stored is None:
        return None
    return {Atom(a, s, b, p, o): int(n) for a, s, b, p, o, n in stored}


def release_build_draft(
    *,
    user: User,
    run: AnalysisRun,
    site_code: str,
    year: int,
    threshold: int | None = None,
    erratum: str = "",
    supersedes: Release | None = None,
    late_data: str = LateData.REFUSE,
) -> Release:
    """Build a draft from a succeeded analysis run: fixed tables, disclosure control, audit.

    ``late_data`` chooses what happens to published numbers that late records moved by 1..T−1
    (:class:`LateData`); every choice is audited.
    """
    _require(user, Role.EPIDEMIOLOGIST, Role.ADMIN)
    errors: list[FieldError] = []
    if run.status != RunStatus.SUCCEEDED or run.result_set is None:
        errors.append(FieldError("run", f"Run #{run.pk} has not succeeded."))
    site = ProductionSite.objects.filter(code=site_code).first()
    if site is None:
        errors.append(FieldError("site_code", f"Unknown site {site_code!r}."))
    threshold = threshold or settings.HEALTHWATCH_DISCLOSURE_THRESHOLD
    if late_data not in LateData.values:
        errors.append(FieldError("late_data", f"{late_data!r} is not an option for late data."))
    if threshold < 5:
        errors.append(FieldError("threshold", "The threshold T must be at least 5."))
    if errors:
        raise ValidationProblem(errors)
    assert run.result_set is not None and site is not None
    datasets = extract_all()
    if datasets.fingerprint() != run.result_set.input_fingerprint:
        raise ValidationProblem(
            [
                FieldError(
                    "run",
                    "The recorded data changed since this analysis ran; run the analysis again "
                    "and build the report from the new run.",
                )
            ]
        )
    results = pd.DataFrame(list(ResultRow.objects.filter(result_set=run.result_set).values()))
    try:
        built = build_report(
            ReportInput(datasets, results, run.result_set.parameters),
            site_code=site_code,
            site_name=site.name,
            year=year,
            ledger=ledger_for_audit(),
            threshold=threshold,
            revisions=(
                RevisionPolicy.SUPPRESS if late_data == LateData.SUPPRESS else RevisionPolicy.REFUSE
            ),
            grouping=Grouping.BANDS if late_data == LateData.COARSER else Grouping.AREAS,
        )
    except LateDataRefusal as refusal:
        raise LateDataProblem(refusal) from None
    except ReportInputError as error:
        raise ValidationProblem([FieldError("year", str(error))]) from None
    except DisclosureError as error:
        raise DisclosureProblem(
            "These tables cannot be published safely: some hidden numbers could be worked out "
            "from what this report (and earlier reports) would publish, and hiding more cells "
            "does not help. If this is a correction, try publishing it at a coarser grouping, "
            "or wait for more data.",
            str(error),
        ) from None
    with transaction.atomic():
        version = (
            Release.objects.filter(site_code=site_code, year=year).aggregate(v=Max("version"))["v"]
            or 0
        ) + 1
        return Release.objects.create(
            site_code=site_code,
            site_name=site.name,
            year=year,
            version=version,
            result_set=run.result_set,
            input_fingerprint=run.result_set.input_fingerprint,
            threshold=threshold,
            quorum=settings.HEALTHWATCH_REVIEW_QUORUM,
            content=built.content,
            internal_audit=built.internal,
            created_by=user if user.is_authenticated else None,
            erratum=erratum.strip(),
            supersedes=supersedes,
        )


def release_approve(*, user: User, release: Release) -> Release:
    """The epidemiologist's approval: the release goes to community review."""
    _require(user, Role.EPIDEMIOLOGIST, Role.ADMIN)
    if release.status not in (ReleaseStatus.DRAFT, ReleaseStatus.CHANGES_REQUESTED):
        raise ReleaseStateError(
            f"A {release.get_status_display().lower()} release cannot be approved."
        )
    release.status = ReleaseStatus.EPI_APPROVED
    release.approved_by = user if user.is_authenticated else None  # type: ignore[assignment]
    release.approved_at = timezone.now()
    with transaction.atomic():  # the approval and the reviewers' notifications, together
        release.save(update_fields=["status", "approved_by", "approved_at"])
        notify_release_in_review(release_id=release.pk)
    return release


def release_review(*, user: User, release: Release, decision: str, body: str) -> ReviewComment:
    """A reviewer's explicit decision (approve, ask for changes) or a comment (no decision).

    The one chokepoint of reviews: the views of both actions come here. Only community
    reviewers decide; epidemiologists may comment.
    """
    _require(user, Role.COMMUNITY_REVIEWER, Role.EPIDEMIOLOGIST, Role.ADMIN)
    if decision not in ReviewDecision.values:
        raise ValidationProblem(
            [FieldError("decision", gettext("Choose Approve or Ask for changes."))]
        )
    if decision != ReviewDecision.COMMENT and not has_role(user, Role.COMMUNITY_REVIEWER):
        raise PermissionError(gettext("Only community reviewers approve or ask for changes."))
    if release.status != ReleaseStatus.EPI_APPROVED:
        raise ReleaseStateError(gettext("Only a release in community review can be reviewed."))
    if decision == ReviewDecision.REQUEST_CHANGES and not body.strip():
        raise ValidationProblem([FieldError("body", gettext("Say what should change."))])
    if decision == ReviewDecision.COMMENT and not body.strip():
        raise ValidationProblem([FieldError("body", gettext("Write the comment."))])
    with transaction.atomic():
        comment = ReviewComment.objects.create(
            release=release,
            author=user,  # type: ignore[misc]
            decision=decision,
            body=body.strip(),
        )
        if decision == ReviewDecision.REQUEST_CHANGES:
            release.status = ReleaseStatus.CHANGES_REQUESTED
            release.save(update_fields=["status"])
    return comment


def community_approvals(release: Release) -> int:
    """Reviewers whose latest decision since the epidemiologist's approval is 'approve'."""
    if release.approved_at is None:
        return 0
    latest: dict[int, str] = {}
    decisions = release.reviews.filter(created_at__gte=release.approved_at).exclude(
        decision=ReviewDecision.COMMENT
    )
    for review in decisions.order_by("created_at", "id"):
        latest[review.author_id] = review.decision
    return sum(1 for d in latest.values() if d == ReviewDecision.APPROVE)


def publish_blocker(release: Release) -> str | None:
    """Why the release cannot be published now (None: it can), in words for the Publish
    button and for the refusal of release_publish, which asks this same function."""
    if release.status in (ReleaseStatus.DRAFT,):
        return gettext("Approve the draft and send it to community review first.")
    if release.status == ReleaseStatus.CHANGES_REQUESTED:
        return gettext(
            "A community reviewer asked for changes: approve the revised draft and send it "
            "to community review again."
        )
    if release.status != ReleaseStatus.EPI_APPROVED:
        return gettext("A %(status)s release cannot be published.") % {
            "status": release.get_status_display().lower()
        }
    approvals = community_approvals(release)
    if approvals < release.quorum:
        missing = release.quorum - approvals
        return ngettext(
            "The community has not signed off: %(approvals)d of %(quorum)d required "
            "approvals; needs %(missing)d more community approval.",
            "The community has not signed off: %(approvals)d of %(quorum)d required "
            "approvals; needs %(missing)d more community approvals.",
            missing,
        ) % {"approvals": approvals, "quorum": release.quorum, "missing": missing}
    return None


def release_publish(*, user: User, release_id: int) -> Release:
    """Audit against today's ledger, freeze the snapshot, append the ledger. One transaction."""
    _require(user, Role.EPIDEMIOLOGIST, Role.ADMIN)
    with transaction.atomic():
        lock, _ = PublicationLock.objects.select_for_update().get_or_create(pk=1)
        release = Release.objects.select_for_update().get(pk=release_id)
        blocker = publish_blocker(release)
        if blocker is not None:
            raise ReleaseStateError(blocker)
        internal = release.internal_audit
        cells = [
            Cell(c["key"], spec_to_atoms(c["spec"]), int(c["count"])) for c in internal["cells"]
        ]
        suppressed = [c["key"] for c in internal["cells"] if c["suppressed"]]
        result = audit(
            cells,
            suppressed,
            ledger_for_audit(),
            release.threshold,
            atom_counts=_atom_counts(internal),
            relations=_relations(internal),
        )
        if not result.passed:
            raise DisclosureProblem(
                "Publication refused: a report published since this draft was built would, "
                "together with this one, let readers work out hidden numbers. Build a new "
                "draft from the analysis run.",
                result.explain(),
            )
        now = timezone.now()
        release.status = ReleaseStatus.PUBLISHED
        release.published_at = now
        release.published_by = user if user.is_authenticated else None  # type: ignore[assignment]
        release.content_hash = rendering.content_hash(release)
        release.rendered_html = rendering.render_release(release)
        release.save()
        for name, content_type, data in rendering.release_files(release):
            ReleaseFile.objects.create(
                release=release,
                name=name,
                content_type=content_type,
                content=data,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        LedgerEntry.objects.bulk_create(
            LedgerEntry(
                release=release,
                key=c["key"],
                atoms=c["spec"],
                value=None if c["suppressed"] else int(c["count"]),
            )
            for c in release.internal_audit["cells"]
        )
        if release.supersedes_id:
            Release.objects.filter(pk=release.supersedes_id).update(superseded=True)
        lock.last_published_at = now
        lock.save(update_fields=["last_published_at"])
    log.info(
        "published release %s (%s %s v%s)",
        release.pk,
        release.site_code,
        release.year,
        release.version,
    )
    return release


def release_retract(*, user: User, release: Release, reason: str, confirmed: bool) -> Release:
    """Retract a published release: its public page then says so, with the public reason.
    Takes an explicit confirmation (the confirmation step of the page), never implied."""
    _require(user, Role.EPIDEMIOLOGIST, Role.ADMIN)
    if release.status != ReleaseStatus.PUBLISHED:
        raise ReleaseStateError(gettext("Only a published release can be retracted."))
    problems = []
    if not reason.strip():
        problems.append(FieldError("reason", gettext("Give the public reason for retracting.")))
    if not confirmed:
        problems.append(
            FieldError(
                "confirm",
                gettext("Confirm that the release is to be retracted with this public reason."),
            )
        )
    if problems:
        raise ValidationProblem(problems)
    release.status = ReleaseStatus.RETRACTED
    release.retracted_at = timezone.now()
    release.retraction_reason = reason.strip()
    release.save(update_fields=["status", "retracted_at", "retraction_reason"])
    return release


def release_correct(
    *,
    user: User,
    release: Release,
    run: AnalysisRun,
    erratum: str,
    late_data: str = "refuse",
) -> Release:
    """A correction: a new draft version that will supersede the published one."""
    if release.status != ReleaseStatus.PUBLISHED:
        raise ReleaseStateError("Only a published release can be corrected.")
    if not erratum.strip():
        raise ValidationProblem([FieldError("erratum", "Describe what the correction changes.")])
    return release_build_draft(
        user=user,
        run=run,
        site_code=release.site_code,
        year=release.year,
        threshold=release.threshold,
        erratum=erratum,
        supersedes=release,
        late_data=late_data,
    )


def client_fingerprint(address: str, day: str) -> str:
    """Keyed hash of the client address and day: enough to rate-limit, not to identify."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{address}|{day}".encode(), hashlib.sha256).hexdigest()


def public_comment_submit(
    *, release: Release, body: str, author_name: str, address: str
) -> PublicComment:
    errors = []
    if not release.is_public:
        errors.append(FieldError("release", "Comments are open on published releases only."))
    if not body.strip():
        errors.append(FieldError("body", "Write a comment."))
    if len(body) > 4000:
        errors.append(FieldError("body", "Keep the comment under 4,000 characters."))
    if len(author_name) > 80:
        errors.append(FieldError("author_name", "Keep the name under 80 characters."))
    fingerprint = client_fingerprint(address, timezone.now().date().isoformat())
    if PublicComment.objects.filter(client_hash=fingerprint).count() >= COMMENTS_PER_CLIENT_PER_DAY:
        errors.append(
            FieldError(
                "body",
                f"At most {COMMENTS_PER_CLIENT_PER_DAY} comments a day; please come back tomorrow.",
            )
        )
    if errors:
        raise ValidationProblem(errors)
    return PublicComment.objects.create(
        release=release,
        body=body.strip(),
        author_name=author_name.strip(),
        client_hash=fingerprint,
    )


def public_comment_moderate(*, user: User, comment: PublicComment, approve: bool) -> PublicComment:
    _require(user, Role.EPIDEMIOLOGIST, Role.COMMUNITY_REVIEWER, Role.ADMIN)
    comment.status = CommentStatus.APPROVED if approve else CommentStatus.REJECTED
    comment.moderated_by = user if user.is_authenticated else None  # type: ignore[assignment]
    comment.moderated_at = timezone.now()
    comment.save(update_fields=["status", "moderated_by", "moderated_at"])
    return comment


def open_data_snapshot_create() -> OpenDataSnapshot:
    """Freeze every environmental measurement (invalid ones flagged, never dropped)."""
    rows, stations = rendering.open_data_rows()
    csv_bytes = rendering.open_data_csv(rows)
    json_bytes = json.dumps(
        {"licence": rendering.OPEN_DATA_LICENCE, "stations": stations, "measurements": rows},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return OpenDataSnapshot.objects.create(
        rows=len(rows),
        stations=stations,
        csv=csv_bytes,
        json=json_bytes,
        sha256=hashlib.sha256(csv_bytes).hexdigest(),
    )


def content_json(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
