"""The data change marker on PostgreSQL (statement-level triggers, COPY imports): the tests of
tests/surveys/test_data_change_marker.py, collected again here where the integration suite
runs them on PostgreSQL."""

from tests.surveys.conftest import area_a, area_b, assignments, site  # noqa: F401 - the world
from tests.surveys.test_data_change_marker import *  # noqa: F403
