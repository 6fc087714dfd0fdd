"""Speak OpenRosa as ODK Collect does: Basic auth, the form list, the blank form, and instances
filled in from that form's own primary instance (never hand-written XML)."""

from __future__ import annotations

import base64
import copy
import uuid
from typing import Any
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as SafeET
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

PASSWORD = "test-password-123"  # tests.conftest.make_user
XF = "{http://www.w3.org/2002/xforms}"
OPENROSA = {"X-OpenRosa-Version": "1.0"}


def auth(username: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", **OPENROSA}


def blank_form(client: Client, username: str, form_id: str = "healthwatch_visit") -> str:
    listing = client.get("/openrosa/formList", headers=auth(username))
    assert listing.status_code == 200, listing.content
    ns = "{http://openrosa.org/xforms/xformsList}"
    url = next(
        entry.find(f"{ns}downloadUrl")
        for entry in SafeET.fromstring(listing.content)
        if entry.findtext(f"{ns}formID") == form_id
    )
    assert url is not None and url.text
    form = client.get(url.text.replace("http://testserver", ""), headers=auth(username))
    assert form.status_code == 200
    return form.content.decode()


def _strip(element: ET.Element) -> None:
    for e in element.iter():
        e.tag = e.tag.rsplit("}", 1)[-1]


def fill(xform: str, answers: dict[str, str], instance_id: uuid.UUID | None = None) -> bytes:
    """An instance of this XForm: its primary instance, the given answers set by element name,
    and a fresh meta/instanceID (as Collect does when the form is finalized)."""
    root = SafeET.fromstring(xform)
    model = root.find(f".//{XF}model")
    assert model is not None
    primary = model.find(f"{XF}instance")
    assert primary is not None
    data = copy.deepcopy(primary[0])
    _strip(data)
    names = {e.tag for e in data.iter()}
    unknown = set(answers) - names
    assert not unknown, f"the form has no question {unknown}"
    for element in data.iter():
        if element.tag in answers:
            element.text = answers[element.tag]
    instance = data.find("meta/instanceID")
    assert instance is not None, "the form defines meta/instanceID"
    instance.text = f"uuid:{instance_id or uuid.uuid4()}"
    return ET.tostring(data, encoding="utf-8", xml_declaration=True)


def submit(client: Client, username: str | None, xml: bytes) -> Any:
    headers = auth(username) if username else dict(OPENROSA)
    upload = SimpleUploadedFile("instance.xml", xml, content_type="text/xml")
    return client.post("/openrosa/submission", {"xml_submission_file": upload}, headers=headers)
