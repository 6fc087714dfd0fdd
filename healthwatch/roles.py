"""The four roles of HealthWatch and the one place that decides what a user is.

Roles are Django groups created by a data migration. A user may hold several; the workspace a
user lands on after login is the first of ROLE_PRIORITY they hold.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])


class Role(StrEnum):
    HEALTH_WORKER = "health_worker"
    EPIDEMIOLOGIST = "epidemiologist"
    COMMUNITY_REVIEWER = "community_reviewer"
    ADMIN = "admin"


ROLE_PRIORITY: tuple[Role, ...] = (
    Role.ADMIN,
    Role.EPIDEMIOLOGIST,
    Role.COMMUNITY_REVIEWER,
    Role.HEALTH_WORKER,
)

ROLE_LABELS: dict[Role, str] = {
    Role.HEALTH_WORKER: "Health worker",
    Role.EPIDEMIOLOGIST: "Epidemiologist",
    Role.COMMUNITY_REVIEWER: "Community reviewer",
    Role.ADMIN: "Administrator",
}

# The URL name of each role's workspace: where a user lands after login.
WORKSPACE_URL_NAMES: dict[Role, str] = {
    Role.HEALTH_WORKER: "surveys:workspace",
    Role.EPIDEMIOLOGIST: "analytics:workspace",
    Role.COMMUNITY_REVIEWER: "reports:review_workspace",
    Role.ADMIN: "system",
}


def roles_of(user: AbstractBaseUser | AnonymousUser) -> frozenset[Role]:
    """The roles a user holds; superusers hold the admin role. Cached on the user object."""
    if not user.is_authenticated:
        return frozenset()
    cached: frozenset[Role] | None = getattr(user, "_healthwatch_roles", None)
    if cached is not None:
        return cached
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
    roles = {role for role in Role if role.value in names}
    if getattr(user, "is_superuser", False):
        roles.add(Role.ADMIN)
    result = frozenset(roles)
    user._healthwatch_roles = result  # type: ignore[union-attr,attr-defined]
    return result


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: Role) -> bool:
    return bool(roles_of(user) & set(roles))


def primary_role(user: AbstractBaseUser | AnonymousUser) -> Role | None:
    held = roles_of(user)
    return next((role for role in ROLE_PRIORITY if role in held), None)


def role_required(*roles: Role) -> Callable[[ViewFunc], ViewFunc]:
    """Allow a view to users holding any of `roles`; others get 403.

    Anonymous visitors never reach here: LoginRequired middleware sends them to the login page
    first (every view is private unless marked `public`).
    """

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not has_role(request.user, *roles):
                raise PermissionDenied("This page is for: " + ", ".join(r.value for r in roles))
            return view(request, *args, **kwargs)

        wrapped.healthwatch_roles = frozenset(roles)  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def public(view: ViewFunc) -> ViewFunc:
    """Mark a view as readable by anonymous visitors (the public site)."""
    return login_not_required(view)


def role_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the visitor's roles, so navigation shows only what they may open."""
    user = getattr(request, "user", None)
    if user is None:
        return {"roles": frozenset(), "primary_role": None}
    roles = roles_of(user)
    return {
        "roles": {role.value for role in roles},
        "primary_role": primary_role(user),
    }
