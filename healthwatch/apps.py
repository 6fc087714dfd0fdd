from django.apps import AppConfig


class HealthWatchConfig(AppConfig):
    name = "healthwatch"
    verbose_name = "HealthWatch core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from healthwatch import i18n  # noqa: F401  (connects the login signal)
