"""The public site under hostile names, a dead page cache and clients behind a proxy."""

from __future__ import annotations

import logging
import socket

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import Resolver404, resolve

from reports.models import PublicComment, Release

RELEASE = "/reports/RH-SEP/2025/v1/"


@pytest.mark.parametrize(
    "name",
    ["a\x00b.csv", "indicators_by_area.csv\x00", "..", ".hidden.csv", "x.exe", "a b.csv", "ü.csv"],
)
def test_an_odd_or_nul_download_name_does_not_reach_the_view(name: str) -> None:
    with pytest.raises(Resolver404):
        resolve(RELEASE + name)


def test_the_real_download_names_still_resolve() -> None:
    for name in ("indicators_by_area.csv", "trend.json", "release.zip"):
        assert resolve(RELEASE + name).url_name == "public_download"


def test_a_nul_in_a_public_download_url_answers_404(published: Release, anonymous: Client) -> None:
    assert anonymous.get(RELEASE + "trend%00.json").status_code == 404


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_with_the_page_cache_redis_down_public_pages_still_answer_and_the_outage_is_logged(
    published: Release, anonymous: Client, caplog: pytest.LogCaptureFixture
) -> None:
    from healthwatch.settings import cache_config

    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    with override_settings(CACHES=cache_config(dead)), caplog.at_level(logging.WARNING):
        home = anonymous.get("/")
        page = anonymous.get(RELEASE)
    assert home.status_code == 200 and published.site_name.encode() in home.content
    assert page.status_code == 200 and published.site_name.encode() in page.content
    assert any("cache" in record.getMessage().lower() for record in caplog.records)


@override_settings(HEALTHWATCH_TRUSTED_PROXIES=1)
def test_behind_the_proxy_each_client_has_its_own_comment_limit(published: Release) -> None:
    url = RELEASE + "comments/"
    cache.clear()
    first = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.5")
    for n in range(5):
        assert first.post(url, {"body": f"comment {n}"}).status_code == 302
    assert first.post(url, {"body": "one too many"}).status_code == 400
    second = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert second.post(url, {"body": "my first"}).status_code == 302
    assert PublicComment.objects.count() == 6
