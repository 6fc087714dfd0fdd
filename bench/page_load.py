"""Load generation against the public release page and a static file of the same bytes.

The server is gunicorn with the project's WSGI app (healthwatch.wsgi; DEBUG off; whitenoise;
settings = the project's with STATIC_ROOT moved to bench/out/static-<size>/, see
bench/settings_bench.py). The load comes from a second process on loopback: `wrk` (Debian's
package) when installed, else this module's threaded client:

    python bench/page_load.py --url http://127.0.0.1:PORT/path --result R.json \
        [--connections 32] [--duration 10] [--max-requests 3000]

Every load is bounded (duration, and for the Python client also a request count) and refused
for any host but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONNECTIONS = 32
DURATION_S = 10
WARMUP_S = 2
MAX_REQUESTS = 3000  # the Python client's bound (wrk is bounded by its duration)


def _loopback_only(url: str) -> None:
    if urlsplit(url).hostname != "127.0.0.1":
        raise ValueError(f"load is generated against 127.0.0.1 only, not {url}")


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    _loopback_only(url)
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback only
        return response.status, response.read(), dict(response.headers)


# --- wrk -----------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    def grab(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, output, re.MULTILINE)

    requests = grab(r"^\s*(\d+) requests in ([\d.]+)(\w+),")
    rps = grab(r"^Requests/sec:\s*([\d.]+)")
    if requests is None or rps is None:
        raise ValueError(f"unreadable wrk output:\n{output}")
    latency = {
        f"p{m.group(1)}_ms": _ms(m.group(2))
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", output, re.MULTILINE)
    }
    non2xx = grab(r"Non-2xx or 3xx responses:\s*(\d+)")
    errors = grab(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    return {
        "client": "wrk",
        "requests": int(requests.group(1)),
        "rps": float(rps.group(1)),
        **latency,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


def run_wrk(url: str, duration: float, connections: int = CONNECTIONS) -> dict[str, Any]:
    _loopback_only(url)
    argv = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
        url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=True)
    return parse_wrk(done.stdout)


# --- the Python client (when wrk is not installed) -----------------------------------------------


def python_client(url: str, connections: int, duration: float, max_requests: int) -> dict[str, Any]:
    """`connections` threads, each one keep-alive HTTP/1.1 connection, until the deadline or the
    request budget is spent. Latency is per request (send to last byte)."""
    _loopback_only(url)
    parts = urlsplit(url)
    path = parts.path or "/"
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    budget = [max_requests]
    deadline = time.perf_counter() + duration

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            began = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 400
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                latencies.append(elapsed)
                failures[0] += not ok
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    return {
        "client": "python-threads",
        "requests": len(ordered),
        "rps": len(ordered) / seconds,
        "p50_ms": pct(0.50),
        "p75_ms": pct(0.75),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "non_2xx": failures[0],
        "socket_errors": 0,
    }


def load(url: str, duration: float, result_dir: Path) -> dict[str, Any]:
    """One bounded measurement from a second process: wrk, else this module as a client."""
    if shutil.which("wrk"):
        return run_wrk(url, duration)
    result = result_dir / "page-load-client.json"
    argv = [
        sys.executable,
        __file__,
        "--url",
        url,
        "--duration",
        str(duration),
        "--result",
        str(result),
    ]
    subprocess.run(argv, check=True, timeout=duration + 120)
    return json.loads(result.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    parser.add_argument("--duration", type=float, default=DURATION_S)
    parser.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
    parser.add_argument("--result", type=Path)
    args = parser.parse_args()
    figures = python_client(args.url, args.connections, args.duration, args.max_requests)
    text = json.dumps(figures, indent=2)
    if args.result:
        args.result.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
