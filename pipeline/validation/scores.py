"""Forecast scores: pure functions over numpy arrays (and xarray objects, through ``np.asarray``).

Binary events: Brier and log scores, Brier skill against a baseline with the Murphy
decomposition, reliability diagrams with consistency bands (Bröcker & Smith 2007) and the
reliability slope. Continuous outcomes: CRPS of an ensemble (``scoringrules``, a maintained
implementation), of a normal (closed form) and of a stored histogram (exact for a piecewise
uniform density), PIT values and their histogram with a uniformity test, interval coverage.
Every score can carry a bootstrap interval over the forecast units (``bootstrap``), never over
simulations: the units (allies, alliances) are what is scarce. Lower is better for Brier,
log score and CRPS; higher for skill.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EPS = 1e-12  # log score: probabilities are clipped to [EPS, 1 - EPS]


def _binary(p, y) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"forecasts {p.shape} and outcomes {y.shape} differ in shape")
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("forecast probabilities must lie in [0, 1]")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("outcomes must be 0 or 1")
    return p, y


def brier(p, y) -> float:
    """Mean Brier score ``mean((p − y)²)``: 0 is perfect, 0.25 a coin toss on any outcome."""
    p, y = _binary(p, y)
    return float(np.mean((p - y) ** 2))


def log_score(p, y) -> float:
    """Mean negative log likelihood ``−mean(y ln p + (1 − y) ln(1 − p))`` (p clipped by EPS)."""
    p, y = _binary(p, y)
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def brier_skill(p, y, p_ref) -> float:
    """Brier skill ``1 − BS / BS_ref`` against a baseline (NaN when the baseline is perfect)."""
    ref = brier(p_ref, y)
    return float(1.0 - brier(p, y) / ref) if ref > 0 else float("nan")


@dataclass(frozen=True)
class Decomposition:
    """Murphy (1973): ``brier = reliability − resolution + uncertainty + within``.

    ``within`` is the within-bin variance term that binning the forecasts adds (0 when every
    forecast in a bin is equal)."""

    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within: float


def _bin_index(p: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((p * bins).astype(np.int64), bins - 1)


def brier_decomposition(p, y, bins: int = 10) -> Decomposition:
    """Reliability, resolution and uncertainty on ``bins`` equal forecast bins."""
    p, y = _binary(p, y)
    n, ybar = p.size, y.mean()
    idx = _bin_index(p, bins)
    rel = res = within = 0.0
    for k in np.unique(idx):
        m = idx == k
        pk, ok = p[m].mean(), y[m].mean()
        rel += m.sum() * (pk - ok) ** 2
        res += m.sum() * (ok - ybar) ** 2
        within += np.sum((p[m] - pk) ** 2) + 2 * np.sum((p[m] - pk) * (pk - y[m]))
    return Decomposition(
        brier=brier(p, y),
        reliability=rel / n,
        resolution=res / n,
        uncertainty=float(ybar * (1 - ybar)),
        within=within / n,
    )


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram: per forecast bin, the mean forecast, the observed frequency, the
    number of forecasts, and the 5-95% band the observed frequency would have if the forecasts
    were calibrated (consistency band: outcomes redrawn as Bernoulli(p), Bröcker & Smith 2007).
    Empty bins hold NaN. ``slope`` and ``intercept``: least squares of outcome on forecast over
    all units (1 and 0 for a calibrated forecast; the slope is NaN when forecasts are all equal)."""

    edges: np.ndarray
    forecast: np.ndarray
    observed: np.ndarray
    count: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    slope: float
    intercept: float


