"""`manage.py reaudit_releases`: run every publication's disclosure audit again with today's
auditor, in publication order, against the ledger each release met. Reads only.

Exit status 1 when a release would be refused today: the note printed says what to do.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from reports.services import publication_audits_replayed


class Command(BaseCommand):
    help = (
        "Audit every published release again, in publication order, with today's auditor; "
        "exit 1 if any would now be refused."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        replayed = publication_audits_replayed()
        if not replayed:
            self.stdout.write("No release has been published: nothing to audit again.")
            return
        refused = [r for r in replayed if not r.passed]
        for r in replayed:
            verdict = "passes" if r.passed else "WOULD BE REFUSED TODAY"
            self.stdout.write(
                f"{r.release} (against {r.earlier_releases} earlier releases): {verdict}"
            )
            if not r.passed:
                self.stdout.write(r.explanation)
        if refused:
            raise CommandError(
                f"{len(refused)} of {len(replayed)} published releases would be refused by "
                "today's audit. Hidden numbers in them can be worked out from what is public: "
                "retract each one named above (its public page then says why) and publish a "
                "correction built from the analysis run (docs/privacy.md, 'Auditing published "
                "releases again')."
            )
        self.stdout.write(f"All {len(replayed)} published releases pass today's audit.")
