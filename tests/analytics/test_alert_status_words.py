"""An alert's status words carry their context: "Open" is a state there, not the verb."""

from __future__ import annotations

import pytest
from django.utils import translation

from analytics.models import AlertStatus
from tests.i18n import tp


@pytest.mark.parametrize("language", ["fr", "pt-br", "zh-hans", "ms", "sw"])
def test_an_open_alert_is_called_open_as_a_state_in_every_language(language: str) -> None:
    with translation.override(language):
        assert str(AlertStatus.OPEN.label) == tp("alert status", "Open")
        assert str(AlertStatus.OPEN.label) != "Open"
