"""The acute respiratory outcome (dx.J06 or dx.J20, derived: no vocabulary row) has one name."""

from __future__ import annotations

import pytest

from analytics import suite
from analytics.outcome_charts import Labels
from notifications.services import outcome_label
from reports import layouts
from reports.rendering import _outcome_label, publication_labels
from tests.i18n import t

ONE_NAME = "Acute respiratory infection (new J06 or J20 diagnosis)"


@pytest.mark.django_db
def test_the_acute_respiratory_outcome_has_one_name_in_e_mails_charts_and_releases() -> None:
    name = t(ONE_NAME)
    assert outcome_label(suite.ACUTE_RESPIRATORY) == name
    assert Labels().outcome(suite.ACUTE_RESPIRATORY) == name
    frozen = {"outcome_labels": dict(layouts.OUTCOME_LABELS), "tables": {}}
    assert _outcome_label(frozen, suite.ACUTE_RESPIRATORY) == name
    assert publication_labels(frozen).outcomes[suite.ACUTE_RESPIRATORY] == name


@pytest.mark.django_db
def test_a_release_frozen_with_the_outcome_s_older_name_shows_its_one_name() -> None:
    frozen = {
        "outcome_labels": {suite.ACUTE_RESPIRATORY: "Acute respiratory infection (J06 or J20)"},
        "tables": {},
    }
    assert _outcome_label(frozen, suite.ACUTE_RESPIRATORY) == t(ONE_NAME)
    assert publication_labels(frozen).outcomes[suite.ACUTE_RESPIRATORY] == t(ONE_NAME)
