"""Writes of the reports app: build a release, review it, publish it (ledger + snapshot),
retract or correct it, moderate public comments, and freeze the open environmental data.

Publication is one transaction under a lock: the release is audited again against the ledger
as it is now (another release may have been published since the draft was built), rendered into
its immutable snapshot (HTML, downloads, content hash) and its cells appended to the ledger.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext as _

from analytics.models import AnalysisRun, ResultRow, RunStatus
from analytics.services import InputChanged, result_set_datasets_unchanged
from healthwatch.i18n import in_saved_language
from healthwatch.roles import ROLE_LABELS, Role, has_role
from notifications.services import notify_release_in_review
from reports import printing, rendering
from reports.layouts import (
    Grouping,
    LateDataRefusal,
    ReportInput,
    ReportInputError,
    build_report,
    spec_to_atoms,
)
from reports.models import (
    BuildStatus,
    CommentStatus,
    LateData,
    LedgerEntry,
    OpenDataSnapshot,
    PublicationLock,
    PublicComment,
    Release,
    ReleaseBuild,
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
        labels = ", ".join(str(ROLE_LABELS[role]) for role in roles)
        raise PermissionError(_("This step is for: %(roles)s.") % {"roles": labels})


# Bumped whenever the audit's rules or engine change what it accepts: a draft audited by an
# older auditor is audited again at publication even if the ledger did not grow.
AUDIT_VERSION = "2026.12.3"


def ledger_mark() -> tuple[int, int]:
    """The ledger's state: (entries, last id). Entries are only ever appended, so two equal
    marks mean the same ledger."""
    last = LedgerEntry.objects.aggregate(last=Max("id"))["last"] or 0
    return LedgerEntry.objects.filter(id__lte=last).count(), last


def _audit_mark(mark: tuple[int, int], threshold: int) -> list[Any]:
    """What a draft's audit depended on besides its own tables: the ledger, the threshold and
    the auditor's version."""
    return [mark[0], mark[1], threshold, AUDIT_VERSION]


