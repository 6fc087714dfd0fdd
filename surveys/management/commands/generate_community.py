"""Generate a synthetic rare-earth community (and optionally import it through import_csv).

python manage.py generate_community --residents 3000 --years 5 --seed 1 --out var/synthetic
python manage.py generate_community --residents 3000 --years 5 --seed 1 --out DIR --load
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys.synthetic import IMPORT_ORDER, generate_community


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Write a synthetic community (sites, areas, population, stations, measurements, "
        "residents, observations CSVs and truth.json with every planted effect) into --out; "
        "with --load, import the files in dependency order through import_csv."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--residents", type=_positive, default=3000, help="default 3000")
        parser.add_argument("--years", type=_positive, default=5, help="default 5")
        parser.add_argument("--seed", type=int, default=1, help="default 1")
        parser.add_argument("--out", type=Path, required=True, help="output directory")
        parser.add_argument(
            "--end-year",
            type=int,
            default=2025,
            help="last study year (default 2025; must not lie in the future)",
        )
        parser.add_argument(
            "--load", action="store_true", help="import the generated files with import_csv"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        started = dt.datetime.now()
        try:
            truth = generate_community(
                residents=options["residents"],
                years=options["years"],
                seed=options["seed"],
                out_dir=out,
                end_year=options["end_year"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        seconds = (dt.datetime.now() - started).total_seconds()
        for name, info in truth["files"].items():
            self.stdout.write(f"{out / name}: {info['rows']} rows, sha256 {info['sha256'][:12]}…")
        self.stdout.write(f"{truth.path}: planted effects ({seconds:.1f} s)")
        if not options["load"]:
            return
        for kind in IMPORT_ORDER:
            path = out / f"{kind}.csv"
            self.stdout.write(f"import_csv {kind} {path}")
            call_command("import_csv", kind, str(path), stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(self.style.SUCCESS(f"Loaded the synthetic community from {out}."))
