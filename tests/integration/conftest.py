"""The integration world: PostgreSQL, Redis and a real Celery worker in its own process.

`make test` runs this folder with DATABASE_URL=postgres://… and CELERY_BROKER_URL=redis://….
Unreachable services skip the suite on a developer's machine and FAIL it when CI is set.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings

from tests.browser.conftest import browser  # noqa: F401 - the Chromium fixture
from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[2]


def _services_problem() -> str | None:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return "the integration suite needs DATABASE_URL=postgres://… (see Makefile)"
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        return "the integration suite needs CELERY_BROKER_URL=redis://… (see Makefile)"
    try:
        import psycopg

        psycopg.connect(
            host=db["HOST"] or "localhost",
            port=int(db["PORT"] or 5432),
            user=db["USER"],
            dbname="postgres",
            password=db["PASSWORD"] or None,
            connect_timeout=5,
        ).close()
    except Exception as error:
        return f"PostgreSQL unreachable: {error}"
    try:
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5).ping()
    except Exception as error:
        return f"Redis unreachable: {error}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if "tests/integration" in str(item.path)]
    if not mine:
        return
    problem = _services_problem()
    if problem is None:
        return
    if in_ci():
        raise pytest.UsageError(f"CI is set and {problem}; integration tests must run in CI.")
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=problem))


class WorkerProcess:
    """A `celery worker` subprocess against the test database and broker."""

    def __init__(self, database_url: str, log_path: Path, name: str) -> None:
        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_VISIBILITY_TIMEOUT": os.environ.get("CELERY_VISIBILITY_TIMEOUT", "10"),
            # The one worker process is not kept busy drawing each run's charts in five more
            # languages (~30 s) while a test waits for its next task (tests/analytics covers it).
            "HEALTHWATCH_CHARTS_IN_EVERY_LANGUAGE": "false",
            # A part redelivered after the visibility timeout must find its dead worker's
            # heartbeat stale, or it would leave the part to that worker.
            "HEALTHWATCH_PART_HEARTBEAT_SECONDS": "1",
            "HEALTHWATCH_PART_LOST_AFTER_SECONDS": "3",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "healthwatch",
                "worker",
                "--loglevel=INFO",
                "--concurrency=1",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_for_log("ready.", timeout=90)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"worker did not log {text!r}:\n{self.log_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(scope="session")
def test_database_url(django_db_setup: Any, django_db_blocker: Any) -> str:
    db = settings.DATABASES["default"]
    with django_db_blocker.unblock():
        from django.db import connection

        name = connection.settings_dict["NAME"]
    user = db["USER"] or "postgres"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{name}"


@pytest.fixture(scope="session")
def purged_broker() -> None:
    import redis

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture
def start_worker(test_database_url: str, purged_broker: None, tmp_path: Path) -> Iterator[Any]:
    """Start one or more real workers; all are stopped after the test."""
    workers: list[WorkerProcess] = []

    def start(name: str = "worker") -> WorkerProcess:
        worker = WorkerProcess(test_database_url, tmp_path / f"{name}-{len(workers)}.log", name)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def worker(start_worker: Any) -> WorkerProcess:
    return start_worker()


@pytest.fixture
def vocabulary(vocabulary_and_groups: None) -> None:
    """The vocabulary and role groups, restored for transactional tests (tests/conftest.py)."""


@pytest.fixture
def residents(tiny_community: Path, vocabulary: None) -> Path:
    """The tiny community's sites, areas and residents (no observations yet)."""
    from django.core.management import call_command

    for kind in ("sites", "areas", "residents"):
        call_command("import_csv", kind, str(tiny_community / f"{kind}.csv"), verbosity=0)
    return tiny_community


@pytest.fixture(autouse=True)
def _no_chart_languages_after_runs(settings: Any) -> None:
    """Runs completed in the test process enqueue no chart drawing for the worker either."""
    settings.HEALTHWATCH_CHARTS_IN_EVERY_LANGUAGE = False


# --- servers of our own, for the fault tests (never the shared ones on 5432 and 6379) ----------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not come up within {timeout} s")


class PrivateRedis:
    """A redis-server on a free port of 127.0.0.1 that a test may stop and start again (a broker
    or a page cache of the test's own: never the machine's shared one). The one starter of the
    suite: use the `private_redis` fixture."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for(lambda: redis.Redis.from_url(self.url, socket_timeout=1).ping(), "redis")

    def keys(self) -> int:
        """How many keys its database 0 holds (e.g. pages a cache put there)."""
        import redis

        return int(cast(int, redis.Redis.from_url(self.url, socket_timeout=1).dbsize()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    import shutil

    if shutil.which("redis-server") is None:
        problem = "redis-server is not installed (apt-get install redis-server)"
        if in_ci():
            pytest.fail(problem)
        pytest.skip(problem)
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Point this process's Celery app (the web side) at another broker, then back."""
    from healthwatch.celery import app

    def forget_connections() -> None:
        # Celery keeps its broker connections and producers in pools made on first use from
        # the URL of that moment: kombu's global ones (reset closes and forgets them) and the
        # app's references to them (private, not in the type stubs).
        from kombu import pools

        pools.reset()
        setattr(app, "_pool", None)  # noqa: B010
        setattr(app.amqp, "_producer_pool", None)  # noqa: B010

    keys = ("broker_url", "broker_read_url", "broker_write_url")
    original = {key: app.conf[key] for key in keys}
    forget_connections()
    app.conf.update(dict.fromkeys(keys, url))
    try:
        yield
    finally:
        forget_connections()
        app.conf.update(original)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, which a test may restart.

    initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user
    (its folder under /tmp, which that user can reach; pytest's own folders are private).
    """

    def __init__(self, bindir: Path) -> None:
        import pwd
        import tempfile

        self.bindir = bindir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="healthwatch-pg-"))
        self.data = self.folder / "data"
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/healthwatch_private"

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self.run_as, *command], capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "120", *args)

    def create(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self._ctl(
            "-l",
            str(self.folder / "server.log"),
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off",
            "start",
        )
        self._run(
            str(self.bindir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "healthwatch_private",
        )

    def restart(self) -> None:
        """A fast restart: every session is ended, open transactions are rolled back."""
        # -l: the server's output must not go to our pipe, or we would wait for it for ever
        self._ctl("-l", str(self.folder / "server.log"), "-m", "fast", "restart")

    def destroy(self) -> None:
        import shutil

        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def _postgres_bindir() -> Path | None:
    import glob

    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = _postgres_bindir()
    problem = None
    if bindir is None:
        problem = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    elif os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            problem = "running as root without a `postgres` user to own a throwaway cluster"
    if problem:
        if in_ci():
            pytest.fail(f"the database-restart test needs its own cluster: {problem}")
        pytest.skip(f"the database-restart test needs its own cluster: {problem}")
    assert bindir is not None
    cluster = PrivatePostgres(bindir)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


def manage(database_url: str, var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py …` in its own process against another database (no broker, no analyses)."""
    process = spawn_manage(database_url, var_dir, *args)
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def spawn_manage(database_url: str, var_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "memory://localhost/",
        "HEALTHWATCH_ANALYSE_AFTER_IMPORT": "false",
        "HEALTHWATCH_VAR_DIR": str(var_dir),
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