def ledger_for_audit(up_to: int | None = None) -> list[PrivacyLedgerEntry]:
    """Every cell of every published (or retracted: it was public) release, in order; with
    ``up_to``, those appended up to that id (the state a mark names).

    Releases are named as people know them ("RH-SEP 2025 version 1") because the audit's
    messages reach the epidemiologist.
    """
    entries = LedgerEntry.objects.order_by("id")
    if up_to is not None:
        entries = entries.filter(id__lte=up_to)
    rows = entries.values_list(
        "release__site_code", "release__year", "release__version", "key", "atoms", "value"
    )
    return [
        PrivacyLedgerEntry(f"{site} {year} version {version}", key, spec_to_atoms(atoms), value)
        for site, year, version, key, atoms, value in rows.iterator(chunk_size=2000)
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
                    ngettext(
                        "This correction changes %(count)s published number by fewer than "
                        "%(threshold)s records. Publishing it would reveal the late records "
                        "themselves, so it is not published as it is. Choose how to go on: hold "
                        "the correction, publish it with the changed number hidden, or publish "
                        "it at a coarser grouping.",
                        "This correction changes %(count)s published numbers by fewer than "
                        "%(threshold)s records. Publishing them would reveal the late records "
                        "themselves, so it is not published as it is. Choose how to go on: hold "
                        "the correction, publish it with the changed numbers hidden, or publish "
                        "it at a coarser grouping.",
                        len(refusal.held),
                    )
                    % {"count": len(refusal.held), "threshold": refusal.threshold},
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


def _audited_cells(internal: dict[str, Any]) -> tuple[list[Cell], list[str]]:
    """A release's cells as its internal audit stored them, and the keys of the suppressed."""
    cells = [Cell(c["key"], spec_to_atoms(c["spec"]), int(c["count"])) for c in internal["cells"]]
    return cells, [c["key"] for c in internal["cells"] if c["suppressed"]]


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
    progress: Callable[[str], None] | None = None,
    build: ReleaseBuild | None = None,
) -> Release:
    """Build a draft from a succeeded analysis run: fixed tables, disclosure control, audit.

    ``late_data`` chooses what happens to published numbers that late records moved by 1..T−1
    (:class:`LateData`); every choice is audited. ``progress`` hears each stage in words;
    ``build`` (the job that asked) is marked succeeded in the transaction that creates the draft.
    """
    say = progress or (lambda stage: None)
    _require(user, Role.EPIDEMIOLOGIST, Role.ADMIN)
    errors: list[FieldError] = []
    if run.status != RunStatus.SUCCEEDED or run.result_set is None:
        errors.append(FieldError("run", _("That analysis run has not succeeded.")))
    site = ProductionSite.objects.filter(code=site_code).first()
    if site is None:
        errors.append(FieldError("site_code", _("Unknown site %(code)s.") % {"code": site_code}))
    threshold = threshold or settings.HEALTHWATCH_DISCLOSURE_THRESHOLD
    if late_data not in LateData.values:
        errors.append(FieldError("late_data", _("Choose one of the options for late data.")))
    if threshold < 5:
        errors.append(FieldError("threshold", _("The threshold T must be at least 5.")))
    if errors:
        raise ValidationProblem(errors)
    assert run.result_set is not None and site is not None
    say(str(_("Checking that the recorded data has not changed since the analysis")))
    changed = gettext(
        "The recorded data changed since this analysis ran; run the analysis "
        "again and build the report from the new run."
    )
    try:
        datasets = result_set_datasets_unchanged(run.result_set, changed)
    except InputChanged:
        raise ValidationProblem([FieldError("run", changed)]) from None
    results = pd.DataFrame(list(ResultRow.objects.filter(result_set=run.result_set).values()))
    mark = ledger_mark()
    ledger = ledger_for_audit(up_to=mark[1])
    earlier = len({entry.release for entry in ledger})
    say(
        str(
            ngettext(
                "Building the tables, protecting them and auditing them against %(n)d earlier "
                "release",
                "Building the tables, protecting them and auditing them against %(n)d earlier "
                "releases",
                earlier,
            )
            % {"n": earlier}
        )
    )
    try:
        built = build_report(
            ReportInput(datasets, results, run.result_set.parameters),
            site_code=site_code,
            site_name=site.name,
            year=year,
            ledger=ledger,
            threshold=threshold,
            # At a coarser grouping the per-area changes vanish into band totals, but a site
            # total still moves by the late records themselves: those are hidden as in (b).
            revisions=(
                RevisionPolicy.REFUSE if late_data == LateData.REFUSE else RevisionPolicy.SUPPRESS
            ),
            grouping=Grouping.BANDS if late_data == LateData.COARSER else Grouping.AREAS,
        )
    except LateDataRefusal as refusal:
        raise LateDataProblem(refusal) from None
    except ReportInputError as error:
        raise ValidationProblem([FieldError("year", error.translated())]) from None
    except DisclosureError as error:
        raise DisclosureProblem(
            gettext(
                "These tables cannot be published safely: some hidden numbers could be worked "
                "out from what this report (and earlier reports) would publish, and hiding more "
                "cells does not help. If this is a correction, try publishing it at a coarser "
                "grouping, or wait for more data."
            ),
            str(error),
        ) from None
    say(str(_("Saving the draft")))
    with transaction.atomic():
        version = (
            Release.objects.filter(site_code=site_code, year=year).aggregate(v=Max("version"))["v"]
            or 0
        ) + 1
        draft = Release.objects.create(
            site_code=site_code,
            site_name=site.name,
            year=year,
            version=version,
            result_set=run.result_set,
            input_fingerprint=run.result_set.input_fingerprint,
            threshold=threshold,
            quorum=settings.HEALTHWATCH_REVIEW_QUORUM,
            content=built.content,
            # The ledger this audit was held against: publication audits again only if it grew.
            internal_audit={**built.internal, "ledger_mark": _audit_mark(mark, threshold)},
            created_by=user if user.is_authenticated else None,
            erratum=erratum.strip(),
            supersedes=supersedes,
        )
        if build is not None:
            done = ReleaseBuild.objects.filter(pk=build.pk, status=BuildStatus.RUNNING).update(
                status=BuildStatus.SUCCEEDED,
                release=draft,
                stage=str(_("Built")),
                finished_at=timezone.now(),
            )
            if not done:  # the sweep gave up on this build meanwhile: keep nothing half-done
                raise BuildAbandoned(build.pk)
        return draft


