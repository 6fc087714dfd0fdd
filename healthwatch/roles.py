"""The roles of HealthWatch and the one place that decides what a user is.

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
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponseBase])


class Role(StrEnum):
    HEALTH_WORKER = "health_worker"
    EPIDEMIOLOGIST = "epidemiologist"
    COMMUNITY_REVIEWER = "community_reviewer"
    ADMIN = "admin"
    # A trained resident who records environmental samples and sensor readings for the stations
    # assigned to them. Not staff: never sees health data (see monitor_may_reach).
    COMMUNITY_MONITOR = "community_monitor"


#: The roles that work with health data. "Every role" in a staff check means these, never
#: Role itself: the community monitor is a role but not staff.
STAFF_ROLES: tuple[Role, ...] = (
    Role.HEALTH_WORKER,
    Role.EPIDEMIOLOGIST,
    Role.COMMUNITY_REVIEWER,
    Role.ADMIN,
)

ROLE_PRIORITY: tuple[Role, ...] = (
    Role.ADMIN,
    Role.EPIDEMIOLOGIST,
    Role.COMMUNITY_REVIEWER,
    Role.HEALTH_WORKER,
    Role.COMMUNITY_MONITOR,
)

ROLE_LABELS: dict[Role, str | Promise] = {
    Role.HEALTH_WORKER: _("Health worker"),
    Role.EPIDEMIOLOGIST: _("Epidemiologist"),
    Role.COMMUNITY_REVIEWER: _("Community reviewer"),
    Role.ADMIN: _("Administrator"),
    Role.COMMUNITY_MONITOR: _("Community monitor"),
}

# The URL name of each role's workspace: where a user lands after login.
WORKSPACE_URL_NAMES: dict[Role, str] = {
    Role.HEALTH_WORKER: "surveys:workspace",
    Role.EPIDEMIOLOGIST: "analytics:workspace",
    Role.COMMUNITY_REVIEWER: "reports:review_workspace",
    Role.ADMIN: "system",
    Role.COMMUNITY_MONITOR: "monitoring:monitor_home",
}

#: What a community monitor (who holds no staff role) may open besides the public site: their
#: own monitoring pages, the workspace router and logging out. Everything else answers 403 —
#: health records, analyses, reports, exports, imports, the API and the admin.
MONITOR_URL_NAMES = frozenset({"workspace", "login", "logout"})
MONITOR_URL_PREFIXES = ("monitoring:monitor_",)


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


def is_monitor_only(user: AbstractBaseUser | AnonymousUser) -> bool:
    """A community monitor holding no staff role: the narrowest signed-in user."""
    held = roles_of(user)
    return Role.COMMUNITY_MONITOR in held and not held & set(STAFF_ROLES)


def monitor_may_reach(url_name: str, *, is_public: bool, path: str) -> bool:
    """The chokepoint for community monitors: may a monitor-only user open this route?

    Public pages (except the API, which is never public to a signed-in monitor) and the
    monitor's own pages; nothing else.
    """
    if path.startswith(("/api/", "/openrosa/", "/admin/")):
        return False
    if url_name in MONITOR_URL_NAMES or url_name.startswith(MONITOR_URL_PREFIXES):
        return True
    return is_public


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
        return {"roles": frozenset(), "primary_role": None, "monitor_only": False}
    roles = roles_of(user)
    return {
        "roles": {role.value for role in roles},
        "primary_role": primary_role(user),
        "monitor_only": is_monitor_only(user),
    }


class NotMonitorOnly(BasePermission):
    """The API's side of the monitor chokepoint (token logins never pass the middleware's
    session check): a community monitor holding no staff role reaches no API route."""

    message = _("Community monitors do not use the API.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return not is_monitor_only(request.user)
