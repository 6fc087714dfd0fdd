from django.apps import AppConfig


class OpenRosaConfig(AppConfig):
    name = "openrosa"
    verbose_name = "ODK Collect / KoboCollect"
    default_auto_field = "django.db.models.BigAutoField"
