from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from healthwatch.demo import DEMO_PASSWORD, demo_users_create


class Command(BaseCommand):
    help = "Create the demo users (one per role) and print their logins. Demo only."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Create demo users even with DEBUG off (never on a real deployment).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["allow_without_debug"]:
            raise CommandError(
                "Refusing to create demo users with known passwords while DEBUG is off; "
                "pass --allow-without-debug if this really is a demo machine."
            )
        users = demo_users_create()
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for demo in users:
            self.stdout.write(f"  {demo.username:<10} {demo.description}")