def release_approve(*, user: User, release: Release) -> Release:
    """The epidemiologist's approval: the release goes to community review."""
    _require(user, Role.EPIDEMIOLOGIST, Role.ADMIN)
    if release.status not in (ReleaseStatus.DRAFT, ReleaseStatus.CHANGES_REQUESTED):
        raise ReleaseStateError(
            gettext("A release with the status “%(status)s” cannot be approved.")
            % {"status": release.get_status_display()}
        )
    approved_by = user if user.is_authenticated else None
    approved_at = timezone.now()
    with transaction.atomic():  # the approval and the reviewers' notifications, together
        # Compare-and-set: of two approvals at once (a double tap), one moves the release and
        # notifies the reviewers; the other finds it already in review.
        moved = Release.objects.filter(
            pk=release.pk, status__in=(ReleaseStatus.DRAFT, ReleaseStatus.CHANGES_REQUESTED)
        ).update(
            status=ReleaseStatus.EPI_APPROVED, approved_by=approved_by, approved_at=approved_at
        )
        if not moved:
            raise ReleaseStateError(gettext("This release has already been approved."))
        notify_release_in_review(release_id=release.pk)
    release.status = ReleaseStatus.EPI_APPROVED
    release.approved_by = approved_by  # type: ignore[assignment]
    release.approved_at = approved_at
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


class PublicationArtefactError(ValidationProblem):
    """An artefact of the snapshot (map, PDF, page, downloads) could not be made: nothing was
    published (the message says which and why)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(
            [
                FieldError(
                    "publication",
                    gettext(
                        "Publication stopped, nothing was published: the %(what)s could not be "
                        "made (%(reason)s). Fix the cause and publish again."
                    )
                    % {"what": what, "reason": reason},
                )
            ]
        )


@dataclass(frozen=True)
class PublicationArtefacts:
    html: str  # English (the fallback of every language)
    tables: dict[str, str]  # each full table's page body, English
    # The other shipped languages: {language: {"html": page body, "tables": {name: body}}}.
    translated: dict[str, dict[str, Any]]
    files: list[tuple[str, str, bytes]]


class _ArtefactFailed(Exception):
    """An artefact failed while a page's language was active: said later, in the publisher's."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(what, reason)
        self.what = what  # an untranslated msgid
        self.reason = reason


def _release_map(release: Release) -> dict[str, Any]:
    try:
        return rendering.release_map(release)
    except Exception as error:
        log.exception("map of release %s", release.pk)
        raise _ArtefactFailed(gettext_noop("map"), str(error)) from error


def publication_artefacts(release: Release) -> PublicationArtefacts:
    """The snapshot of a release being published (its content hash and published_at set):
    the page with its map, the table pages and the printable PDF in every shipped language,
    the table downloads and zip (language-neutral) and the map as SVG."""
    try:
        return _publication_artefacts(release)
    except _ArtefactFailed as failed:
        raise PublicationArtefactError(gettext(failed.what), failed.reason) from failed


def pdf_name(language: str) -> str:
    """The printable PDF's download name: "release.pdf" in English (its name since before
    #15), "release-fr.pdf" in French and so on."""
    return "release.pdf" if language == "en" else f"release-{language}.pdf"


def _release_pdf(release: Release, release_map: dict[str, Any], labels: Any) -> bytes | None:
    """The PDF in the active language; None when no installed font can print it (that
    language's page then links the English PDF: a missing font must not stop a publication)."""
    try:
        return printing.release_pdf(release, release_map, labels)
    except printing.NoFontForLanguage as missing:
        log.warning("PDF of release %s in %s: %s", release.pk, translation.get_language(), missing)
        return None
    except Exception as error:
        log.exception("PDF of release %s", release.pk)
        raise _ArtefactFailed(gettext_noop("printable PDF"), str(error)) from error


