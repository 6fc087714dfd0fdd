"""The project's settings for the page-load bench, with one change: STATIC_ROOT.

gunicorn serves the project's WSGI app with these settings (same middleware, DEBUG off,
whitenoise), and STATIC_ROOT points at bench/out/static-<size>/ where bench/run.py writes the
published page's bytes, so whitenoise serves the same bytes as a static file from the same
server for the baseline.
"""

import os
from pathlib import Path

from healthwatch.settings import *  # noqa: F403

STATIC_ROOT = Path(os.environ["BENCH_STATIC_ROOT"])
