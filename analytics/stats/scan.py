"""Kulldorff's circular spatial scan statistic, Poisson model, with a Monte Carlo p-value.

Locations (area centroids, or grid cells of resident points) carry an observed count ``c_i``
and an expected count ``e_i`` (proportional to the population at risk, or from indirect
standardization), scaled so that ``Σ e_i = C = Σ c_i``. A *window* is the set of locations
within a circle; circles are centred on every location (the ordinary scan) or on given points
such as a production site (the site-centred scan), and grow through the locations in order of
distance until they would hold more than ``max_population_share`` of the expected count (the
population at risk). Locations at the same distance from a centre enter together, as in
SaTScan.

For a window with ``c`` cases and ``e`` expected, the log-likelihood ratio against constant
risk, scanning for high rates (Kulldorff 1997, eq. for the Poisson model)::

    LLR = c ln(c/e) + (C − c) ln((C − c)/(C − e))   if c > e (and c ≥ min_cases), else 0

The most likely cluster maximizes the LLR. Its p-value is Monte Carlo: ``R`` replicate data sets
are drawn under the null hypothesis conditional on ``C`` (multinomial with probabilities
``e_i / C``), each scanned over the same windows, and ``p = (1 + #{max LLR_rep ≥ LLR}) /
(R + 1)`` (Dwass 1957). Secondary clusters are the windows of highest LLR that share no
location with a cluster already reported (SaTScan's "no geographical overlap"); each is
compared with the same distribution of the replicate maxima (conservative, as SaTScan).
The relative risk is inside vs outside: ``(c/e) / ((C − c)/(C − e))``.

Vectorised Monte Carlo: each centre's windows are prefixes of its distance order, so the
counts of every window of every replicate come from one cumulative sum over the replicate
matrix per centre (``R × N`` per centre, never ``R × windows × N``).

References:
    Kulldorff M. A spatial scan statistic. Commun Stat Theory Methods 1997;26:1481-96.
    Kulldorff M, Nagarwalla N. Spatial disease clusters: detection and inference. Stat Med
        1995;14:799-810.
    Dwass M. Modified randomization tests for nonparametric hypotheses. Ann Math Stat
        1957;28:181-7.
    Waller LA, Gotway CA. Applied Spatial Statistics for Public Health Data. Wiley, 2004, §7.6
        (the New York leukaemia data).
    Kulldorff M. SaTScan User Guide v10, 2022 (secondary clusters, minimum cases, ties).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import xlogy

from analytics.stats._validate import (
    FloatArray,
    as_counts,
    as_float_array,
    as_number,
    as_window,
    same_length,
)
from analytics.stats.errors import AllZeroBaselineError, StatsInputError
from analytics.stats.exposure import haversine_km
from analytics.stats.results import ROW_COLUMNS

IntArray = npt.NDArray[np.int64]
Metric = Literal["haversine", "euclidean"]

DEFAULT_MAX_POPULATION_SHARE = 0.5
"""Kulldorff's (1997) and SaTScan's default upper limit of a window: half the population."""
DEFAULT_REPLICATIONS = 999
DEFAULT_SEED = 20_261_203
DEFAULT_MIN_CASES = 2
"""SaTScan's (and ``smerc``'s) minimum number of cases in a high-rate cluster."""


def log_likelihood_ratio(
    cases_in: FloatArray | float,
    expected_in: FloatArray | float,
    total: float,
    *,
    min_cases: float = DEFAULT_MIN_CASES,
) -> FloatArray:
    """Poisson LLR of a window (high rates only), vectorised; see the module docstring."""
    c = np.asarray(cases_in, dtype=np.float64)
    e = np.asarray(expected_in, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        llr = xlogy(c, c / e) + xlogy(total - c, (total - c) / (total - e))
    return np.where((c > e) & (c >= min_cases) & (e < total), llr, 0.0)


@dataclass(frozen=True)
class ScanWindows:
    """Every candidate window: for centre ``j``, the first ``sizes[j][w]`` locations of
    ``order[j]`` (its distance order) for each of its windows ``w``."""

    order: list[IntArray]
    sizes: list[IntArray]
    radius_km: list[FloatArray]

    @property
    def count(self) -> int:
        return int(sum(len(s) for s in self.sizes))

    def max_llr(
        self, counts: FloatArray, expected: FloatArray, *, min_cases: float = DEFAULT_MIN_CASES
    ) -> FloatArray:
        """Maximum LLR over all windows for each row of ``counts`` (shape ``R × N``)."""
        counts = np.atleast_2d(counts)
        total = counts.sum(axis=1, keepdims=True)
        best = np.zeros(counts.shape[0])
        for order, sizes in zip(self.order, self.sizes, strict=True):
            if not len(sizes):
                continue
            k = int(sizes[-1])
            inside = np.cumsum(counts[:, order[:k]], axis=1)[:, sizes - 1]
            e_in = np.cumsum(expected[order[:k]])[sizes - 1]
            llr = log_likelihood_ratio(inside, e_in[None, :], total, min_cases=min_cases)
            np.maximum(best, llr.max(axis=1), out=best)
        return best


def build_windows(
    distances: FloatArray,
    expected: FloatArray,
    *,
    max_population_share: float,
    max_radius_km: float | None = None,
) -> ScanWindows:
    """Windows from a ``centres × locations`` distance matrix (km or coordinate units).

    A window's size is cut only where the next location is strictly farther (ties enter
    together) and its expected count must not exceed ``max_population_share · Σ e``.
    """
    limit = max_population_share * float(expected.sum())
    orders, sizes, radii = [], [], []
    for row in distances:
        order = np.argsort(row, kind="stable").astype(np.int64)
        d = row[order]
        cum = np.cumsum(expected[order])
        ends = np.flatnonzero(np.append(d[1:] > d[:-1], True)) + 1  # window sizes at breaks
        # a hair of relative tolerance: a share of exactly 50 % must pass despite rounding
        keep = cum[ends - 1] <= limit * (1 + 1e-12)
        if max_radius_km is not None:
            keep &= d[ends - 1] <= max_radius_km
        ends = ends[keep]
        orders.append(order)
        sizes.append(ends.astype(np.int64))
        radii.append(d[ends - 1] if len(ends) else np.zeros(0))
    return ScanWindows(orders, sizes, radii)


@dataclass(frozen=True)
class ScanCluster:
    """One reported cluster.

    Attributes:
        rank: 1 = most likely cluster, then secondary clusters by decreasing LLR.
        centre: index of the centre (into the locations for the ordinary scan, into the
            given centres for the site-centred scan); ``centre_label`` its label.
        members: indices of the locations inside, nearest first; ``member_labels`` theirs.
        radius_km: distance from the centre to the farthest member (coordinate units with
            ``metric="euclidean"``).
        observed, expected: counts inside; population: population at risk inside.
        relative_risk: ``(c/e) / ((C − c)/(C − e))``; llr: log-likelihood ratio;
        p_value: Monte Carlo p-value against the replicate maxima.
    """

    rank: int
    centre: int
    centre_label: str
    members: tuple[int, ...]
    member_labels: tuple[str, ...]
    radius_km: float
    observed: float
    expected: float
    population: float
    relative_risk: float
    llr: float
    p_value: float


@dataclass(frozen=True)
class ScanResult:
    """Clusters and what produced them.

    ``null_max_llr`` holds the replicate maxima (sorted), so that any LLR can be given a
    p-value and the critical value at ``alpha`` is ``critical_llr``.
    """

    clusters: list[ScanCluster]
    total_cases: float
    total_expected: float
    n_locations: int
    n_windows: int
    replications: int
    seed: int
    max_population_share: float
    null_max_llr: FloatArray
    alpha: float
    site_centred: bool
    location_labels: tuple[str, ...] = field(default_factory=tuple)
    observed: FloatArray = field(default_factory=lambda: np.zeros(0))
    expected: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def most_likely(self) -> ScanCluster | None:
        return self.clusters[0] if self.clusters else None

    @property
    def significant(self) -> list[ScanCluster]:
        return [c for c in self.clusters if c.p_value <= self.alpha]

    @property
    def critical_llr(self) -> float:
        """The LLR a cluster needs for p ≤ alpha (NaN without replications)."""
        if not self.replications:
            return math.nan
        k = math.ceil((1 - self.alpha) * (self.replications + 1)) - 1
        return float(self.null_max_llr[min(max(k, 0), self.replications - 1)])

    def to_rows(self, *, analysis: str, outcome: str = "", period: str = "") -> pd.DataFrame:
        """Tidy rows: per cluster (``area_code`` = centre label, ``stratum`` = ``cluster=k``)
        the measures ``relative_risk`` (numerator observed, denominator expected, the Monte
        Carlo p-value), ``log_likelihood_ratio``, ``radius_km`` and ``locations``; and per
        location (``stratum`` = ``location``) ``observed_expected_ratio`` with flag
        ``cluster=k`` for members of reported clusters — the map-ready table."""
        rows: list[dict[str, object]] = []
        base = {"analysis": analysis, "outcome": outcome, "period": period, "ci_lower": None}
        for c in self.clusters:
            flags = [f"members={','.join(c.member_labels)}"[:150]]
            if c.p_value <= self.alpha:
                flags.insert(0, "significant")
            common = {
                **base,
                "area_code": c.centre_label,
                "stratum": f"cluster={c.rank}",
                "ci_upper": None,
                "numerator": c.observed,
                "denominator": c.expected,
                "p_value": c.p_value,
                "flags": ";".join(flags),
            }
            for measure, value in (
                ("relative_risk", c.relative_risk),
                ("log_likelihood_ratio", c.llr),
                ("radius_km", c.radius_km),
                ("locations", float(len(c.members))),
            ):
                rows.append({**common, "measure": measure, "estimate": value})
        member_of: dict[int, ScanCluster] = {}
        for c in self.clusters:
            for m in c.members:
                member_of.setdefault(m, c)
        for i, label in enumerate(self.location_labels):
            cluster = member_of.get(i)
            o, e = float(self.observed[i]), float(self.expected[i])
            rows.append(
                {
                    **base,
                    "area_code": label,
                    "stratum": "location",
                    "measure": "observed_expected_ratio",
                    "estimate": o / e if e > 0 else None,
                    "ci_upper": None,
                    "numerator": o,
                    "denominator": e,
                    "p_value": cluster.p_value if cluster else None,
                    "flags": f"cluster={cluster.rank}" if cluster else "",
                }
            )
        return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def _distances(
    ay: FloatArray, ax: FloatArray, by: FloatArray, bx: FloatArray, metric: Metric
) -> FloatArray:
    if metric == "haversine":
        return haversine_km(ay, ax, by, bx)
    if metric == "euclidean":
        return np.asarray(np.hypot(ay[:, None] - by[None, :], ax[:, None] - bx[None, :]))
    raise StatsInputError(f"unknown metric {metric!r} (haversine or euclidean)")


def circular_scan(
    cases: Sequence[float] | FloatArray,
    population: Sequence[float] | FloatArray,
    latitude: Sequence[float] | FloatArray,
    longitude: Sequence[float] | FloatArray,
    *,
    labels: Sequence[str] | None = None,
    expected: Sequence[float] | FloatArray | None = None,
    centres: Sequence[tuple[float, float]] | None = None,
    centre_labels: Sequence[str] | None = None,
    max_population_share: float = DEFAULT_MAX_POPULATION_SHARE,
    max_radius_km: float | None = None,
    replications: int = DEFAULT_REPLICATIONS,
    seed: int = DEFAULT_SEED,
    alpha: float = 0.05,
    min_cases: int = DEFAULT_MIN_CASES,
    max_clusters: int = 10,
    metric: Metric = "haversine",
) -> ScanResult:
    """Kulldorff's circular scan (Poisson model, high rates) with Monte Carlo inference.

    Args:
        cases: observed count per location (whole numbers).
        population: population at risk per location (e.g. resident-years), > 0 in total;
            it defines the window limit and, without ``expected``, the expected counts
            ``C · pop_i / Σ pop``.
        latitude, longitude: location coordinates in degrees (``metric="haversine"``, km), or
            planar y and x in any unit (``metric="euclidean"``).
        labels: location labels (area codes, grid cells); default ``"0"``, ``"1"``, ...
        expected: expected counts (e.g. from age–sex standardization), rescaled to sum to
            ``C``; the window limit then applies to the expected count.
        centres: ``(latitude, longitude)`` of the circle centres; default every location (the
            ordinary scan). One production site's position gives the site-centred scan: "is
            the risk raised in circles around the plant?".
        max_population_share: largest share of the population at risk in a window (0, 0.5].
        max_radius_km: optional largest radius.
        replications: Monte Carlo replications (0: no p-values); 999 by default.
        seed: seed of the replicate data sets (results are reproducible).
        alpha: level at which a cluster is reported ``significant``.
        min_cases: fewest cases in a high-rate cluster (SaTScan's default 2).
        max_clusters: at most this many non-overlapping clusters are reported.

    Raises:
        AllZeroBaselineError: no cases.
        StatsInputError: bad coordinates, shares, counts.
    """
    c = as_counts(cases, "cases")
    pop = as_counts(population, "population", integer=False)
    lat = as_float_array(latitude, "latitude")
    lon = as_float_array(longitude, "longitude")
    same_length("cases", c, "population", pop)
    same_length("cases", c, "latitude", lat)
    same_length("cases", c, "longitude", lon)
    share = as_number(max_population_share, "max_population_share")
    if not 0 < share <= 0.5:
        raise StatsInputError(f"max_population_share must be in (0, 0.5], got {share}")
    replications = as_window(replications, "replications", minimum=0)
    seed = as_window(seed, "seed", minimum=0)
    max_clusters = as_window(max_clusters, "max_clusters")
    alpha = as_number(alpha, "alpha")
    if not 0 < alpha < 1:
        raise StatsInputError(f"alpha must be in (0, 1), got {alpha}")
    total = float(c.sum())
    if total == 0:
        raise AllZeroBaselineError("no cases: there is nothing to scan for")
    if pop.sum() <= 0:
        raise StatsInputError("population must have a positive total")
    n = len(c)
    names = tuple(str(x) for x in labels) if labels is not None else tuple(map(str, range(n)))
    if len(names) != n:
        raise StatsInputError("labels must name every location")
    if expected is None:
        e = total * pop / pop.sum()
    else:
        raw = as_counts(expected, "expected", integer=False)
        same_length("cases", c, "expected", raw)
        if raw.sum() <= 0:
            raise AllZeroBaselineError("expected counts are all zero")
        e = total * raw / raw.sum()
    # the window limit follows the population at risk; with given expected counts, that is
    # the expected count (SaTScan's "population" for the Poisson model with covariates)
    limit_base = e if expected is not None else pop
    site_centred = centres is not None
    if centres is None:
        cy, cx = lat, lon
        c_names = names
    else:
        if not len(centres):
            raise StatsInputError("centres is empty")
        cy = as_float_array([p[0] for p in centres], "centre latitude")
        cx = as_float_array([p[1] for p in centres], "centre longitude")
        c_names = (
            tuple(map(str, centre_labels))
            if centre_labels is not None
            else tuple(f"centre_{i}" for i in range(len(centres)))
        )
        if len(c_names) != len(centres):
            raise StatsInputError("centre_labels must name every centre")
    dist = _distances(cy, cx, lat, lon, metric)
    windows = build_windows(
        dist,
        limit_base / limit_base.sum() * total,
        max_population_share=share,
        max_radius_km=max_radius_km,
    )
    # every window's observed LLR, kept with its centre and size for the cluster search
    cand_llr, cand_centre, cand_size, cand_radius = [], [], [], []
    for j, (order, sizes, radii) in enumerate(
        zip(windows.order, windows.sizes, windows.radius_km, strict=True)
    ):
        if not len(sizes):
            continue
        c_in = np.cumsum(c[order])[sizes - 1]
        e_in = np.cumsum(e[order])[sizes - 1]
        cand_llr.append(log_likelihood_ratio(c_in, e_in, total, min_cases=min_cases))
        cand_centre.append(np.full(len(sizes), j))
        cand_size.append(sizes)
        cand_radius.append(radii)
    if not cand_llr:
        raise StatsInputError(
            "no window fits the population limit (each location alone holds more than "
            f"{share:.0%} of the population at risk)"
        )
    llr_all = np.concatenate(cand_llr)
    centre_all = np.concatenate(cand_centre)
    size_all = np.concatenate(cand_size)
    radius_all = np.concatenate(cand_radius)
    null = np.zeros(0)
    if replications:
        rng = np.random.default_rng(seed)
        sims = rng.multinomial(int(total), e / total, size=replications).astype(np.float64)
        null = np.sort(windows.max_llr(sims, e, min_cases=min_cases))
    clusters: list[ScanCluster] = []
    used = np.zeros(n, dtype=bool)
    for idx in np.argsort(-llr_all, kind="stable"):
        if len(clusters) >= max_clusters or llr_all[idx] <= 0:
            break
        members = windows.order[centre_all[idx]][: size_all[idx]]
        if used[members].any():
            continue
        used[members] = True
        obs_in, exp_in = float(c[members].sum()), float(e[members].sum())
        rr = (
            (obs_in / exp_in) / ((total - obs_in) / (total - exp_in))
            if total > obs_in
            else math.inf
        )
        llr = float(llr_all[idx])
        # replicate maxima at or above the LLR, with a relative tolerance against rounding
        p = (
            (1 + int(np.sum(null >= llr * (1 - 1e-10)))) / (replications + 1)
            if replications
            else math.nan
        )
        clusters.append(
            ScanCluster(
                rank=len(clusters) + 1,
                centre=int(centre_all[idx]),
                centre_label=c_names[int(centre_all[idx])],
                members=tuple(int(m) for m in members),
                member_labels=tuple(names[m] for m in members),
                radius_km=float(radius_all[idx]),
                observed=obs_in,
                expected=exp_in,
                population=float(pop[members].sum()),
                relative_risk=rr,
                llr=llr,
                p_value=p,
            )
        )
    return ScanResult(
        clusters=clusters,
        total_cases=total,
        total_expected=float(e.sum()),
        n_locations=n,
        n_windows=windows.count,
        replications=replications,
        seed=seed,
        max_population_share=share,
        null_max_llr=null,
        alpha=alpha,
        site_centred=site_centred,
        location_labels=names,
        observed=c,
        expected=e,
    )
