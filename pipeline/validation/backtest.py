"""The NATO burden back-test, 2014 -> 2024 (docs/validation.md).

The built-in scenario ``backtest-2014`` starts every ally at its 2014 burden with Crimea and
the full-scale invasion as dated hostility jumps; it runs through the normal engine with kept
samples, and ``score`` compares each simulated ally's burden at the horizon with what NATO
reported for 2024: per-ally CRPS against persistence and the cross-section regression, PIT
and interval coverage, the count of allies at >= 2% and the regression coefficients of the
simulated cross-sections. Everything here is a pure function of arrays except ``observed``,
which reads the package's NATO table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import xarray as xr

from alliance_risk.pipeline.validation import scores as S

SCENARIO = "backtest-2014"
GUIDELINE = 2.0
# the design's in-sample regression of 2014 -> 2024 changes (docs/validation.md cites it)
DESIGN_REGRESSION = (0.27, 0.51, 1.03)
OBSERVED_COUNT_2024 = 23  # allies at >= 2%, NATO June-2024 estimate (22 revised)
OBSERVED_COUNT_2014 = 3


@dataclass(frozen=True)
class Observed:
    """The allies with forces (Iceland has none), in scenario order."""

    codes: tuple[str, ...]
    b2014: np.ndarray
    b2024: np.ndarray
    frontline: np.ndarray


@cache
def observed() -> Observed:
    """2014 and 2024 burdens (% of GDP) and frontline flags from the package's NATO table."""
    table = resources.files("alliance_risk.models.data") / "nato_members_2025.csv"
    with table.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["burden_2014"]]
    return Observed(
        codes=tuple(r["code"] for r in rows),
        b2014=np.array([float(r["burden_2014"]) for r in rows]),
        b2024=np.array([float(r["burden_2024"]) for r in rows]),
        frontline=np.array([float(r["frontline"]) for r in rows]),
    )


def design_matrix(b2014: np.ndarray, frontline: np.ndarray) -> np.ndarray:
    """Columns of the cross-section regression: 1, gap to 2% in 2014, frontline."""
    return np.column_stack([np.ones_like(b2014), np.maximum(GUIDELINE - b2014, 0), frontline])


def regression(b2014, frontline, b2024) -> np.ndarray:
    """OLS coefficients of Δb = a + b·gap + c·frontline; ``b2024`` may hold many
    cross-sections as rows (S, N) -> (S, 3)."""
    X = design_matrix(np.asarray(b2014), np.asarray(frontline))
    Y = np.atleast_2d(np.asarray(b2024, dtype=np.float64)) - np.asarray(b2014)
    coef, *_ = np.linalg.lstsq(X, Y.T, rcond=None)
    return coef.T


def regression_forecast(obs: Observed, coef=DESIGN_REGRESSION) -> np.ndarray:
    """The regression's point forecast of each ally's 2024 burden."""
    return obs.b2014 + design_matrix(obs.b2014, obs.frontline) @ np.asarray(coef)


def score(codes: tuple[str, ...], final_burden: np.ndarray, seed: int = 0) -> xr.Dataset:
    """Score simulated 2024 burdens (sim, member), members named by ``codes``, against NATO's.

    Returns a Dataset: per ally (dim ``ally``) the model's CRPS, PIT and 5/50/95% quantiles and
    the baselines' CRPS; per simulation summaries as quantiles; scalar scores with bootstrap
    intervals over allies in attributes of their variables.
    """
    obs = observed()
    idx = [codes.index(c) for c in obs.codes]
    ens = np.asarray(final_burden, dtype=np.float64)[:, idx]  # (S, allies)
    y = obs.b2024
    crps = S.crps_ensemble(y, ens.T)
    persistence = S.crps_point(y, obs.b2014)
    design_reg = S.crps_point(y, regression_forecast(obs))
    own_coef = regression(obs.b2014, obs.frontline, y)[0]
    own_reg = S.crps_point(y, regression_forecast(obs, own_coef))
    pit = S.pit_ensemble(y, ens.T)
    count = (ens >= GUIDELINE - 1e-6).sum(axis=1)
    coefs = regression(obs.b2014, obs.frontline, ens)
    q = np.array([0.05, 0.5, 0.95])
    ds = xr.Dataset(
        {
            "observed_2024": ("ally", y),
            "burden_2014": ("ally", obs.b2014),
            "frontline": ("ally", obs.frontline.astype(bool)),
            "crps": ("ally", crps),
            "crps_persistence": ("ally", persistence),
            "crps_regression": ("ally", design_reg),
            "crps_regression_refit": ("ally", own_reg),
            "pit": ("ally", pit),
            "simulated_2024": (("quantile", "ally"), np.quantile(ens, q, axis=0)),
            "count_at_2pct": ("quantile", np.quantile(count, q)),
            "regression_coef": (("quantile", "term"), np.quantile(coefs, q, axis=0)),
            "observed_regression_coef": ("term", own_coef),
            "design_regression_coef": ("term", np.asarray(DESIGN_REGRESSION)),
        },
        coords={
            "ally": np.array(obs.codes, dtype=object),  # variable-length strings in Zarr v3
            "quantile": q,
            "term": np.array(["const", "gap", "frontline"], dtype=object),
        },
    )
    ds.attrs.update(summary(ds, count, seed))
    return ds


def _mean(a) -> float:
    return float(np.mean(a))


def _ratio(a, b) -> float:
    return float(np.mean(a) / np.mean(b))


def summary(ds: xr.Dataset, count: np.ndarray, seed: int = 0) -> dict:
    """The back-test's headline scores with 90% bootstrap intervals over allies."""
    crps, pers, reg = (ds[v].values for v in ("crps", "crps_persistence", "crps_regression"))
    y, sim = ds["observed_2024"].values, ds["simulated_2024"].values
    pit = S.pit_histogram(ds["pit"].values, bins=5)
    out = {
        "mean_crps": S.bootstrap(_mean, crps, seed=seed),
        "mean_crps_persistence": S.bootstrap(_mean, pers, seed=seed),
        "mean_crps_regression": S.bootstrap(_mean, reg, seed=seed),
        "crps_ratio_persistence": S.bootstrap(_ratio, crps, pers, seed=seed),
        "crps_ratio_regression": S.bootstrap(_ratio, crps, reg, seed=seed),
    }
    attrs: dict = {k: [v.value, v.low, v.high] for k, v in out.items()}
    lo, hi = np.quantile(count, [0.05, 0.95])
    c_lo, c_hi = ds["regression_coef"].sel(quantile=0.05), ds["regression_coef"].sel(quantile=0.95)
    attrs |= {
        "coverage_90": float(np.mean((y >= sim[0]) & (y <= sim[2]))),
        "pit_counts": pit.count.tolist(),
        "pit_chi2_p": pit.p_value,
        "count_band_90": [float(lo), float(hi)],
        "count_observed": OBSERVED_COUNT_2024,
        "count_covers_observed": bool(lo <= OBSERVED_COUNT_2024 <= hi),
        "gap_coef_covers": bool(c_lo.sel(term="gap") <= 0.51 <= c_hi.sel(term="gap")),
        "frontline_coef_covers": bool(
            c_lo.sel(term="frontline") <= 1.03 <= c_hi.sel(term="frontline")
        ),
    }
    return attrs
