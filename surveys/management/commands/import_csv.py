"""Import one CSV file of data contract v1 (docs/data-formats.md).

python manage.py import_csv KIND FILE [--dry-run] [--user USERNAME]

Without --user the import runs as the operator (no area scope, no permission check); with it,
as that user (their role and areas decide what they may import). On any error nothing is
imported, every error is printed as "row N, column C, value 'V': reason", and the command
exits non-zero. What it prints is in the active language (LANGUAGE_CODE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext, ngettext

from surveys.importing import KINDS, import_csv
from surveys.services import AccessDenied


class Command(BaseCommand):
    help = (
        "Import a CSV file of one kind (sites, areas, population, stations, measurements, "
        "residents, observations): all rows or none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS, help="what the file holds")
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8)")
        parser.add_argument(
            "--dry-run", action="store_true", help="validate and count, write nothing"
        )
        parser.add_argument("--user", help="import as this user (default: the operator)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(gettext("No user “%(name)s”.") % {"name": options["user"]})
        if not path.is_file():
            raise CommandError(gettext("No file “%(path)s”.") % {"path": path})
        try:
            with path.open("rb") as stream:
                report = import_csv(
                    kind=options["kind"],
                    stream=stream,
                    file_name=path.name,
                    user=user,
                    dry_run=options["dry_run"],
                )
        except AccessDenied as error:
            raise CommandError(str(error)) from error
        if not report.ok:
            for row_error in report.errors:
                self.stderr.write(str(row_error))
            raise CommandError(
                ngettext(
                    "%(file)s: %(errors)s error (rows read: %(rows)s); nothing was imported.",
                    "%(file)s: %(errors)s errors (rows read: %(rows)s); nothing was imported.",
                    report.error_count,
                )
                % {"file": path.name, "errors": report.error_count, "rows": report.rows}
            )
        self.stdout.write(
            gettext("%(file)s: %(summary)s Import record #%(record)s.")
            % {"file": path.name, "summary": report.summary(), "record": report.import_record_id}
        )
