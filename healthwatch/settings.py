"""HealthWatch settings: one module, every value from the environment.

The defaults run with no external service (SQLite, Celery over kombu's filesystem transport
with a real worker process). `DATABASE_URL` switches to PostgreSQL and `CELERY_BROKER_URL` to
Redis. Every variable is listed, with its default and meaning, in README.md and .env.example.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
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
# After a run: its staff charts drawn in every shipped language besides LANGUAGE_CODE, by a worker
# (analytics.services.result_set_charts_translate; ~0.1 s a chart, ~70 charts per language).
HEALTHWATCH_CHARTS_IN_EVERY_LANGUAGE = env_bool("HEALTHWATCH_CHARTS_IN_EVERY_LANGUAGE", True)

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
    "notifications",
    "openrosa",
    "monitoring",
]

MIDDLEWARE = [
    "healthwatch.middleware.UploadSizeLimitMiddleware",  # before anything reads the body
    "django.middleware.security.SecurityMiddleware",
    # Compresses pages (HTML, CSV, JSON) for slow phone data; before ConditionalGet so that its
    # ETags are of the uncompressed body. Django's gzip pads against BREACH.
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.http.ConditionalGetMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the django_language cookie, else Accept-Language (after the session,
    # before CommonMiddleware); URLs carry no language prefix (issue #15).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's saved language wins over the cookie and the browser's.
    "healthwatch.i18n.UserLanguageMiddleware",
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
                "django.template.context_processors.i18n",
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

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
# The languages HealthWatch ships, complete (issue #15): the communities around rare-earth
# mines and plants. Catalogues in locale/<lang>/LC_MESSAGES/django.po.
LANGUAGES = [
    ("en", "English"),
    ("fr", "Français"),
    ("pt-br", "Português (Brasil)"),
    ("zh-hans", "简体中文"),
    ("ms", "Bahasa Melayu"),
    ("sw", "Kiswahili"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates per locale (Django's formats), with ISO short dates in English and formats for Swahili,
# which Django lacks: healthwatch/formats/.
FORMAT_MODULE_PATH = ["healthwatch.formats"]
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
# The public's language choice (the switcher), a year; secure like the session cookie.
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
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
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "healthwatch.roles.NotMonitorOnly",
    ],
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
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.IsAuthenticated",
        "healthwatch.roles.NotMonitorOnly",
    ],
    # Swagger UI served from our own static files: no CDN, works offline and under a CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several serializers have a `status` field of different choices: each enum gets its name.
    "ENUM_NAME_OVERRIDES": {
        "ImportJobStatusEnum": "surveys.models.ImportJobStatus",
        "MeasurementStatusEnum": "surveys.models.MeasurementStatus",
    },
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
        # Must exceed the longest countdown (the after-import debounce, 120 s). A task still
        # running when it passes is delivered again; the parts see the first worker's
        # heartbeat and leave it alone (README, "Operations").
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600, minimum=10),
        # A broker that does not answer fails the request in seconds, not at the proxy timeout.
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
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
# Uploads (README, "Operations"). A request body over the maximum is answered 413 before it is
# read; a CSV over the inline size is imported by a worker as a job with progress, so that no
# web worker is held past gunicorn's timeout. Django's own upload spool goes to a folder of
# ours, swept of leftovers older than HEALTHWATCH_UPLOAD_LEFTOVER_SECONDS.
HEALTHWATCH_MAX_UPLOAD_BYTES = env_int("HEALTHWATCH_MAX_UPLOAD_MB", 100, minimum=1) * 1024 * 1024
HEALTHWATCH_IMPORT_INLINE_MAX_BYTES = (
    env_int("HEALTHWATCH_IMPORT_INLINE_MAX_MB", 5, minimum=0) * 1024 * 1024
)
HEALTHWATCH_UPLOAD_LEFTOVER_SECONDS = env_int(
    "HEALTHWATCH_UPLOAD_LEFTOVER_SECONDS", 6 * 3600, minimum=60
)
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# Queue health (README, "Operations"). A worker computing a part touches its heartbeat every
# HEARTBEAT seconds; the sweep (every minute, healthwatch/schedules.py) re-queues a part not
# heard of for LOST_AFTER seconds, and a run whose start waited on the queue for QUEUED_STALE
# seconds, up to MAX_ATTEMPTS times, then fails it with the reason.
HEALTHWATCH_PART_HEARTBEAT_SECONDS = env_int("HEALTHWATCH_PART_HEARTBEAT_SECONDS", 30, minimum=1)
HEALTHWATCH_PART_LOST_AFTER_SECONDS = env_int("HEALTHWATCH_PART_LOST_AFTER_SECONDS", 120, minimum=3)
if HEALTHWATCH_PART_LOST_AFTER_SECONDS < 3 * HEALTHWATCH_PART_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "HEALTHWATCH_PART_LOST_AFTER_SECONDS must be at least three heartbeats "
        "(HEALTHWATCH_PART_HEARTBEAT_SECONDS), or a busy worker would be taken for lost."
    )
HEALTHWATCH_RUN_QUEUED_STALE_SECONDS = env_int(
    "HEALTHWATCH_RUN_QUEUED_STALE_SECONDS", 900, minimum=10
)
HEALTHWATCH_RUN_MAX_ATTEMPTS = env_int("HEALTHWATCH_RUN_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
# A pool process whose *peak* resident size (KiB, ru_maxrss) has passed this is replaced after
# its task: the safety net against a process that keeps growing. Memory a task freed is handed
# back after every large task instead (healthwatch/celery.py give_memory_back), so an analysis
# at 100k residents (peaks up to ~950 MB) runs without a replacement after each part (1.5–4.5 s
# each, issue #20).
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD", 1_500_000, minimum=50_000
)

# Notifications (README "Notifications"): e-mail through Django's mail, and an optional webhook
# signed with HMAC-SHA256. Without EMAIL_HOST, e-mails go to the console backend (the worker's
# log; `make run` prints where); with it, to that SMTP server. EMAIL_BACKEND overrides both.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "") or (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true: set EMAIL_USE_TLS=false to use "
        "implicit TLS (EMAIL_USE_SSL, usually port 465)."
    )
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", "") or str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "HealthWatch <healthwatch@localhost>")
# Links in e-mails point here (no request to take the host from in a worker).
HEALTHWATCH_SITE_URL = (env_str("HEALTHWATCH_SITE_URL", "") or "http://127.0.0.1:8000").rstrip("/")
if not HEALTHWATCH_SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"HEALTHWATCH_SITE_URL={HEALTHWATCH_SITE_URL!r} must start with http:// or https://."
    )
HEALTHWATCH_WEBHOOK_URL = env_str("HEALTHWATCH_WEBHOOK_URL", "")
HEALTHWATCH_WEBHOOK_SECRET = env_str("HEALTHWATCH_WEBHOOK_SECRET", "")
if HEALTHWATCH_WEBHOOK_URL and not HEALTHWATCH_WEBHOOK_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"HEALTHWATCH_WEBHOOK_URL={HEALTHWATCH_WEBHOOK_URL!r} must start with http:// or https://."
    )
if HEALTHWATCH_WEBHOOK_URL and len(HEALTHWATCH_WEBHOOK_SECRET.encode()) < 32:
    raise ImproperlyConfigured(
        "HEALTHWATCH_WEBHOOK_URL is set, so HEALTHWATCH_WEBHOOK_SECRET must be set too (at least "
        "32 bytes): every webhook call is signed with it (X-HealthWatch-Signature)."
    )
HEALTHWATCH_NOTIFY_MAX_ATTEMPTS = env_int("HEALTHWATCH_NOTIFY_MAX_ATTEMPTS", 5, minimum=1)

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

# =================================================================================================
# Web security (issue 19): trusted proxy, login lockout, API throttles and renderers, CSP, key
# strength. Kept in one block; README "Security" says what each setting is for.
# =================================================================================================

# How many reverse proxies stand in front of the app, each appending the address it saw to
# X-Forwarded-For. 0 (default): the header is ignored (anyone can send one). Behind one nginx or
# load balancer: 1. The login lockout, API throttles and comment limit all key on the address
# this yields (healthwatch.security.client_address).
HEALTHWATCH_TRUSTED_PROXIES = env_int("HEALTHWATCH_TRUSTED_PROXIES", 0, minimum=0, maximum=10)

# Login lockout (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username from
# one client address, that pair is refused (429) for LOGIN_LOCKOUT_MINUTES, even with the right
# password. Other addresses can still sign in as that user; an admin can lift a lockout with
# `manage.py axes_reset_username USERNAME`.
INSTALLED_APPS.append("axes")
AUTHENTICATION_BACKENDS = [
    "healthwatch.security.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as django-axes requires
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "healthwatch.security.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# API: JSON only with DEBUG off (no browsable HTML API to a production browser); throttles per
# user / client address; wrong API tokens counted per address before DRF's throttles would run.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "rest_framework.authentication.SessionAuthentication",
    "healthwatch.security.ThrottledTokenAuthentication",
]
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"] + (
    ["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []
)
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "healthwatch.security.AnonAPIThrottle",
    "healthwatch.security.UserAPIThrottle",
]


def _rate(name: str, default: str) -> str:
    value = env_str(name, default)
    if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate such as 60/minute or 20/hour.")
    return value


REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": _rate("API_THROTTLE_ANON", "60/minute"),
    "user": _rate("API_THROTTLE_USER", "1200/minute"),
    "token_failures": _rate("API_THROTTLE_TOKEN_FAILURES", "20/hour"),
}
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "healthwatch.schema.declare_error_responses",
]

# Content-Security-Policy (django-csp): scripts and styles only from our own static files.
# style-src-attr allows the presentation attributes of the server-rendered SVG charts
# (matplotlib writes style="…" on every path; attributes cannot load or run anything), and
# the one <style> block matplotlib puts in each chart is allowed by its hash.
_CHART_STYLE = "*{stroke-linejoin: round; stroke-linecap: butt}"
_chart_style_digest = base64.b64encode(hashlib.sha256(_CHART_STYLE.encode()).digest()).decode()
_CHART_STYLE_HASH = f"'sha256-{_chart_style_digest}'"
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, _CHART_STYLE_HASH],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The pseudonym key is an HMAC key: shorter than SHA-256's 32-byte output it is the weak link
# that lets a dump's pseudonyms be linked back to study IDs by guessing the key.
if not DEBUG and len(HEALTHWATCH_PSEUDONYM_KEY.encode()) < 32:
    raise ImproperlyConfigured(
        "HEALTHWATCH_PSEUDONYM_KEY must be at least 32 bytes with DEBUG off; generate one with "
        "python -c 'import secrets; print(secrets.token_urlsafe(48))'."
    )
