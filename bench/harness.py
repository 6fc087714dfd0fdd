"""Shared pieces of `make bench` (bench/run.py): logging, environment, services, processes.

Nothing here imports Django: the orchestrator stays light and every Django step runs in its own
process with the bench database in its environment (bench/steps.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"  # ignored by git
PYTHON = sys.executable

PG_SERVER_URL = os.environ.get("BENCH_PG_URL", "postgres://healthwatch@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
BENCH_SECRET = "bench-only-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
BENCH_PSEUDONYM_KEY = "bench-only-pseudonym-key-never-in-production"  # ≥ 32 bytes (settings)

_STARTED = time.monotonic()


class BenchError(RuntimeError):
    """A failure the harness explains in one message (and exits non-zero)."""


def log(message: str) -> None:
    elapsed = time.monotonic() - _STARTED
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp} +{elapsed:7.1f}s] {message}", flush=True)


def database_url(name: str) -> str:
    parts = urlsplit(PG_SERVER_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def libpq_dsn(url: str) -> str:
    """psycopg accepts postgresql:// URLs; Django's dj-database-url also takes postgres://."""
    return "postgresql://" + url.split("://", 1)[1]


def bench_env(db_url: str, **extra: str) -> dict[str, str]:
    """The environment of every Django process of the bench: its own DB, Redis db, var dir."""
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": REDIS_URL,
        "DEBUG": "false",
        "SECRET_KEY": BENCH_SECRET,
        "HEALTHWATCH_PSEUDONYM_KEY": BENCH_PSEUDONYM_KEY,
        "HEALTHWATCH_VAR_DIR": str(OUT / "var"),
        "HEALTHWATCH_ENV_FILE": str(OUT / "no-env-file"),  # never the developer's .env
        "HEALTHWATCH_ANALYSE_AFTER_IMPORT": "false",  # no debounced run sneaking into a figure
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra)
    return env


# --- services ------------------------------------------------------------------------------------


def check_services() -> dict[str, str]:
    """Fail loudly, naming the service and the URL, when PostgreSQL or Redis is unreachable."""
    import psycopg
    import redis

    try:
        with psycopg.connect(libpq_dsn(PG_SERVER_URL), connect_timeout=5) as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    except Exception as error:
        raise BenchError(
            f"PostgreSQL is unreachable at {PG_SERVER_URL} ({error}). Start it (as root: "
            "`make services`) or point BENCH_PG_URL at a server where the role may CREATEDB."
        ) from None
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        redis_version = client.info("server")["redis_version"]
    except Exception as error:
        raise BenchError(
            f"Redis is unreachable at {REDIS_URL} ({error}). Start it (as root: `make services`) "
            "or set BENCH_REDIS_URL=redis://host:port/db (a db the bench may flush)."
        ) from None
    return {"postgresql": str(pg_version), "redis": str(redis_version)}


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(libpq_dsn(PG_SERVER_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_load() -> dict[str, Any]:
    one, five, fifteen = os.getloadavg()
    return {"loadavg_1_5_15": [round(one, 2), round(five, 2), round(fifteen, 2)]}


def cpu_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, from /proc/stat: busy is
    everything but idle and iowait, summed over the CPUs (Linux only)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / tick, sum(fields) / tick


# --- processes -----------------------------------------------------------------------------------


class Managed:
    """A child process in its own session, always stopped (SIGTERM, then SIGKILL its group)."""

    registry: list[Managed] = []

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        Managed.registry.append(self)

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
        raise BenchError(
            f"{self.name} did not log {text!r} within {timeout:.0f} s; the end of "
            f"{self.log_path}:\n{self.log_text()[-3000:]}"
        )

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {timeout:.0f} s: SIGKILL")
        # Whatever is left of the group (pool children) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._log.close()
        if self in Managed.registry:
            Managed.registry.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for managed in list(reversed(cls.registry)):
            try:
                managed.stop()
            except Exception as error:  # keep stopping the others
                print(f"could not stop {managed.name}: {error}", file=sys.stderr)


def run_step(step: str, env: dict[str, str], args: list[str], timeout: float) -> dict[str, Any]:
    """Run `bench/steps.py STEP ARGS` in a child process; return the JSON it wrote."""
    result_path = OUT / "tmp" / f"{step}-{os.getpid()}.json"
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    argv = [PYTHON, str(BENCH / "steps.py"), step, "--result", str(result_path), *args]
    return _run_json(argv, env, result_path, timeout, step)


def run_script(script: str, env: dict[str, str], args: list[str], timeout: float) -> dict[str, Any]:
    result_path = OUT / "tmp" / f"{Path(script).stem}-{os.getpid()}.json"
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    argv = [PYTHON, str(BENCH / script), "--result", str(result_path), *args]
    return _run_json(argv, env, result_path, timeout, script)


def _run_json(
    argv: list[str], env: dict[str, str], result_path: Path, timeout: float, what: str
) -> dict[str, Any]:
    process = subprocess.Popen(argv, cwd=ROOT, env=env)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from None
    except BaseException:
        process.kill()
        process.wait()
        raise
    if code != 0:
        raise BenchError(f"{what} failed with exit code {code} (its output is above)")
    return json.loads(result_path.read_text())
