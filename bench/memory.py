"""Resident memory of a process tree (a Celery worker and its pool children), from /proc.

    with TreeMemory(worker_pid) as memory:
        ...                     # the work
    memory.report()             # peaks in MiB

Every `interval` seconds a thread walks the tree (/proc/<pid>/task/*/children) and reads each
process's VmRSS, VmHWM (the kernel's own high-water mark, so peaks between samples are not
missed per process) and Pss (smaps_rollup: shared pages divided among the processes sharing
them). Reported:
- tree_rss_peak: the largest sum of RSS over the tree at one sample — conservative, since pages
  shared copy-on-write between the prefork parent and its children count once per process;
- tree_pss_peak: the largest sum of PSS at one sample — the tree's real footprint;
- process_hwm_peak: the largest VmHWM of any single process of the tree.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

KIB = 1024


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        found.extend(int(p) for p in text.split())
    return found


def tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        stack.extend(_children(current))
    return pids


def _status_kib(pid: int) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, number, _unit = line.split()
                    values[key[:-1]] = int(number)
    except OSError:
        pass
    return values


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.tree_rss_peak = 0
        self.tree_pss_peak = 0
        self.hwm: dict[int, int] = {}
        self.samples = 0
        self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tree-memory")

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        pids = tree(self.pid)
        rss = pss = 0
        for pid in pids:
            status = _status_kib(pid)
            rss += status.get("VmRSS", 0)
            self.hwm[pid] = max(self.hwm.get(pid, 0), status.get("VmHWM", 0))
            pss += _pss_kib(pid)
        self.tree_rss_peak = max(self.tree_rss_peak, rss)
        self.tree_pss_peak = max(self.tree_pss_peak, pss)
        self.max_processes = max(self.max_processes, len(pids))
        self.samples += 1

    def report(self) -> dict[str, Any]:
        return {
            "tree_rss_peak_mib": round(self.tree_rss_peak / KIB, 1),
            "tree_pss_peak_mib": round(self.tree_pss_peak / KIB, 1),
            "process_hwm_peak_mib": round(max(self.hwm.values(), default=0) / KIB, 1),
            "process_hwm_mib": {str(p): round(v / KIB, 1) for p, v in sorted(self.hwm.items())},
            "processes": self.max_processes,
            "samples": self.samples,
            "interval_s": self.interval,
        }
