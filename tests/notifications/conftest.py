"""Notifications world: the cast with e-mail addresses, and the send task run in-process."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def sent_inline(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each queued notification is sent at once in this process (as a worker would); returns
    the ids queued, in order."""
    from notifications import services, tasks

    queued: list[int] = []

    def send(args: tuple[int], **kwargs: Any) -> None:
        queued.append(args[0])
        services.notification_send(notification_id=args[0])

    monkeypatch.setattr(tasks.send_notification, "apply_async", send)
    return queued


def with_email(user: Any) -> Any:
    user.email = f"{user.username}@example.org"
    user.save(update_fields=["email"])
    return user
