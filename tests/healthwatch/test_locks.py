"""The one lock chokepoint: named locks that exclude across processes, on both databases."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from healthwatch.locks import LockBusy, lock_key, session_lock, transaction_lock


def free_elsewhere(name: str) -> bool:
    """Try the lock from another thread (with its own connection, as another process would)."""
    answer: list[bool] = []

    def attempt() -> None:
        from django.db import connection

        try:
            with session_lock(name, blocking=False):
                answer.append(True)
        except LockBusy:
            answer.append(False)
        finally:
            connection.close()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    return answer[0]


@pytest.mark.django_db
def test_a_session_lock_excludes_only_holders_of_the_same_name() -> None:
    with session_lock("healthwatch:test:a"):
        assert not free_elsewhere("healthwatch:test:a")
        assert free_elsewhere("healthwatch:test:b")
    assert free_elsewhere("healthwatch:test:a")  # released at the end of the block


@pytest.mark.django_db
def test_a_session_lock_is_released_when_its_block_raises() -> None:
    with pytest.raises(ZeroDivisionError), session_lock("healthwatch:test:a"):
        _ = 1 / 0
    assert free_elsewhere("healthwatch:test:a")


def test_names_give_distinct_stable_keys_that_fit_a_postgresql_bigint() -> None:
    names = [f"healthwatch:import:{kind}" for kind in ("sites", "areas", "observations")]
    keys = [lock_key(name) for name in [*names, "reports.public_comment"]]
    assert len(set(keys)) == len(keys)
    assert all(-(2**63) <= key < 2**63 for key in keys)


@pytest.mark.django_db(transaction=True)
def test_a_transaction_lock_needs_a_transaction() -> None:
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        transaction_lock("healthwatch:test:a")
    with transaction.atomic():
        transaction_lock("healthwatch:test:a")  # SQLite: BEGIN IMMEDIATE already serializes
