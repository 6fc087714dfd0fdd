"""The texts of the phone's outbox (surveys/static/surveys/outbox.js), translated on the server.

The script has no text of its own: it reads these from a json_script block, so they go through
Django's translation catalogue like every other text. `{n}`, `{year}`, `{pk}` and `{area}` are
filled in by the script. `{% outbox_text "entries" %}` is the wording of the community
monitor's pages, whose outbox holds samples and sensor readings rather than visits.
"""

from __future__ import annotations

from django import template
from django.utils.formats import get_format
from django.utils.translation import gettext

register = template.Library()


@register.simple_tag
def outbox_text(kind: str = "visits") -> dict[str, str]:
    texts = _visit_texts()
    texts["date_pattern"] = date_pattern(str(get_format("SHORT_DATE_FORMAT")))
    if kind == "entries":
        texts.update(_entry_texts())
    return texts


# Django's date format characters the script can fill from an ISO day (2024-03-01).
_DAY_PARTS = {"Y": "{Y}", "m": "{m}", "d": "{d}", "n": "{n}", "j": "{j}", "y": "{y}"}


def date_pattern(django_format: str) -> str:
    """SHORT_DATE_FORMAT as the script's pattern ("d/m/Y" → "{d}/{m}/{Y}"), so a visit waiting
    on the phone shows its day as the pages do. A format naming months or weekdays (F, M, D…)
    would need the script to know their names: ISO then."""
    pattern, escaped = [], False
    for char in django_format:
        if escaped:
            pattern.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _DAY_PARTS:
            pattern.append(_DAY_PARTS[char])
        elif char.isalpha() and char.isascii():
            return "{Y}-{m}-{d}"
        else:
            pattern.append(char)
    return "".join(pattern)


def _entry_texts() -> dict[str, str]:
    return {
        "waiting_one": gettext("1 entry waiting to be sent."),
        "waiting_many": gettext("{n} entries waiting to be sent."),
        "refused_some": gettext(
            "{n} refused by the server: correct them in the list on My monitoring."
        ),
        "no_network": gettext(
            "No network: the entries stay on this phone and are sent when it returns."
        ),
        "log_in_again": gettext("Log in again to send the entries waiting on this phone."),
        "server_error": gettext(
            "The server could not take the entries now; they stay on this phone."
        ),
        "discard_confirm": gettext(
            "Discard this entry? It was never sent and cannot be recovered."
        ),
        "logout_warning": gettext(
            "Entries on this phone not sent yet: {n}. Logging out deletes them from this phone. "
            "Log out anyway?"
        ),
        "entry_sample": gettext("Sample {code}"),
        "entry_reading": gettext("Sensor reading: {value} {unit}"),
    }


def _visit_texts() -> dict[str, str]:
    return {
        "saved": gettext("Saved on this phone, not yet sent."),
        "waiting_one": gettext("1 visit waiting to be sent."),
        "waiting_many": gettext("{n} visits waiting to be sent."),
        "sent_some": gettext("{n} sent to the server."),
        "refused_some": gettext(
            "{n} refused by the server: correct them in the list on the field page."
        ),
        "no_network": gettext(
            "No network: the visits stay on this phone and are sent when it returns."
        ),
        "log_in_again": gettext("Log in again to send the visits waiting on this phone."),
        "server_error": gettext(
            "The server could not take the visits now; they stay on this phone."
        ),
        "state_waiting": gettext("Not yet sent"),
        "state_sending": gettext("Sending…"),
        "state_refused": gettext("Refused: correct it"),
        "send": gettext("Send now"),
        "edit": gettext("Edit"),
        "discard": gettext("Discard"),
        "discard_confirm": gettext(
            "Discard this visit? It was never sent and cannot be recovered."
        ),
        "known_resident": gettext("Resident #{pk}"),
        "new_resident": gettext("New resident, born {year}, {area}"),
        "no_resident": gettext("Open this form from a resident's page or a registration."),
        "register_offline": gettext(
            "No network: the resident is kept on this phone and registered when the visit is sent."
        ),
        "find_offline": gettext(
            "No network: a study ID cannot be looked up now. Register the resident: if the study "
            "ID is already known, the visit is added to that resident when it is sent."
        ),
        "logout_warning": gettext(
            "Visits on this phone not sent yet: {n}. Logging out deletes them from this phone. "
            "Log out anyway?"
        ),
    }
