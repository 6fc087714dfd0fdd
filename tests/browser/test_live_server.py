"""The browser tests' live server takes requests one at a time when it shares the test's
in-memory SQLite connection (tests/browser/conftest.py says why)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.browser.conftest import IN_FLIGHT, OneRequestAtATimeServer


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_a_second_request_waits_until_the_first_response_is_closed() -> None:
    app = OneRequestAtATimeServer._one_at_a_time(_hello)
    first = app({}, lambda *_: None)
    second_done = threading.Event()

    def second() -> None:
        app({}, lambda *_: None).close()
        second_done.set()

    threading.Thread(target=second, daemon=True).start()
    assert not second_done.wait(0.5), "the second request ran while the first was streaming"
    assert list(first) == [b"hello"]
    first.close()
    assert second_done.wait(5), "the second request never got its turn"


def test_a_request_that_raises_gives_its_turn_back() -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("the view failed")

    app = OneRequestAtATimeServer._one_at_a_time(broken)
    with pytest.raises(RuntimeError):
        app({}, lambda *_: None)
    with pytest.raises(RuntimeError):  # would block forever if the turn were still taken
        app({}, lambda *_: None)


def test_closing_a_response_twice_gives_the_turn_back_once() -> None:
    app = OneRequestAtATimeServer._one_at_a_time(_hello)
    first = app({}, lambda *_: None)
    first.close()
    second = app({}, lambda *_: None)
    first.close()  # must not release the turn the second request holds
    third_done = threading.Event()

    def third() -> None:
        app({}, lambda *_: None).close()
        third_done.set()

    threading.Thread(target=third, daemon=True).start()
    assert not third_done.wait(0.5)
    second.close()
    assert third_done.wait(5)


@pytest.mark.django_db(transaction=True)
def test_the_live_server_of_the_browser_tests_takes_turns(live_server: Any) -> None:
    httpd = live_server.thread.httpd
    assert isinstance(httpd, OneRequestAtATimeServer)
    assert getattr(httpd.get_app(), "__qualname__", "").endswith("_one_at_a_time.<locals>.app")


def test_a_turn_never_given_back_fails_the_next_request_loudly_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(OneRequestAtATimeServer, "TURN_TIMEOUT", 0.2)
    app = OneRequestAtATimeServer._one_at_a_time(_hello)
    held = app({}, lambda *_: None)  # not closed
    with pytest.raises(RuntimeError, match="never closed"):
        app({}, lambda *_: None)
    assert IN_FLIGHT.count == 1  # the refused request is not left counted; the held one is
    held.close()
    assert IN_FLIGHT.wait_until_idle(timeout=1.0)


def test_the_wait_before_the_flush_sees_a_request_in_flight_until_it_is_closed() -> None:
    app = OneRequestAtATimeServer._one_at_a_time(_hello)
    response = app({}, lambda *_: None)
    assert not IN_FLIGHT.wait_until_idle(timeout=0.3)
    threading.Timer(0.2, response.close).start()
    assert IN_FLIGHT.wait_until_idle(timeout=5.0)
