from typing import Any

from django.apps import AppConfig
from django.conf import settings


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from surveys.signals import data_imported

        data_imported.connect(_refresh_open_data, dispatch_uid="reports-open-data-after-import")


def _refresh_open_data(sender: Any, kind: str = "", **kwargs: Any) -> None:
    """New measurements or stations: freeze a new open-data snapshot (in a worker)."""
    if kind not in ("measurements", "stations") or not settings.HEALTHWATCH_ANALYSE_AFTER_IMPORT:
        return
    from reports.tasks import refresh_open_data

    refresh_open_data.delay()
