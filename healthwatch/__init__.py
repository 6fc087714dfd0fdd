"""HealthWatch project package: settings, URLs, Celery app."""

from healthwatch.celery import app as celery_app

__all__ = ["celery_app"]
