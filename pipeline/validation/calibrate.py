"""Calibration of the priors on history (docs/validation.md).

Exit hazard: a partially pooled gamma-Poisson model over post-1945 multilateral defence pacts
(ATOP), NATO's own record one group: each pact's exit rate is Gamma(a, b) around a common
mean; (a, b) by maximum marginal (negative-binomial) likelihood; NATO's posterior is
Gamma(a + exits, b + member-years). It replaces the choice between a NATO-only and an
ATOP-pooled prior.

Burden module: approximate Bayesian computation by rejection (history matching with one
simulation per prior draw) on the back-test's targets: a draw is kept when every summary of
its simulated 2024 cross-section is within ``CUTOFF`` of what NATO reported, measured in the
summary's tolerance (observation error and model discrepancy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from alliance_risk.pipeline.validation import atop
from alliance_risk.pipeline.validation import backtest as B

NATO_ATOPID = 3180
NATO_RECORD = (0, 1444)  # exits, member-years 1949-2025 (docs/model.md; ATOP to 2016: 0/1195)
CUTOFF = 3.0  # implausibility cut-off (Pukelsheim's three-sigma rule)
CALIBRATED = (
    "burden_adjustment",
    "target_pull",
    "threat_burden",
    "proximity_scale",
    "burden_volatility",
)


@dataclass(frozen=True)
class ExitPrior:
    shape: float  # a of the population Gamma(a, b)
    rate: float  # b
    groups: int
    exits: int
    exposure: float
    nato_shape: float  # NATO's posterior Gamma(a + x, b + E)
    nato_rate: float

    @property
    def population_mean(self) -> float:
        return self.shape / self.rate

    @property
    def nato_mean(self) -> float:
        return self.nato_shape / self.nato_rate

    def nato_interval(self, level: float = 0.9) -> tuple[float, float]:
        from scipy.stats import gamma

        q = [(1 - level) / 2, (1 + level) / 2]
        lo, hi = gamma.ppf(q, self.nato_shape, scale=1 / self.nato_rate)
        return float(lo), float(hi)


def exit_groups(history: atop.History) -> tuple[np.ndarray, np.ndarray]:
    """(exits, member-years) of every post-1945 multilateral defence pact; NATO's from its
    own record (``NATO_RECORD``), last."""
    x, e = [], []
    for p in history.pacts:
        if p.bilateral or p.atopid == NATO_ATOPID or (p.endyr is not None and p.endyr < 1945):
            continue
        years = 0
        for s in p.spells:
            end = s.exit if s.exit is not None else (p.endyr or history.last_year)
            years += max(end - max(s.entry, p.begyr, atop.FIRST_YEAR), 0)
        if years > 0:
            x.append(sum(1 for s in p.exits() if (s.exit or 0) >= atop.FIRST_YEAR))
            e.append(years)
    x.append(NATO_RECORD[0])
    e.append(NATO_RECORD[1])
    return np.array(x, float), np.array(e, float)


def _neg_loglik(theta, x, e) -> float:
    a, b = np.exp(theta)
    ll = (
        gammaln(a + x)
        - gammaln(a)
        - gammaln(x + 1)
        + a * np.log(b / (b + e))
        + x * np.log(e / (b + e))
    )
    return -float(ll.sum())


def fit_exit_prior(history: atop.History | None = None) -> ExitPrior:
    """The partially pooled exit-hazard prior and NATO's posterior."""
    x, e = exit_groups(history or atop.load())
    start = np.log([1.0, e.sum() / max(x.sum(), 0.5)])
    res = minimize(
        _neg_loglik,
        start,
        args=(x, e),
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
    )
    a, b = np.exp(res.x)
    return ExitPrior(
        float(a), float(b), len(x), int(x.sum()), float(e.sum()), float(a + x[-1]), float(b + e[-1])
    )


# --- burden module: ABC on the back-test ---------------------------------------------------
def summaries(final_burden: np.ndarray, codes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per simulation: count at >= 2%, regression coefficients, mean change (pp)."""
    obs = B.observed()
    ens = np.asarray(final_burden, np.float64)[:, [codes.index(c) for c in obs.codes]]
    coef = B.regression(obs.b2014, obs.frontline, ens)
    return {
        "count": (ens >= B.GUIDELINE - 1e-6).sum(axis=1).astype(float),
        "gap": coef[:, 1],
        "frontline": coef[:, 2],
        "mean_change": (ens - obs.b2014).mean(axis=1),
    }


def targets() -> dict[str, tuple[float, float]]:
    """Observed value and tolerance of each summary: the OLS standard error for the
    coefficients, revision (23 June estimate vs 22 revised) plus one ally for the count,
    and 0.1 pp for the mean change (about the s.e. of a mean of 31 changes of s.d. 0.6)."""
    obs = B.observed()
    X = B.design_matrix(obs.b2014, obs.frontline)
    dy = obs.b2024 - obs.b2014
    coef = B.regression(obs.b2014, obs.frontline, obs.b2024)[0]
    s2 = float(np.sum((dy - X @ coef) ** 2)) / (len(dy) - X.shape[1])
    se = np.sqrt(np.diag(s2 * np.linalg.inv(X.T @ X)))
    return {
        "count": (float(B.OBSERVED_COUNT_2024), 1.5),
        "gap": (float(coef[1]), float(se[1])),
        "frontline": (float(coef[2]), float(se[2])),
        "mean_change": (float(dy.mean()), 0.1),
    }


def implausibility(summ: dict[str, np.ndarray]) -> np.ndarray:
    """Largest standardised distance of each simulation's summaries from the targets."""
    tg = targets()
    return np.max([np.abs(summ[k] - o) / s for k, (o, s) in tg.items()], axis=0)


def abc(params: np.ndarray, names: tuple[str, ...], final_burden, codes) -> dict:
    """Accepted draws (implausibility <= CUTOFF) and the narrowed priors of ``CALIBRATED``."""
    imp = implausibility(summaries(final_burden, codes))
    keep = imp <= CUTOFF
    out: dict = {"accepted": int(keep.sum()), "draws": len(imp), "cutoff": CUTOFF, "priors": {}}
    for name in CALIBRATED:
        col = np.asarray(params)[:, names.index(name)]
        prior = np.quantile(col, [0.05, 0.5, 0.95])
        post = np.quantile(col[keep], [0.05, 0.5, 0.95]) if keep.any() else [np.nan] * 3
        out["priors"][name] = {
            "prior": [float(v) for v in prior],
            "posterior": [float(v) for v in post],
        }
    out["implausibility"] = imp
    out["keep"] = keep
    return out
