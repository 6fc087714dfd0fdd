from typing import Any

from django.core.management.base import BaseCommand

from healthwatch.demo_data import demo_urls


class Command(BaseCommand):
    help = "Print the URLs worth opening in the demo."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        for line in demo_urls(options["base"].rstrip("/")):
            self.stdout.write("  " + line)