def _publication_artefacts(release: Release) -> PublicationArtefacts:
    translated: dict[str, dict[str, Any]] = {}
    pdfs: list[tuple[str, str, bytes]] = []
    for language, _name in settings.LANGUAGES:
        if language == "en":
            continue
        with translation.override(language):
            labels_here = rendering.publication_labels(release.content)
            map_here = _release_map(release)
            pages = rendering.render_pages(release, labels_here, map_here)
            pdf_here = _release_pdf(release, map_here, labels_here)
        translated[language] = {"html": pages.html, "tables": pages.tables}
        if pdf_here is not None:
            pdfs.append((pdf_name(language), "application/pdf", pdf_here))
    with translation.override("en"):
        release_map = _release_map(release)
        labels = rendering.publication_labels(release.content)
        english = rendering.render_pages(release, labels, release_map)
    html, tables = english.html, english.tables
    files = rendering.release_files(release)
    with translation.override("en"):
        pdf = _release_pdf(release, release_map, labels)
    assert pdf is not None  # DejaVu, which matplotlib ships, prints English
    files.append(("map.svg", "image/svg+xml", release_map["svg"].encode("utf-8")))
    files.append((pdf_name("en"), "application/pdf", pdf))
    files.extend(pdfs)
    return PublicationArtefacts(html=html, tables=tables, translated=translated, files=files)


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
        cells, suppressed = _audited_cells(internal)
        mark = ledger_mark()
        # The audit is a function of the tables and the ledger: when nothing was published
        # since the draft's own audit, it would find the same, so only a grown ledger is
        # audited again (under the lock, so nothing is published meanwhile).
        if internal.get("ledger_mark") != _audit_mark(mark, release.threshold):
            result = audit(
                cells,
                suppressed,
                ledger_for_audit(up_to=mark[1]),
                release.threshold,
                atom_counts=_atom_counts(internal),
                relations=_relations(internal),
            )
        else:
            result = None
        if result is not None and not result.passed:
            raise DisclosureProblem(
                gettext(
                    "Publication refused: a report published since this draft was built would, "
                    "together with this one, let readers work out hidden numbers. Build a new "
                    "draft from the analysis run."
                ),
                result.explain(),
            )
        now = timezone.now()
        release.status = ReleaseStatus.PUBLISHED
        release.published_at = now
        release.published_by = user if user.is_authenticated else None  # type: ignore[assignment]
        release.content_hash = rendering.content_hash(release)
        # Every artefact is made before anything is written: one that cannot be made stops
        # the publication with a message, and the transaction leaves nothing behind.
        artefacts = publication_artefacts(release)
        release.rendered_html = artefacts.html
        release.rendered_tables = artefacts.tables
        release.rendered_i18n = artefacts.translated
        release.save()
        for name, content_type, data in artefacts.files:
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


@dataclass(frozen=True)
class ReplayedAudit:
    """One publication's audit run again by today's auditor against the ledger it met."""

    release: str
    earlier_releases: int
    passed: bool
    explanation: str


def publication_audits_replayed() -> list[ReplayedAudit]:
    """Audit every published (or retracted) release again, in publication order, against the
    ledger as it stood when it was published, with today's auditor.

    Why: an auditor's bug lets a release out that today's auditor would refuse (3ff5954: a
    later year published first was taken for revised data and left out of the equations).
    What is already public cannot be recalled, but an epidemiologist must learn which
    releases to retract or supersede; this reads only and changes nothing.
    """
    firsts = (
        LedgerEntry.objects.values("release_id")
        .annotate(first=Min("id"))
        .order_by("first")
        .values_list("release_id", "first")
    )
    replayed: list[ReplayedAudit] = []
    for release_id, first in firsts:
        release = Release.objects.get(pk=release_id)
        internal = release.internal_audit
        cells, suppressed = _audited_cells(internal)
        ledger = ledger_for_audit(up_to=first - 1)
        result = audit(
            cells,
            suppressed,
            ledger,
            release.threshold,
            atom_counts=_atom_counts(internal),
            relations=_relations(internal),
        )
        replayed.append(
            ReplayedAudit(
                release=f"{release.site_code} {release.year} version {release.version}",
                earlier_releases=len({e.release for e in ledger}),
                passed=result.passed,
                explanation="" if result.passed else result.explain(),
            )
        )
    return replayed


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