def reliability_slope(p, y) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line of outcome on forecast probability."""
    p, y = _binary(p, y)
    if p.size < 2 or np.ptp(p) == 0:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(p, y, 1)
    return float(slope), float(intercept)


def reliability_diagram(p, y, bins: int = 10, draws: int = 1000, seed: int = 0) -> Reliability:
    """Reliability diagram on ``bins`` equal bins, consistency bands from ``draws`` resamples."""
    p, y = _binary(p, y)
    idx = _bin_index(p, bins)
    count = np.bincount(idx, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fc = np.bincount(idx, weights=p, minlength=bins) / count
        ob = np.bincount(idx, weights=y, minlength=bins) / count
        rng = np.random.default_rng(seed)
        fake = rng.random((draws, p.size)) < p
        freq = np.stack([np.bincount(idx, weights=f, minlength=bins) for f in fake]) / count
    with warnings.catch_warnings():  # empty bins: all-NaN columns give NaN bands
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(freq, [5, 95], axis=0) if p.size else (fc, fc)
    slope, intercept = reliability_slope(p, y)
    empty = count == 0
    return Reliability(
        edges=np.linspace(0, 1, bins + 1),
        forecast=fc,
        observed=ob,
        count=count,
        band_low=np.where(empty, np.nan, lo),
        band_high=np.where(empty, np.nan, hi),
        slope=slope,
        intercept=intercept,
    )


def sharpness(p) -> float:
    """Variance of the forecast probabilities (0 for a constant forecast such as climatology)."""
    return float(np.var(np.asarray(p, dtype=np.float64)))


# --- continuous outcomes ---------------------------------------------------------------------
def crps_ensemble(obs, ensemble, axis: int = -1) -> np.ndarray:
    """CRPS of an ensemble (members along ``axis``) for each observation (scoringrules' exact
    fair=False estimator: the CRPS of the ensemble's empirical distribution)."""
    import scoringrules as sr  # imported here: 3 s of start-up for the commands that need it

    ens = np.moveaxis(np.asarray(ensemble, dtype=np.float64), axis, -1)
    return np.asarray(sr.crps_ensemble(np.asarray(obs, dtype=np.float64), ens))


def crps_normal(obs, mu, sigma) -> np.ndarray:
    """Closed-form CRPS of N(mu, sigma²) (Gneiting & Raftery 2007); sigma = 0 gives |obs − mu|."""
    from scipy.stats import norm

    obs, mu, sigma = (np.asarray(a, dtype=np.float64) for a in (obs, mu, sigma))
    safe = np.where(sigma > 0, sigma, 1.0)
    z = (obs - mu) / safe
    val = safe * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    return np.where(sigma > 0, val, np.abs(obs - mu))


def crps_point(obs, forecast) -> np.ndarray:
    """CRPS of a point forecast (a degenerate distribution): the absolute error."""
    return np.abs(np.asarray(obs, dtype=np.float64) - np.asarray(forecast, dtype=np.float64))


def crps_histogram(obs, edges, counts) -> np.ndarray:
    """Exact CRPS of a histogram (uniform density within each bin) for each observation.

    ``counts`` has the bins along its last axis (len(edges) − 1); leading axes broadcast with
    ``obs``. CRPS = ∫ (F(x) − 1{x ≥ y})² dx, integrated bin by bin where F is linear, plus the
    stretch between the histogram's support and an observation outside it.
    """
    edges = np.asarray(edges, dtype=np.float64)
    w = np.asarray(counts, dtype=np.float64)
    tot = w.sum(axis=-1, keepdims=True)
    if np.any(tot <= 0):
        raise ValueError("every histogram needs a positive total count")
    cdf = np.concatenate([np.zeros_like(tot), np.cumsum(w, axis=-1) / tot], axis=-1)
    y = np.asarray(obs, dtype=np.float64)[..., None]
    a, b = edges[:-1], edges[1:]
    F0, F1 = cdf[..., :-1], cdf[..., 1:]
    # split each bin at y: [a, c] where the indicator is 0, [c, b] where it is 1
    c = np.clip(y, a, b)
    slope = (F1 - F0) / (b - a)

    def integral(lo, hi, shift):  # ∫_lo^hi (F0 + slope (x − a) − shift)² dx, exactly
        u, v = F0 + slope * (lo - a) - shift, F0 + slope * (hi - a) - shift
        width = hi - lo
        return width * (u * u + u * v + v * v) / 3.0

    inside = integral(a, c, 0.0) + integral(c, b, 1.0)
    y0 = y[..., 0]
    outside = np.maximum(edges[0] - y0, 0.0) + np.maximum(y0 - edges[-1], 0.0)
    return inside.sum(axis=-1) + outside


def pit_ensemble(obs, ensemble, axis: int = -1) -> np.ndarray:
    """Probability integral transform of each observation in its ensemble, ties split at their
    middle (mid-PIT: an ensemble equal to the observation gives 0.5; deterministic)."""
    ens = np.moveaxis(np.asarray(ensemble, dtype=np.float64), axis, -1)
    y = np.asarray(obs, dtype=np.float64)[..., None]
    below = (ens < y).mean(axis=-1)
    equal = (ens == y).mean(axis=-1)
    return below + 0.5 * equal


@dataclass(frozen=True)
class PitHistogram:
    edges: np.ndarray
    count: np.ndarray
    chi2: float
    p_value: float  # chi-square test of uniformity (a small p: the PIT is not uniform)


def pit_histogram(pit, bins: int = 5) -> PitHistogram:
    """Histogram of PIT values on ``bins`` equal bins with a chi-square test of uniformity."""
    from scipy.stats import chisquare

    pit = np.asarray(pit, dtype=np.float64).ravel()
    edges = np.linspace(0, 1, bins + 1)
    count = np.bincount(_bin_index(np.clip(pit, 0, 1), bins), minlength=bins)
    if pit.size == 0:
        return PitHistogram(edges, count, float("nan"), float("nan"))
    test = chisquare(count)
    return PitHistogram(edges, count, float(test.statistic), float(test.pvalue))


def interval_coverage(obs, ensemble, level: float, axis: int = -1) -> float:
    """Share of observations inside the ensemble's central ``level`` interval (inclusive)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    ens = np.moveaxis(np.asarray(ensemble, dtype=np.float64), axis, -1)
    lo, hi = np.quantile(ens, [(1 - level) / 2, (1 + level) / 2], axis=-1)
    y = np.asarray(obs, dtype=np.float64)
    return float(np.mean((y >= lo) & (y <= hi)))


# --- uncertainty over forecast units ---------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def bootstrap(
    score: Callable[..., float],
    *columns,
    draws: int = 2000,
    level: float = 0.9,
    seed: int = 0,
    groups=None,
) -> Interval:
    """``score(*columns)`` with a percentile bootstrap interval over the forecast units.

    Rows of every column are resampled together; with ``groups`` (one label per row) whole
    groups are resampled (e.g. every member forecast of one alliance), so correlated units are
    not counted as independent.
    """
    cols = [np.asarray(c) for c in columns]
    n = len(cols[0])
    value = float(score(*cols))
    rng = np.random.default_rng(seed)
    if groups is None:
        picks = (rng.integers(0, n, n) for _ in range(draws))
    else:
        labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
        members = [np.flatnonzero(inverse == g) for g in range(len(labels))]
        picks = (
            np.concatenate([members[g] for g in rng.integers(0, len(labels), len(labels))])
            for _ in range(draws)
        )
    stats = []
    for idx in picks:
        with np.errstate(invalid="ignore", divide="ignore"):
            stats.append(score(*(c[idx] for c in cols)))
    arr = np.asarray(stats, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return Interval(value, float("nan"), float("nan"))
    lo, hi = np.percentile(arr, [50 * (1 - level), 50 * (1 + level)])
    return Interval(value, float(lo), float(hi))
