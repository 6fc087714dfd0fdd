"""The public site: reads only frozen snapshots, downloads parse, comments are moderated."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reports import services
from reports.models import PublicComment, Release
from tests.i18n import h, label_of, tn
from tests.urlwalk import walk

pytestmark = pytest.mark.django_db

CONTRACT = [
    "analysis",
    "outcome",
    "area_code",
    "period",
    "stratum",
    "measure",
    "estimate",
    "ci_lower",
    "ci_upper",
    "numerator",
    "denominator",
    "p_value",
    "flags",
]


def monitoring_stations() -> list[dict[str, str]]:
    """Community monitoring's public pages serve its snapshot: freeze one first."""
    from monitoring.publishing import public_snapshot_refresh

    return public_snapshot_refresh().stations


def public_urls(release: Release) -> list[str]:
    base = f"/reports/{release.site_code}/{release.year}/v{release.version}/"
    urls = []
    for route in walk():
        # /openrosa/ is login-exempt but answers only phones with credentials (HTTP Basic).
        machine = ("/accounts/", "/admin/", "/api/", "/openrosa/")
        if not route.is_public or route.path.startswith(machine):
            continue
        if route.name == "set_language":  # the switcher's POST target, not a page
            continue
        if route.name == "reports:public_release":
            urls.append(base)
        elif route.name == "reports:public_download":
            urls += [base + "indicators_by_area.csv", base + "trend.json", base + "release.zip"]
        elif route.name == "reports:public_comment":
            urls.append(base + "comments/")
        elif route.name == "reports:public_table":
            urls += [base + f"tables/{name}/" for name in release.content["tables"]]
        elif route.name == "monitoring:public_station":
            urls += [f"/monitoring/stations/{s['code']}/" for s in monitoring_stations()]
        else:
            urls.append(route.path)
    return urls


def test_no_public_view_touches_a_record_level_table(published: Release, anonymous: Client) -> None:
    services.open_data_snapshot_create()
    urls = public_urls(published)
    assert len(urls) >= 9
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            response = anonymous.get(url)
        assert response.status_code == 200, url
        touched = [q["sql"] for q in queries.captured_queries if "surveys_" in q["sql"]]
        assert not touched, (url, touched)


def test_the_release_page_shows_findings_then_one_short_section_per_topic_with_its_table(
    published: Release, anonymous: Client
) -> None:
    response = anonymous.get("/reports/RH-SEP/2025/v1/")
    page = response.content.decode()
    findings = h("Key findings")
    assert findings in page and page.index(findings) < page.index('data-topic="')
    for topic in ("respiratory", "skin", "kidney", "biomarkers", "environment"):
        assert f'data-topic="{topic}"' in page
    assert page.count("<svg") >= 4 and page.count("data-reading") == 5
    assert h("%(year)s report, version %(version)s", year=2025, version=1) in page
    assert published.content_hash in page
    assert response["Cache-Control"].startswith("public")
    # The ETag is the content hash, with "-<language>" after it outside English (one page per
    # language); the browser sends it back weakened when the page came gzipped.
    etag = response["ETag"]
    assert etag.startswith(f'"{published.content_hash}')
    again = anonymous.get("/reports/RH-SEP/2025/v1/", HTTP_IF_NONE_MATCH=f"W/{etag}")
    assert again.status_code == 304
    table = anonymous.get("/reports/RH-SEP/2025/v1/tables/indicators_by_area/").content.decode()
    assert "data-suppressed" in table and "<caption>" in table and 'scope="row"' in table
    assert anonymous.get("/reports/RH-SEP/2025/v1/tables/no_such_table/").status_code == 404


def test_public_pages_show_labels_and_area_names_never_codes(
    published: Release, anonymous: Client
) -> None:
    pages = [anonymous.get("/reports/RH-SEP/2025/v1/").content.decode()] + [
        anonymous.get(f"/reports/RH-SEP/2025/v1/tables/{name}/").content.decode()
        for name in published.content["tables"]
    ]
    # data-* attributes are for tests and scripts, never shown (the map tags its stations).
    shown = re.sub(r'data-[a-z-]+="[^"]*"', "", "\n".join(pages))
    names = [a["name"] for a in published.content["areas"]]
    assert all(name in shown for name in names)
    for code in (
        "lab.blood_lead",
        "symptom.cough",
        "dx.J45",
        "distance_band=",
        "station=",
        ">A01<",
    ):
        assert code not in shown, code
    blood_lead = h(label_of("lab.blood_lead"))
    assert blood_lead in shown or blood_lead.lower() in shown