def _correction_problems(release: Release, erratum: str) -> list[FieldError]:
    """Why ``release`` cannot be corrected with this erratum (none: it can)."""
    problems = []
    if release.status != ReleaseStatus.PUBLISHED:
        problems.append(FieldError("status", _("Only a published release can be corrected.")))
    if not erratum.strip():
        problems.append(FieldError("erratum", _("Describe what the correction changes.")))
    return problems


def release_correct(
    *,
    user: User,
    release: Release,
    run: AnalysisRun,
    erratum: str,
    late_data: str = "refuse",
) -> Release:
    """A correction built at once (scripts and tests; the release page asks for a build job
    through :func:`release_build_request`): a new draft version that supersedes the published
    one."""
    errors = _correction_problems(release, erratum)
    if errors:
        raise ValidationProblem(errors)
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


class BuildAbandoned(RuntimeError):
    """The sweep failed this build while it was still running: its draft is not kept."""


QUEUE_UNAVAILABLE = gettext_noop(
    "Not started: the job queue is unavailable (%(error)s). Build it again later."
)


def release_build_request(
    *,
    user: User,
    run: AnalysisRun,
    site_code: str,
    year: int,
    late_data: str = LateData.REFUSE,
    erratum: str = "",
    supersedes: Release | None = None,
    request_key: str | None = None,
) -> tuple[ReleaseBuild, bool]:
    """Ask for a draft (or, with ``supersedes``, a correction) to be built by a worker.

    Returns the build and whether it is new: a double tap, or a second epidemiologist asking
    while a build of the same site and year is under way, gets the build already in progress.
    ``request_key`` is the asking form's one-time key: the same form sent again, even after its
    build has finished, gets that build back (exactly one draft per form). What can be checked
    at once is checked here, so a typo is not a job.
    """
    _require(user, Role.EPIDEMIOLOGIST, Role.ADMIN)
    request_key = (request_key or "").strip() or None
    if request_key is not None:
        earlier = _build_of_request(user, request_key)
        if earlier is not None:
            return earlier, False
    errors: list[FieldError] = []
    if run.status != RunStatus.SUCCEEDED or run.result_set is None:
        errors.append(FieldError("run", _("That analysis run has not succeeded.")))
    if not ProductionSite.objects.filter(code=site_code).exists():
        errors.append(FieldError("site_code", _("Unknown site %(code)s.") % {"code": site_code}))
    if late_data not in LateData.values:
        errors.append(FieldError("late_data", _("Choose one of the options for late data.")))
    if supersedes is not None:
        errors += _correction_problems(supersedes, erratum)
    if errors:
        raise ValidationProblem(errors)
    for attempt in range(2):
        try:
            with transaction.atomic():
                build = ReleaseBuild.objects.create(
                    requested_by=user if user.is_authenticated else None,
                    run=run,
                    site_code=site_code,
                    year=year,
                    late_data=late_data,
                    erratum=erratum.strip(),
                    supersedes=supersedes,
                    stage=str(_("Waiting for a worker")),
                    request_key=request_key,
                )
                transaction.on_commit(partial(_enqueue_build, build.pk))
        except IntegrityError:  # one_active_build_per_site_year, or the same form at once
            if request_key is not None:
                earlier = _build_of_request(user, request_key)
                if earlier is not None:
                    return earlier, False
            active = ReleaseBuild.objects.filter(
                site_code=site_code,
                year=year,
                status__in=[BuildStatus.QUEUED, BuildStatus.RUNNING],
            ).first()
            if active is None:  # it finished between our insert and this read: once more
                if attempt == 0:
                    continue
                raise
            same = (active.run_id, active.late_data, active.erratum, active.supersedes_id) == (
                run.pk,
                late_data,
                erratum.strip(),
                supersedes.pk if supersedes else None,
            )
            if not same:
                raise ValidationProblem(
                    [
                        FieldError(
                            "release",
                            _(
                                "Another build of this report is under way; wait for it to "
                                "finish, then ask again."
                            ),
                        )
                    ]
                ) from None
            return active, False  # the same request again (a double tap): the build under way
        return build, True
    raise AssertionError("unreachable")  # pragma: no cover


