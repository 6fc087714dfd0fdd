from typing import Any

from django.apps import AppConfig
from django.conf import settings


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from surveys.signals import data_imported

        data_imported.connect(_analyse_after_import, dispatch_uid="analytics-after-import")


def _analyse_after_import(sender: Any, **kwargs: Any) -> None:
    """A debounced analysis run after imports (many imports in a row make one run)."""
    if not settings.HEALTHWATCH_ANALYSE_AFTER_IMPORT:
        return
    from analytics.services import analysis_run_request_after_import

    analysis_run_request_after_import()