def test_downloads_are_the_tidy_contract_with_suppressed_values_empty(
    published: Release, anonymous: Client
) -> None:
    body = anonymous.get("/reports/RH-SEP/2025/v1/indicators_by_area.csv")
    rows = list(csv.reader(io.StringIO(b"".join([body.content]).decode())))
    assert rows[0] == CONTRACT
    suppressed = [r for r in rows[1:] if "suppressed" in r[12]]
    assert suppressed and all(r[6] == "" for r in suppressed)
    document = json.loads(anonymous.get("/reports/RH-SEP/2025/v1/trend.json").content)
    assert document["metadata"]["content_hash"] == published.content_hash
    archive = zipfile.ZipFile(
        io.BytesIO(anonymous.get("/reports/RH-SEP/2025/v1/release.zip").content)
    )
    metadata = json.loads(archive.read("metadata.json"))
    assert metadata["content_hash"] == published.content_hash
    assert "indicators_by_area.csv" in archive.namelist()


def test_drafts_are_not_public(draft: Release, anonymous: Client) -> None:
    assert anonymous.get("/reports/RH-SEP/2025/v1/").status_code == 404
    assert h("No report has been published yet.") in anonymous.get("/").content.decode()


def test_a_public_comment_waits_for_moderation_and_is_rate_limited(
    published: Release, anonymous: Client, epidemiologist: User
) -> None:
    url = "/reports/RH-SEP/2025/v1/comments/"
    response = anonymous.post(url, {"author_name": "Mai", "body": "Thank you for the report."})
    assert response.status_code == 302
    comment = PublicComment.objects.get()
    assert comment.status == "pending" and "127.0.0.1" not in comment.client_hash
    thanks = h("Thank you. Your comment will appear once a moderator has read it.")
    assert thanks in anonymous.get(url).content.decode()
    assert b"Thank you for the report." not in anonymous.get("/reports/RH-SEP/2025/v1/").content
    services.public_comment_moderate(user=epidemiologist, comment=comment, approve=True)
    cache.clear()  # public pages are cached for a minute: as if that minute had passed
    assert b"Thank you for the report." in anonymous.get("/reports/RH-SEP/2025/v1/").content
    for _ in range(4):
        anonymous.post(url, {"body": "more"})
    refused = anonymous.post(url, {"body": "one too many"})
    limit = tn(
        "At most %(n)d comment a day; please come back tomorrow.",
        "At most %(n)d comments a day; please come back tomorrow.",
        5,
        n=5,
    )
    assert refused.status_code == 400 and h(limit) in refused.content.decode()
    anonymous.post(url, {"body": "bot", "website": "http://spam"})
    assert PublicComment.objects.count() == 5


def test_open_data_has_every_measurement_with_status_and_licence(
    community: object, anonymous: Client
) -> None:
    from surveys.models import Measurement

    services.open_data_snapshot_create()
    table = list(
        csv.reader(io.StringIO(anonymous.get("/open-data/measurements.csv").content.decode()))
    )
    assert table[0] == [
        "station_code",
        "sampled_on",
        "pollutant",
        "value",
        "unit",
        "below_lod",
        "lod",
        "status",
    ]
    assert len(table) - 1 == Measurement.objects.count()
    assert {r[7] for r in table[1:]} >= {"validated", "invalid"}
    api = anonymous.get(
        "/open-data/api/measurements?station=AQ-01&pollutant=pm2_5&from=2025-01-01"
    ).json()
    assert api["licence"].startswith("CC BY 4.0")
    assert api["count"] > 0 and all(
        r["station_code"] == "AQ-01" and r["sampled_on"] >= "2025-01-01" for r in api["results"]
    )
    assert anonymous.get("/open-data/api/measurements?page=x").status_code == 400


def test_anonymous_visitors_get_the_release_page_from_the_cache(
    published: Release, anonymous: Client
) -> None:
    anonymous.get("/reports/RH-SEP/2025/v1/")
    with CaptureQueriesContext(connection) as queries:
        response = anonymous.get("/reports/RH-SEP/2025/v1/")
    assert response.status_code == 200 and h("Key findings") in response.content.decode()
    assert len(queries.captured_queries) == 0
