from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "surveys"
    verbose_name = "Field data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from surveys import labels  # noqa: F401  (drops cached labels when one is edited)
