"""The snapshot's map and printable PDF (issue 16, parts 2 and 4): made at publication, stored
with the release, served beside the other downloads; a publication whose map or PDF cannot be
made stops with a message and leaves nothing published."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import in_ci
from tests.i18n import t

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.test import Client

    from reports.models import Release

SHOTS = Path("/work/notes/shots")


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is missing (apt-get install poppler-utils)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def _file(release: Release, name: str) -> bytes:
    return bytes(release.files.get(name=name).content)


def test_publication_stores_a_map_and_an_a4_pdf_that_carries_the_zips_content_hash(
    published: Release, tmp_path: Path, client: Client
) -> None:
    from django.utils.translation import get_language

    from reports.services import pdf_name

    names = set(published.files.values_list("name", flat=True))
    assert {"map.svg", "release.pdf", "release.zip"} <= names

    # The map is in the frozen page, with one shape per area of the release.
    areas = published.content["areas"]
    assert "data-release-map" in published.rendered_html
    shapes = re.findall(r'data-area="([^"]+)"', _file(published, "map.svg").decode())
    assert sorted(shapes) == sorted(a["area_code"] for a in areas)
    for area in areas:
        assert f'data-area-row="{area["area_code"]}"' in published.rendered_html

    # The PDF: A4, every page renders, and its text holds the zip's content hash.
    pdf = tmp_path / "release.pdf"
    pdf.write_bytes(_file(published, "release.pdf"))
    info = subprocess.run(
        [_poppler("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert "(A4)" in info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert pages >= 2
    subprocess.run(
        [_poppler("pdftoppm"), "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True
    )
    assert len(list(tmp_path.glob("page-*.png"))) == pages
    text = subprocess.run(
        [_poppler("pdftotext"), "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with zipfile.ZipFile(io.BytesIO(_file(published, "release.zip"))) as bundle:
        zip_hash = json.loads(bundle.read("metadata.json"))["content_hash"]
    assert zip_hash == published.content_hash
    assert zip_hash in text.replace(" ", "")
    # Labels, never codes: the areas by name, no area code and no outcome code printed.
    for area in areas:
        assert area["name"] in text
        assert not re.search(rf"\b{area['area_code']}\b", text)
    assert "lab.blood_lead" not in text and "symptom.cough" not in text
    for finding in published.content["findings"][:1]:
        assert finding.split(" ")[1] in text

    # Downloadable beside the other downloads.
    base = f"/reports/{published.site_code}/{published.year}/v{published.version}/"
    response = client.get(base + "release.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert bytes(response.content) == pdf.read_bytes()
    assert client.get(base + "map.svg")["Content-Type"] == "image/svg+xml"
    page = client.get(base).content.decode()
    assert f'href="{pdf_name(get_language())}"' in page  # the PDF in the page's language

    if SHOTS.is_dir():  # the shot for the lead's note (the task asks for it; not an assertion)
        subprocess.run(
            [
                _poppler("pdftoppm"),
                "-r",
                "80",
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(pdf),
                str(SHOTS / "pdf-page1"),
            ],
            check=True,
        )


@pytest.mark.parametrize(
    ("broken", "what"),
    [("reports.rendering.release_map", "map"), ("reports.printing.release_pdf", "printable PDF")],
)
def test_a_map_or_pdf_that_cannot_be_made_stops_the_publication_and_nothing_is_published(
    draft: Release,
    epidemiologist: User,
    community_reviewer: User,
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
    what: str,
) -> None:
    from reports import services
    from reports.models import LedgerEntry, Release, ReleaseFile, ReleaseStatus

    services.release_approve(user=epidemiologist, release=draft)
    services.release_review(user=community_reviewer, release=draft, decision="approve", body="ok")

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(broken, fail)
    with pytest.raises(services.PublicationArtefactError) as refused:
        services.release_publish(user=epidemiologist, release_id=draft.pk)
    message = refused.value.errors[0].message
    assert refused.value.errors[0].field == "publication"
    assert message == t(
        "Publication stopped, nothing was published: the %(what)s could not be made "
        "(%(reason)s). Fix the cause and publish again.",
        what=t(what),
        reason="disk full",
    )

    release = Release.objects.get(pk=draft.pk)
    assert release.status == ReleaseStatus.EPI_APPROVED
    assert release.content_hash == "" and release.rendered_html == ""
    assert release.published_at is None
    assert not ReleaseFile.objects.filter(release=release).exists()
    assert not LedgerEntry.objects.filter(release=release).exists()

    # Once the cause is gone, the same release publishes, once.
    monkeypatch.undo()
    published = services.release_publish(user=epidemiologist, release_id=draft.pk)
    assert published.status == ReleaseStatus.PUBLISHED
    assert ReleaseFile.objects.filter(release=release, name="release.pdf").count() == 1


def _pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    return subprocess.run(
        [_poppler("pdftotext"), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_the_printable_pdf_is_made_in_every_shipped_language_and_the_page_links_its_own(
    published: Release, tmp_path: Path, client: Client, settings: Any
) -> None:
    from django.utils import translation

    from reports.services import pdf_name

    names = set(published.files.values_list("name", flat=True))
    base = f"/reports/{published.site_code}/{published.year}/v{published.version}/"
    for language, _name in settings.LANGUAGES:
        assert pdf_name(language) in names, language
        text = _pdf_text(_file(published, pdf_name(language)), tmp_path, f"{language}.pdf")
        with translation.override(language):
            heading, note = t("Key findings"), t("Tables")
        # Printed in the language, with glyphs that come back out as text (Chinese included).
        assert heading in text and note in text, (language, text[:400])
        assert published.content_hash in text.replace(" ", "")
        page = client.get(base, headers={"accept-language": language}).content.decode()
        assert f'href="{pdf_name(language)}"' in page
        response = client.get(base + pdf_name(language))
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert pdf_name("en") == "release.pdf"  # the English one keeps its name of before


def test_without_a_chinese_font_a_release_publishes_and_its_chinese_page_links_the_english_pdf(
    draft: Release,
    epidemiologist: User,
    community_reviewer: User,
    monkeypatch: pytest.MonkeyPatch,
    client: Client,
) -> None:
    from reports import printing, services

    def no_font() -> None:
        raise printing.NoFontForLanguage("no Chinese font is installed")

    monkeypatch.setattr(printing, "_register_cjk_font", no_font)
    services.release_approve(user=epidemiologist, release=draft)
    services.release_review(user=community_reviewer, release=draft, decision="approve", body="ok")
    published = services.release_publish(user=epidemiologist, release_id=draft.pk)
    names = set(published.files.values_list("name", flat=True))
    assert "release-zh-hans.pdf" not in names and {"release.pdf", "release-fr.pdf"} <= names
    base = f"/reports/{published.site_code}/{published.year}/v{published.version}/"
    page = client.get(base, headers={"accept-language": "zh-hans"}).content.decode()
    assert 'href="release.pdf"' in page
