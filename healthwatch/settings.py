"""HealthWatch settings: one module, every value from the environment.

The defaults run with no external service (SQLite, Celery over kombu's filesystem transport
with a real worker process). `DATABASE_URL` switches to PostgreSQL and `CELERY_BROKER_URL` to
Redis. Every variable is listed, with its default and meaning, in README.md and .env.example.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from healthwatch.env import (
    env_bool,
    env_int,
    env_list,
    env_optional_str,
    env_str,
    env_url,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent
load_env_file(Path(env_str("HEALTHWATCH_ENV_FILE", str(BASE_DIR / ".env"))))

DEBUG = env_bool("DEBUG", False)
VAR_DIR = Path(env_str("HEALTHWATCH_VAR_DIR", str(BASE_DIR / "var")))

_DEV_SECRET = "insecure-development-only-secret-key-do-not-use-in-production"  # noqa: S105
_DEV_PSEUDONYM_KEY = "insecure-development-only-pseudonym-key"


def _required_secret(name: str, dev_value: str) -> str:
    value = env_optional_str(name)
    if value is not None:
        return value
    if DEBUG:
        return dev_value
    raise ImproperlyConfigured(
        f"{name} is not set. With DEBUG off HealthWatch refuses to start without it: "
        f'set {name} in the environment (for example: {name}="$(python -c '
        "'import secrets; print(secrets.token_urlsafe(50))')\")."
    )


SECRET_KEY = _required_secret("SECRET_KEY", _DEV_SECRET)
# The key of the keyed HMAC that turns a study ID into a resident's pseudonym. It is never
# stored in the database: whoever holds a dump without it cannot link pseudonyms to study IDs.
HEALTHWATCH_PSEUDONYM_KEY = _required_secret("HEALTHWATCH_PSEUDONYM_KEY", _DEV_PSEUDONYM_KEY)
HEALTHWATCH_PSEUDONYM_KEY_VERSION = env_int("HEALTHWATCH_PSEUDONYM_KEY_VERSION", 1, minimum=1)

# Disclosure control of public reports: counts 1..T-1 are suppressed (T ≥ 5), and a release
# needs this many community reviewers' approvals before it can be published.
HEALTHWATCH_DISCLOSURE_THRESHOLD = env_int("HEALTHWATCH_DISCLOSURE_THRESHOLD", 10, minimum=5)
HEALTHWATCH_REVIEW_QUORUM = env_int("HEALTHWATCH_REVIEW_QUORUM", 1, minimum=1)
# After a CSV import: a debounced analysis run, and fresh open data when measurements changed.
HEALTHWATCH_ANALYSE_AFTER_IMPORT = env_bool("HEALTHWATCH_ANALYSE_AFTER_IMPORT", True)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "healthwatch",
    "surveys",
    "analytics",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "healthwatch.middleware.StaffLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "healthwatch.urls"
WSGI_APPLICATION = "healthwatch.wsgi.application"
ASGI_APPLICATION = "healthwatch.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "healthwatch.roles.role_context",
            ],
        },
    },
]

DATABASE_URL = env_url(
    "DATABASE_URL",
    f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
    schemes=("sqlite", "postgres", "postgresql"),
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to one file: wait for the lock instead of failing,
    # take it at BEGIN to avoid deadlocked upgrades, and let readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": env_optional_str("SQLITE_TEST_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
with contextlib.suppress(OSError):  # a read-only deployment has run collectstatic already
    STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing
# Serve straight from the apps' static folders when collectstatic has not been run (make run).
WHITENOISE_USE_FINDERS = True

# Cache for whole public pages. Default: local memory (per process). With several web
# processes set CACHE_URL=redis://host:6379/1 so a new publication shows everywhere at once.
CACHE_URL = env_url("CACHE_URL", "locmem://", schemes=("locmem", "redis", "rediss", "dummy"))


def cache_config(url: str) -> dict[str, dict[str, object]]:
    """The CACHES setting for a CACHE_URL (a function so tests can point it elsewhere)."""
    if url.startswith(("redis://", "rediss://")):
        # Fails open (healthwatch/cache.py): Redis down → pages served uncached, never a 500.
        # The timeouts (seconds) bound what an unreachable cache host costs each request.
        return {
            "default": {
                "BACKEND": "healthwatch.cache.FailOpenRedisCache",
                "LOCATION": url,
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        }
    if url.startswith("dummy://"):
        return {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


CACHES = cache_config(CACHE_URL)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "workspace"
LOGOUT_REDIRECT_URL = "reports:home"

# Security headers; the deploy check (`manage.py check --deploy`) is clean with DEBUG off.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("HEALTHWATCH_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 100, minimum=1, maximum=10000),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HealthWatch API",
    "DESCRIPTION": "Community health surveillance around rare-earth production sites.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI served from our own static files: no CDN, works offline and under a CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery. Default: kombu's filesystem transport in VAR_DIR, so `make run` needs no broker
# service yet still runs a real worker process. Production: CELERY_BROKER_URL=redis://…
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL",
    "filesystem://localhost/",
    schemes=("filesystem", "redis", "rediss", "memory"),
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # kombu's filesystem transport expects its folders to exist.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Redelivery of an unacknowledged task (worker killed mid-run) after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10)
    }
CELERY_RESULT_BACKEND = env_optional_str("CELERY_RESULT_BACKEND")
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1800, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1860, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT so that a "
        "task gets its soft-limit exception (and can clean up) before it is killed."
    )
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# A pool process that ends a task above this resident size (KiB) is replaced: one analysis of a
# large community does not keep its peak memory for the rest of the worker's life.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", 600_000, minimum=50_000
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
