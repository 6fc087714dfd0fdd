"""The web side under a bad day, on PostgreSQL through a real HTTP server: a page-cache Redis that
dies, 20 simultaneous comments from one client, a NUL in a download name, and a schema-driven
fuzzer (schemathesis) against the whole API with zero server errors allowed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from healthwatch.settings import cache_config
from tests.browser.conftest import publish_tiny_release
from tests.integration.conftest import PrivateRedis

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
RELEASE = "/reports/RH-SEP/2025/v1/"
# How long the API fuzzer may run, and how many examples each operation gets: enough to reach
# every operation with valid and invalid input, bounded so CI stays within minutes.
SCHEMATHESIS_MAX_SECONDS = int(os.environ.get("HEALTHWATCH_FUZZ_SECONDS", "180"))
SCHEMATHESIS_EXAMPLES = int(os.environ.get("HEALTHWATCH_FUZZ_EXAMPLES", "25"))


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our live server
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


@pytest.fixture
def published(
    tiny_community: Path, vocabulary: None, epidemiologist: User, community_reviewer: User
) -> Any:
    return publish_tiny_release(tiny_community, epidemiologist, community_reviewer)


def test_with_the_page_cache_redis_stopped_public_pages_answer_200_and_recover(
    published: Any, live_server: Any, private_redis: PrivateRedis
) -> None:
    with override_settings(CACHES=cache_config(private_redis.url)):
        assert _get(live_server.url + "/")[0] == 200
        assert _get(live_server.url + RELEASE)[0] == 200
        assert private_redis.keys() > 0  # the pages really were cached in that Redis

        private_redis.stop()
        home, home_body = _get(live_server.url + "/")
        page, page_body = _get(live_server.url + RELEASE)
        assert (home, page) == (200, 200)
        assert published.site_name.encode() in home_body
        assert published.site_name.encode() in page_body

        private_redis.start()  # back: pages are cached again, no restart of the app needed
        assert _get(live_server.url + RELEASE)[0] == 200
        assert private_redis.keys() > 0


def test_twenty_simultaneous_comments_from_one_client_store_exactly_the_daily_limit(
    published: Any, live_server: Any
) -> None:
    from django.core.servers.basehttp import ThreadedWSGIServer

    from reports.models import PublicComment
    from reports.services import COMMENTS_PER_CLIENT_PER_DAY

    # Requests that really run at once (the browser tests' live server takes turns).
    assert type(live_server.thread.httpd) is ThreadedWSGIServer
    url = live_server.url + RELEASE + "comments/"
    # Each poster fetches the form first for its CSRF cookie, then all post at once. The cookie
    # is sent by hand: with DEBUG off it is marked Secure, and this live server speaks HTTP.
    tokens = []
    for _ in range(20):
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(url, timeout=30).read()
        tokens.append(next(c.value for c in jar if c.name == "csrftoken"))
    start = threading.Barrier(len(tokens))
    answers: list[int] = []

    def post(token: str) -> None:
        data = urllib.parse.urlencode({"body": "Same client", "csrfmiddlewaretoken": token})
        request = urllib.request.Request(  # noqa: S310 - our live server
            url, data=data.encode(), headers={"Cookie": f"csrftoken={token}"}
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                answers.append(int(response.status))
        except urllib.error.HTTPError as error:
            answers.append(int(error.code))

    threads = [threading.Thread(target=post, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert PublicComment.objects.count() == COMMENTS_PER_CLIENT_PER_DAY, answers
    # Accepted posts redirect to the thank-you page (200 after the redirect); refused ones 400.
    assert sorted(answers) == [200] * COMMENTS_PER_CLIENT_PER_DAY + [400] * (
        20 - COMMENTS_PER_CLIENT_PER_DAY
    )


def test_a_nul_or_odd_name_in_a_public_download_url_is_404_on_postgresql(
    published: Any, live_server: Any
) -> None:
    for name in ("trend%00.json", "trend.json%00", "..%2Fsecret", "x.exe", "%C3%BC.csv"):
        assert _get(live_server.url + RELEASE + name)[0] == 404, name
    assert _get(live_server.url + RELEASE + "trend.json")[0] == 200


def test_schemathesis_finds_no_server_error_and_no_undeclared_response_in_the_api(
    live_server: Any,
    vocabulary: None,
    admin_user: User,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rest_framework.authtoken.models import Token

    from surveys.models import Area, AreaAssignment, ProductionSite, Station

    # Something in every scope, so that reads find rows and writes have targets.
    site = ProductionSite.objects.create(
        code="SEP1", name="Plant", kind="separation_plant", latitude=25, longitude=110
    )
    area = Area.objects.create(code="A01", name="Village", latitude=25.01, longitude=110.01)
    AreaAssignment.objects.create(user=admin_user, area=area)
    Station.objects.create(code="AQ1", name="Roof", medium="air", latitude=25, longitude=110)
    assert site.pk
    # The fuzzer is one client sending thousands of requests: lift the per-user API rate.
    rates = cast(dict[str, Any], settings.REST_FRAMEWORK)["DEFAULT_THROTTLE_RATES"]
    monkeypatch.setitem(rates, "user", "100000/minute")
    token = Token.objects.create(user=admin_user)
    report = tmp_path / "schemathesis.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{live_server.url}/api/schema/",
            "--header",
            f"Authorization: Token {token.key}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--max-examples",
            str(SCHEMATHESIS_EXAMPLES),
            "--max-time",
            str(SCHEMATHESIS_MAX_SECONDS),
            "--seed",
            "19",
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "junit",
            "--report-junit-path",
            str(report),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SCHEMATHESIS_MAX_SECONDS + 300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    assert "passed" in output.lower() and report.exists()
