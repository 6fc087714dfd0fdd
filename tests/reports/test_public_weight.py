"""Public pages are light on slow phone data: compressed, and within the issue's byte budgets."""

from __future__ import annotations

import gzip

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from reports import services
from reports.models import Release

pytestmark = pytest.mark.django_db

FIRST_SCREEN_BUDGET = 50_000  # the release page's HTML and its stylesheet, compressed
PAGE_BUDGET = 100_000  # every public page but downloads, compressed


def transferred(client: Client, url: str) -> int:
    """Bytes on the wire for a browser that accepts gzip (the body as sent, headers aside)."""
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response.status_code == 200, url
    assert response.get("Content-Encoding") == "gzip", url
    assert gzip.decompress(response.content), url
    return len(response.content)


def public_pages(release: Release) -> list[str]:
    base = f"/reports/{release.site_code}/{release.year}/v{release.version}/"
    return [
        "/",
        base,
        *[base + f"tables/{name}/" for name in release.content["tables"]],
        base + "comments/",
        "/privacy/",
        "/methodology/",
        "/open-data/",
    ]


def test_every_public_page_is_sent_compressed_within_its_byte_budget(
    published: Release, anonymous: Client
) -> None:
    services.open_data_snapshot_create()
    sizes = {url: transferred(anonymous, url) for url in public_pages(published)}
    print("\n".join(f"{size:>8} {url}" for url, size in sizes.items()))
    over = {url: size for url, size in sizes.items() if size > PAGE_BUDGET}
    assert not over, over
    css = finders.find("healthwatch/app.css")
    assert css
    with open(css, "rb") as stylesheet:
        css_gzipped = len(gzip.compress(stylesheet.read()))
    release_page = sizes[public_pages(published)[1]]
    assert release_page + css_gzipped <= FIRST_SCREEN_BUDGET, (release_page, css_gzipped)
    # the uncompressed page is several times larger: the compression is real
    plain = len(anonymous.get(public_pages(published)[1]).content)
    assert plain > 3 * release_page
