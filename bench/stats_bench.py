"""Benchmarks for analytics.stats (not tests): prints wall-clock timings.

    python bench/stats_bench.py                 # both benchmarks, default sizes
    python bench/stats_bench.py --series 100    # smaller Farrington run
    python bench/stats_bench.py --only glm

1. Farrington flexible (Noufaily settings: noPeriods=10, pastWeeksNotIncluded=26, nbPlugin,
   b=4, w=3) on N weekly series of 5 years (260 weeks), monitoring the last 49 weeks of each
   (b=4 is the largest reference window 5 years allow: it needs 52·4 + 3 + 1 = 212 weeks);
   also the R-default options (delta threshold, noPeriods=1).
2. Poisson GLM with person-time offset on 1,000,000 person rows: age band (18 levels), sex,
   smoking (4 levels), works_at_site — 24 parameters.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.stats.aberration import NOUFAILY_2013, farrington_flexible
from analytics.stats.regression import poisson_regression
from analytics.stats.standard_populations import AGE_BANDS

WEEKS = 260


def _series(n_series: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(WEEKS)
    base = rng.uniform(0.5, 30, size=(n_series, 1))
    mu = base * np.exp(0.4 * np.sin(2 * np.pi * t / 52)[None, :] + 0.001 * t[None, :])
    return rng.negative_binomial(3, 3 / (3 + mu)).astype(float)


def _run_chunk(args: tuple[np.ndarray, str]) -> int:
    block, preset = args
    kw = dict(NOUFAILY_2013) if preset == "noufaily" else {}
    kw["b"] = 4
    alarms = 0
    for y in block:
        if y.sum() == 0:
            continue
        res = farrington_flexible(y, **kw)  # monitors weeks 212..260 (49 weeks)
        alarms += int(res.alarm.sum())
    return alarms


def bench_farrington(n_series: int, workers: int, preset: str) -> None:
    data = _series(n_series)
    chunks = np.array_split(data, max(1, workers * 4))
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            alarms = sum(pool.map(_run_chunk, [(c, preset) for c in chunks]))
    else:
        alarms = sum(_run_chunk((c, preset)) for c in chunks)
    dt = time.perf_counter() - t0
    fits = n_series * (WEEKS - (52 * 4 + 3))
    print(
        f"farrington_flexible[{preset}] {n_series} series x {WEEKS} weeks, 49 monitored "
        f"weeks each, workers={workers}: {dt:.1f} s ({1000 * dt / fits:.2f} ms per "
        f"series-week, {alarms} alarms)"
    )


def bench_glm(n_rows: int) -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame(
        {
            "age_band": rng.choice(AGE_BANDS, n_rows),
            "sex": rng.choice(["F", "M"], n_rows),
            "smoking": rng.choice(["never", "former", "current", "unknown"], n_rows),
            "works_at_site": rng.random(n_rows) < 0.1,
            "person_years": rng.uniform(0.1, 1.0, n_rows),
        }
    )
    age_idx = pd.Categorical(df["age_band"], categories=AGE_BANDS).codes
    lin = -4.5 + 0.08 * age_idx + 0.2 * (df["sex"] == "M") + 0.4 * df["works_at_site"]
    df["events"] = rng.poisson(df["person_years"] * np.exp(lin))
    t0 = time.perf_counter()
    res = poisson_regression(
        df,
        events="events",
        person_time="person_years",
        covariates=["age_band", "sex", "smoking", "works_at_site"],
        reference={"age_band": "0-4", "sex": "F", "smoking": "never"},
        family="poisson",
    )
    dt = time.perf_counter() - t0
    rr = res.estimate("works_at_site")
    print(
        f"poisson_regression {n_rows:,} person rows, {len(res.coefficients)} parameters: "
        f"{dt:.1f} s (RR works_at_site {rr.estimate:.3f}, events {int(df['events'].sum())})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", choices=["farrington", "glm"], default=None)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, numpy {np.__version__}"
    )
    if args.only in (None, "farrington"):
        bench_farrington(args.series, args.workers, "noufaily")
        bench_farrington(args.series, args.workers, "r_default")
    if args.only in (None, "glm"):
        bench_glm(args.rows)


if __name__ == "__main__":
    main()
