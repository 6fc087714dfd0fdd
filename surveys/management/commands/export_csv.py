"""Export one kind as CSV in the contract shape (docs/data-formats.md).

python manage.py export_csv KIND [--user USERNAME] [--out FILE]

Without --user the export runs as the operator (everything); with it, only what that user may
see. Every export is logged (RecordAccess, action "export").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.exporting import EXPORT_COLUMNS, export_csv
from surveys.services import AccessDenied


class _Out:
    """A text sink over the command's stdout that adds no line endings of its own."""

    def __init__(self, command: BaseCommand) -> None:
        self.command = command

    def write(self, text: str) -> int:
        self.command.stdout.write(text, ending="")
        return len(text)


class Command(BaseCommand):
    help = "Export a kind as CSV (to --out, or standard output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=tuple(EXPORT_COLUMNS))
        parser.add_argument("--user", help="export as this user (default: the operator)")
        parser.add_argument("--out", type=Path, help="write to this file (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = User.objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
        out: Path | None = options["out"]
        try:
            if out is None:
                export_csv(kind=options["kind"], user=user, out=_Out(self))  # type: ignore[arg-type]
                return
            with out.open("w", encoding="utf-8", newline="") as stream:
                count = export_csv(kind=options["kind"], user=user, out=stream)
        except AccessDenied as error:
            raise CommandError(str(error)) from error
        self.stderr.write(f"{out}: {count} rows of {options['kind']}.")
