"""HealthWatch statistics core: pure Python (numpy, scipy, pandas, statsmodels), no Django.

Every method is documented in ``docs/methods.md`` and validated against R (``surveillance``,
``epitools``, ``stats``, ``MASS``) goldens in ``tests/analytics/stats/golden``. Results map to
the tidy result-row contract through :class:`~analytics.stats.results.Estimate`.

Modules:
    rates                 crude/stratum rates, proportions, direct standardization
    standard_populations  WHO World (2000–2025) and US 2000 standards, 18 five-year bands
    comparisons           SMR/SIR, exact rate ratio, Mantel–Haenszel RR and OR
    regression            Poisson / negative binomial / logistic, trend tests, distance decay
    trends                APC, joinpoint, Mann–Kendall with Sen's slope
    aberration            EARS C1–C3, Farrington flexible (Noufaily), CUSUM, GLR Poisson CUSUM
    scan                  Kulldorff's circular spatial scan (Poisson), site-centred variant
    biomonitoring         GM, percentiles, share above reference, adjusted GM ratio
    exposure              haversine distance to nearest site, IDW concentrations
    environment           annual station summaries, guideline exceedances, trends
    errors                the StatsInputError family
"""

from analytics.stats.aberration import (
    AberrationResult,
    cusum,
    default_aberration_method,
    detect_aberrations,
    ears,
    farrington_flexible,
    glr_poisson,
)
from analytics.stats.comparisons import (
    mantel_haenszel_odds_ratio,
    mantel_haenszel_rate_ratio,
    rate_ratio_exact,
    smr,
)
from analytics.stats.errors import (
    AllZeroBaselineError,
    EmptyInputError,
    MismatchedStrataError,
    MissingValueError,
    NegativeCountError,
    ShortHistoryError,
    StatsInputError,
)
from analytics.stats.rates import (
    crude_rate,
    direct_standardized_rate,
    poisson_exact_interval,
    proportion,
    stratum_rates,
)
from analytics.stats.results import ROW_COLUMNS, Estimate, to_frame
from analytics.stats.scan import ScanResult, circular_scan

__all__ = [
    "ROW_COLUMNS",
    "AberrationResult",
    "AllZeroBaselineError",
    "EmptyInputError",
    "Estimate",
    "MismatchedStrataError",
    "MissingValueError",
    "NegativeCountError",
    "ScanResult",
    "ShortHistoryError",
    "StatsInputError",
    "circular_scan",
    "crude_rate",
    "cusum",
    "default_aberration_method",
    "detect_aberrations",
    "direct_standardized_rate",
    "ears",
    "farrington_flexible",
    "glr_poisson",
    "mantel_haenszel_odds_ratio",
    "mantel_haenszel_rate_ratio",
    "poisson_exact_interval",
    "proportion",
    "rate_ratio_exact",
    "smr",
    "stratum_rates",
    "to_frame",
]
