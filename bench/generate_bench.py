"""Benchmark: time and peak memory of generating a synthetic community.

    python bench/generate_bench.py                      # 100,000 residents x 5 years
    python bench/generate_bench.py --residents 20000 --years 5 --out bench/out/community

Pure Python (no Django, no database). Peak memory is the process's maximum resident set size
(resource.getrusage), measured in this fresh process.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from surveys.synthetic import generate_community  # noqa: E402


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "community")
    args = parser.parse_args()

    rss_before = peak_rss_mib()
    started = time.perf_counter()
    truth = generate_community(
        residents=args.residents, years=args.years, seed=args.seed, out_dir=args.out
    )
    seconds = time.perf_counter() - started
    peak = peak_rss_mib()

    files = truth["files"]
    observations = files["observations.csv"]["rows"]
    size_mib = sum((args.out / name).stat().st_size for name in files) / (1024 * 1024)
    print(
        f"generate_community: {args.residents:,} residents x {args.years} years, seed {args.seed}"
    )
    print(f"  machine          {platform.machine()}, Python {platform.python_version()}")
    for name, info in files.items():
        print(f"  {name:<18} {info['rows']:>12,} rows")
    print(f"  output           {size_mib:,.1f} MiB in {args.out}")
    print(f"  wall time        {seconds:,.1f} s ({observations / seconds:,.0f} observations/s)")
    print(f"  peak RSS         {peak:,.0f} MiB (at start {rss_before:,.0f} MiB)")


if __name__ == "__main__":
    main()