def _build_of_request(user: User, request_key: str) -> ReleaseBuild | None:
    """The build an earlier sending of the same form made, if any (only the asker's own)."""
    earlier = ReleaseBuild.objects.filter(request_key=request_key).first()
    if earlier is None:
        return None
    if earlier.requested_by_id != (user.pk if user.is_authenticated else None):
        raise ValidationProblem(
            [FieldError("release", _("This form was already used; reload the page."))]
        )
    return earlier


def _enqueue_build(build_id: int) -> None:
    from reports.tasks import build_release

    try:
        build_release.apply_async((build_id,))
    except Exception as error:  # kombu/redis connection errors share no useful base
        _fail_build(build_id, [gettext(QUEUE_UNAVAILABLE) % {"error": type(error).__name__}])


def _fail_build(build_id: int, problems: list[str], **fields: Any) -> None:
    log.warning("release build %s failed: %s", build_id, problems)
    ReleaseBuild.objects.filter(
        pk=build_id, status__in=[BuildStatus.QUEUED, BuildStatus.RUNNING]
    ).update(
        status=BuildStatus.FAILED,
        problems=problems,
        stage=str(_("Not built")),
        finished_at=timezone.now(),
        **fields,
    )


def release_build_execute(build_id: int) -> Release | None:
    """The worker's side: claim the build (once), build and audit, store the outcome.

    A message delivered twice finds the build already claimed and does nothing; a refusal
    (late data, disclosure, changed data) is stored on the build for the epidemiologist.
    Its stages and problems are worded in the requester's saved language (else the worker's);
    the draft itself does not depend on the language (its texts are msgids, translated when
    a page shows them).
    """
    requester = (
        ReleaseBuild.objects.filter(pk=build_id).values_list("requested_by", flat=True).first()
    )
    with in_saved_language(requester):
        return _release_build_execute(build_id)


def _release_build_execute(build_id: int) -> Release | None:
    claimed = ReleaseBuild.objects.filter(pk=build_id, status=BuildStatus.QUEUED).update(
        status=BuildStatus.RUNNING, started_at=timezone.now(), stage=str(_("Starting"))
    )
    if not claimed:
        return None
    build = ReleaseBuild.objects.select_related("run", "supersedes", "requested_by").get(
        pk=build_id
    )

    def progress(stage: str) -> None:
        ReleaseBuild.objects.filter(pk=build_id, status=BuildStatus.RUNNING).update(stage=stage)

    user: User = build.requested_by or AnonymousUser()
    try:
        if build.supersedes is not None and build.supersedes.status != ReleaseStatus.PUBLISHED:
            raise ReleaseStateError(
                _("The release to correct is no longer published (it was retracted).")
            )
        return release_build_draft(
            user=user,
            run=build.run,
            site_code=build.site_code,
            year=build.year,
            threshold=build.supersedes.threshold if build.supersedes else None,
            erratum=build.erratum,
            supersedes=build.supersedes,
            late_data=build.late_data,
            progress=progress,
            build=build,
        )
    except BuildAbandoned:
        return None
    except LateDataProblem as problem:
        held = [
            {"what": h.description, "release": h.release, "more": h.more_records}
            for h in problem.held
        ]
        _fail_build(build_id, [e.message for e in problem.errors], held=held)
    except DisclosureProblem as problem:
        _fail_build(build_id, [e.message for e in problem.errors], details=problem.details)
    except ValidationProblem as problem:
        _fail_build(build_id, [e.message for e in problem.errors])
    except PermissionError as error:
        _fail_build(build_id, [str(error)])
    except (OperationalError, InterfaceError):
        # The database went away mid-build: nothing was saved (one transaction). Give the
        # build back to the queue for the task's retry; if even that fails, the sweep does it.
        try:
            ReleaseBuild.objects.filter(pk=build_id, status=BuildStatus.RUNNING).update(
                status=BuildStatus.QUEUED, started_at=None
            )
        except (OperationalError, InterfaceError):
            log.warning("release build %s: database unavailable; the sweep will retry", build_id)
        raise
    except Exception as error:
        log.exception("release build %s stopped on an unexpected error", build_id)
        _fail_build(
            build_id,
            [
                _(
                    "The build stopped on an unexpected error (%(error)s). Build it again; if "
                    "it happens again, tell the administrator."
                )
                % {"error": type(error).__name__}
            ],
        )
    return None


