"""The demo cast that `make run` creates: one user per role, with printed demo passwords.

The same cast names the people of the test world, so a newcomer who reads the tests meets the
users they can log in as.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from healthwatch.roles import Role

DEMO_PASSWORD = "healthwatch-demo"  # noqa: S105 - demo only, printed by `make run`


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    description: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("worker_a", Role.HEALTH_WORKER, "health worker of the areas nearest the plant"),
    DemoUser("worker_b", Role.HEALTH_WORKER, "health worker of the outlying areas"),
    DemoUser("epi", Role.EPIDEMIOLOGIST, "epidemiologist"),
    DemoUser("reviewer", Role.COMMUNITY_REVIEWER, "community reviewer"),
    DemoUser("admin", Role.ADMIN, "administrator (also Django admin)"),
)


@transaction.atomic
def demo_users_create() -> list[DemoUser]:
    """Create or reset the demo users; idempotent."""
    user_model = get_user_model()
    for demo in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(username=demo.username)
        user.set_password(DEMO_PASSWORD)
        # Notifications reach them; with `make run` the console backend prints the e-mails in
        # var/log/worker.log (.invalid: never a real mailbox).
        user.email = f"{demo.username}@demo.healthwatch.invalid"
        user.is_staff = demo.role is Role.ADMIN
        user.is_superuser = demo.role is Role.ADMIN
        user.save()
        user.groups.add(Group.objects.get(name=demo.role.value))
    return list(DEMO_USERS)
