"""WSGI entry point (gunicorn healthwatch.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthwatch.settings")
application = get_wsgi_application()
