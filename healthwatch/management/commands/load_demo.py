from typing import Any

from django.core.management.base import BaseCommand

from healthwatch.demo_data import demo_data_load


class Command(BaseCommand):
    help = "Load the demo community and compute what exists (idempotent). Used by `make run`."

    def handle(self, *args: Any, **options: Any) -> None:
        for line in demo_data_load():
            self.stdout.write(line)