def release_builds_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Builds a lost message or a killed worker left behind: sent again, up to
    HEALTHWATCH_RUN_MAX_ATTEMPTS times, then failed with the reason. Idempotent."""
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.HEALTHWATCH_RUN_QUEUED_STALE_SECONDS)
    killed = now - dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    done = {"builds_requeued": 0, "builds_failed": 0}
    left = ReleaseBuild.objects.filter(
        Q(status=BuildStatus.QUEUED, queued_at__lt=stale)
        | Q(status=BuildStatus.RUNNING, started_at__lt=killed)
    )
    for build in left:
        if build.attempts >= settings.HEALTHWATCH_RUN_MAX_ATTEMPTS:
            with in_saved_language(build.requested_by_id):
                _fail_build(
                    build.pk,
                    [
                        ngettext(
                            "Not built after %(n)d attempt: the job queue or its workers are "
                            "unavailable. Build it again when they are back.",
                            "Not built after %(n)d attempts: the job queue or its workers are "
                            "unavailable. Build it again when they are back.",
                            build.attempts,
                        )
                        % {"n": build.attempts}
                    ],
                )
            done["builds_failed"] += 1
            continue
        sent_again = ReleaseBuild.objects.filter(
            pk=build.pk, status=build.status, attempts=build.attempts
        ).update(
            status=BuildStatus.QUEUED,
            attempts=F("attempts") + 1,
            queued_at=now,
            started_at=None,
            stage=str(_("Worker lost or queue delayed: trying again")),
        )
        if sent_again:
            _enqueue_build(build.pk)
            done["builds_requeued"] += 1
    return done


def client_fingerprint(address: str, day: str) -> str:
    """Keyed hash of the client address and day: enough to rate-limit, not to identify."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{address}|{day}".encode(), hashlib.sha256).hexdigest()


def public_comment_submit(
    *, release: Release, body: str, author_name: str, address: str
) -> PublicComment:
    errors = []
    if not release.is_public:
        errors.append(FieldError("release", _("Comments are open on published releases only.")))
    if not body.strip():
        errors.append(FieldError("body", _("Write the comment.")))
    if len(body) > 4000:
        errors.append(FieldError("body", _("Keep the comment under 4,000 characters.")))
    if len(author_name) > 80:
        errors.append(FieldError("author_name", _("Keep the name under 80 characters.")))
    fingerprint = client_fingerprint(address, timezone.now().date().isoformat())
    if PublicComment.objects.filter(client_hash=fingerprint).count() >= COMMENTS_PER_CLIENT_PER_DAY:
        errors.append(
            FieldError(
                "body",
                ngettext(
                    "At most %(n)d comment a day; please come back tomorrow.",
                    "At most %(n)d comments a day; please come back tomorrow.",
                    COMMENTS_PER_CLIENT_PER_DAY,
                )
                % {"n": COMMENTS_PER_CLIENT_PER_DAY},
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
