"""Resident pseudonyms: HMAC-SHA256(key, normalized study ID).

The key lives in the environment (HEALTHWATCH_PSEUDONYM_KEY), never in the database, so a
database dump alone cannot be linked back to study IDs, and the same study ID typed at the next
visit reaches the same resident. Study IDs are normalized first so that case and stray spaces
do not create a second pseudonym for the same person.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext

STUDY_ID_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_\-/.]{0,63}$")


class InvalidStudyId(ValueError):
    pass


@dataclass(frozen=True)
class Pseudonym:
    value: str
    key_version: int


def normalize_study_id(study_id: str) -> str:
    """Upper-case, strip surrounding and inner whitespace; refuse what is not an ID."""
    normalized = re.sub(r"\s+", "", study_id or "").upper()
    if not normalized:
        raise InvalidStudyId(gettext("Study ID is empty."))
    if not STUDY_ID_PATTERN.match(normalized):
        raise InvalidStudyId(
            gettext(
                "Study ID may contain only letters, digits and - _ / . (at most 64 characters)."
            )
        )
    return normalized


def pseudonymize(
    study_id: str, *, key: str | None = None, key_version: int | None = None
) -> Pseudonym:
    secret = (key if key is not None else settings.HEALTHWATCH_PSEUDONYM_KEY).encode("utf-8")
    digest = hmac.new(secret, normalize_study_id(study_id).encode("utf-8"), hashlib.sha256)
    version = key_version if key_version is not None else settings.HEALTHWATCH_PSEUDONYM_KEY_VERSION
    return Pseudonym(digest.hexdigest(), version)
