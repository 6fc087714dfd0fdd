# HealthWatch — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# The integration suite's PostgreSQL and Redis (see .ci/run, which starts and prepares them).
TEST_DATABASE_URL ?= postgres://healthwatch@127.0.0.1:5432/healthwatch
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: messages install run test lint typecheck migrations-check unit test-languages integration browser-deps bench services clean

install: $(VENV)/.installed .env messages

# The compiled catalogues (.mo) are built, not committed: from locale/*/LC_MESSAGES/django.po.
messages: $(VENV)/.installed
	@command -v msgfmt >/dev/null || { echo "msgfmt is missing: install GNU gettext (apt-get install gettext)"; exit 1; }
	$(PY) manage.py compilemessages -v 0 --ignore='.venv/*' --ignore='*/node_modules/*' --ignore='staticfiles/*'

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

.env: | $(VENV)/.installed
	PYTHON=$(PY) scripts/make-secrets.sh .env

run: install
	scripts/run.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

# The whole suite but the integration tests, on the embedded SQLite default (tasks a test
# enqueues go to an in-memory broker; the integration suite runs them on real workers).
# Spread over the CPUs by pytest-xdist, one file per worker at a time (module fixtures are
# built once); UNIT_WORKERS=0 runs it in this one process.
UNIT_WORKERS ?= auto
UNIT_PYTEST = CELERY_BROKER_URL=memory://localhost/ $(PY) -m pytest --ignore=tests/integration -q \
	-n $(UNIT_WORKERS) --dist loadfile
unit: install browser-deps
	$(UNIT_PYTEST)

# The unit suite once per shipped language (settings.LANGUAGES) with LANGUAGE_CODE set, stopping
# at the first language that fails (issue #15: tests assert wording through the catalogue,
# tests/i18n.py). Not part of `make test`: it takes six times as long.
LANGUAGE_CODES ?= $(shell $(PY) -c "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'healthwatch.settings'); from django.conf import settings; print(' '.join(code for code, _ in settings.LANGUAGES))")
test-languages: install browser-deps
	@for lang in $(LANGUAGE_CODES); do \
		echo "== the unit suite with LANGUAGE_CODE=$$lang"; \
		LANGUAGE_CODE=$$lang $(UNIT_PYTEST) || { echo "test-languages: fails with LANGUAGE_CODE=$$lang"; exit 1; }; \
	done

# tests/integration on PostgreSQL + Redis + a real worker process started by the fixtures.
integration: install
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(PY) -m pytest tests/integration -q

test: lint typecheck migrations-check unit integration

# Debian's Chromium for the browser tests (never a downloaded browser). Installed when we are
# root with apt; otherwise the browser tests say what is missing (and fail when CI is set).
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests…"; \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)); \
	fi
	@# A Chinese font for the charts' labels (analytics/charts.py measures text with it).
	@if [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's fonts-wqy-microhei for the charts' Chinese labels…"; \
		(apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null)); \
	fi
	@# axe-core (pinned in tests/browser/axe/package-lock.json), injected into the public pages.
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/browser/axe && npm ci --no-audit --no-fund --silent; \
	else \
		echo "npm is missing: the accessibility browser tests skip (and fail when CI is set)"; \
	fi

# Starts PostgreSQL/Redis when not running and creates the test role (as root on Debian).
services:
	scripts/services.sh

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var db.sqlite3 .mypy_cache .ruff_cache .pytest_cache
