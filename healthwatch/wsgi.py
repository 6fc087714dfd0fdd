"""WSGI entry point (gunicorn healthwatch.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")
application = get_wsgi_application()
# Import every view now (pandas, scipy, matplotlib come with the analysis pages): otherwise each
# worker pays seconds of imports on its first request, and under load those first requests
# pile up behind them. With `gunicorn --preload` the workers fork already warm.
get_resolver().url_patterns  # noqa: B018
