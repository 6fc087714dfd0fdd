"""The lock chokepoint on PostgreSQL: a transaction lock and a session lock of one name exclude
each other across connections (one key space), and each is released when its holder ends."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from healthwatch.locks import LockBusy, session_lock, transaction_lock

pytestmark = pytest.mark.django_db(transaction=True)
NAME = "healthwatch:test:shared"


def session_lock_free(name: str) -> bool:
    answer: list[bool] = []

    def attempt() -> None:
        try:
            with session_lock(name, blocking=False):
                answer.append(True)
        except LockBusy:
            answer.append(False)
        finally:
            connection.close()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(timeout=30)
    return answer[0]


def test_a_transaction_lock_holds_off_a_session_lock_of_the_same_name_until_commit() -> None:
    with transaction.atomic():
        transaction_lock(NAME)
        assert not session_lock_free(NAME)
        assert session_lock_free("healthwatch:test:other")
    assert session_lock_free(NAME)


def test_a_session_lock_holds_off_a_transaction_lock_of_the_same_name() -> None:
    taken = threading.Event()  # the thread has started and is about to ask for the lock
    done: list[bool] = []

    def lock_in_a_transaction() -> None:
        taken.set()
        try:
            with transaction.atomic():
                transaction_lock(NAME)
                done.append(True)
        finally:
            connection.close()

    with session_lock(NAME):
        thread = threading.Thread(target=lock_in_a_transaction)
        thread.start()
        taken.wait(timeout=10)
        thread.join(timeout=1)
        assert thread.is_alive() and not done  # waiting for the session lock
    thread.join(timeout=30)
    assert done == [True]
