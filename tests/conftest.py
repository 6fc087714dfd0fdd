"""The test world: a named cast, one per role, shared by every test module.

- worker_a: health worker of area A (areas are assigned by the field-data fixtures)
- worker_b: health worker of area B
- epidemiologist, community_reviewer, admin_user
- anonymous: the Django test client with nobody logged in
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Django is imported lazily so that the pure suites (analytics/stats, reports/privacy) also run
# without it: `pytest -p no:django tests/analytics/stats`.
if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.test import Client

    from healthwatch.roles import Role


def make_user(username: str, *roles: Role) -> User:
    from django.contrib.auth.models import Group, User

    from healthwatch.roles import Role

    user = User.objects.create_user(username=username, password="test-password-123")
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    if Role.ADMIN in roles:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def worker_a(db: None) -> User:
    from healthwatch.roles import Role

    return make_user("worker_a", Role.HEALTH_WORKER)


@pytest.fixture
def worker_b(db: None) -> User:
    from healthwatch.roles import Role

    return make_user("worker_b", Role.HEALTH_WORKER)


@pytest.fixture
def epidemiologist(db: None) -> User:
    from healthwatch.roles import Role

    return make_user("epi", Role.EPIDEMIOLOGIST)


@pytest.fixture
def community_reviewer(db: None) -> User:
    from healthwatch.roles import Role

    return make_user("reviewer", Role.COMMUNITY_REVIEWER)


@pytest.fixture
def admin_user(db: None) -> User:
    from healthwatch.roles import Role

    return make_user("admin", Role.ADMIN)


@pytest.fixture
def anonymous() -> Client:
    from django.test import Client

    return Client()


def client_for(user: User) -> Client:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def in_ci() -> bool:
    """CI sets CI=true: there, a missing service or browser is a failure, never a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def language_of_the_settings() -> Iterator[None]:
    """Each test starts in settings.LANGUAGE_CODE and leaves no language behind.

    LocaleMiddleware activates the request's language in the serving thread and nothing resets
    it afterwards; the test client serves in the test's own thread, so one test's French visitor
    would otherwise make the next test's messages French.
    """
    from django.conf import settings

    if not settings.configured:  # the pure suites, run with -p no:django
        yield
        return
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def isolated_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches and files a test writes go to a temporary folder, not the checkout's var/."""
    from django.conf import settings

    if not settings.configured:  # the pure suites, run with -p no:django
        yield
        return
    from django.core.cache import cache

    cache.clear()  # pages cached by one test are not another test's
    original = settings.VAR_DIR, settings.HEALTHWATCH_ANALYSE_AFTER_IMPORT
    settings.VAR_DIR = tmp_path_factory.getbasetemp() / "var"
    # Imports trigger analyses only in the tests that ask for it.
    settings.HEALTHWATCH_ANALYSE_AFTER_IMPORT = False
    yield
    settings.VAR_DIR, settings.HEALTHWATCH_ANALYSE_AFTER_IMPORT = original


def _transactional(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    marker = item.get_closest_marker("django_db")
    # live_server asks for transactional_db itself, at run time (not in fixturenames).
    return bool({"transactional_db", "live_server"} & names) or (
        marker is not None and bool(marker.kwargs.get("transaction", False))
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A transactional test empties every table when it ends, the vocabulary and role groups
    that the migrations load included. Put them back after every fixture's teardown (the
    flush is one), so that the tests after it find the database as migrated whatever the
    order: pytest-xdist runs one file's transactional tests before another file's."""
    yield
    if nextitem is None or not _transactional(item):
        return  # the last test's teardown also destroys the test database
    from django.conf import settings

    if not settings.configured:
        return
    from django.contrib.auth.models import Group
    from pytest_django.plugin import blocking_manager_key

    from healthwatch.roles import Role
    from surveys.models import CodeLabelTranslation, VocabularyCode
    from surveys.vocabulary import load_vocabulary

    with item.config.stash[blocking_manager_key].unblock():
        if not VocabularyCode.objects.exists():
            load_vocabulary(VocabularyCode, translation_model=CodeLabelTranslation)
        for role in Role:
            Group.objects.get_or_create(name=role.value)
        from monitoring.guidelines import load_guidelines
        from monitoring.models import Guideline

        if not Guideline.objects.exists():
            load_guidelines(Guideline, VocabularyCode)


# --- the synthetic community, imported through the real import path ----------------------------

IMPORT_ORDER = (
    "sites",
    "areas",
    "population",
    "stations",
    "measurements",
    "residents",
    "observations",
)


def load_community(folder: Path) -> None:
    from django.core.management import call_command

    for kind in IMPORT_ORDER:
        call_command("import_csv", kind, str(folder / f"{kind}.csv"), verbosity=0)


@pytest.fixture(scope="session")
def tiny_community(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from surveys.synthetic import generate_community

    folder = tmp_path_factory.mktemp("tiny")
    generate_community(residents=120, years=5, seed=7, out_dir=folder, end_year=2025)
    return folder


@pytest.fixture(scope="module")
def loaded_community(
    tiny_community: Path, django_db_setup: None, django_db_blocker: Any
) -> Iterator[Path]:
    """Imported once for the module inside an outer transaction; each test runs in a savepoint
    of it (pytest-django's `db`), and the import is rolled back after the module."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        load_community(tiny_community)
        yield tiny_community
        transaction.set_rollback(True)


@pytest.fixture
def community(loaded_community: Path, db: None) -> Path:
    return loaded_community


@pytest.fixture
def vocabulary_and_groups(db: None) -> None:
    """Transactional tests empty every table afterwards, the migration-loaded vocabulary and
    role groups included: put them back for tests that need them."""
    from django.contrib.auth.models import Group

    from healthwatch.roles import Role
    from surveys.models import CodeLabelTranslation, VocabularyCode
    from surveys.vocabulary import load_vocabulary

    load_vocabulary(VocabularyCode, translation_model=CodeLabelTranslation)
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@pytest.fixture
def build_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that takes each report build as soon as it is sent (the unit suite's broker
    is in memory; the integration suite runs builds on a real worker)."""
    from reports import services, tasks

    monkeypatch.setattr(
        tasks.build_release,
        "apply_async",
        lambda args, **kw: services.release_build_execute(args[0]),
    )
