"""Hazards of pact termination and member exit estimated from an ATOP history view.

A log-linear Poisson model on pact-years (termination: bilateral, an old pact of 30 years
or more, a year in which the treaty's stated term or a renewal period runs out, the log of
the number of members at the time, up to the view's last year) and
member-years of multilateral pacts (exit: an old pact, the member's Leeds & Savun threat
score), with covariates known at the time. Fitted by Newton's method with a small ridge
on the slopes, so a view with few events still gives finite, shrunk estimates. Everything
is read from a ``History`` (usually ``atop.censor(history, origin)``), nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alliance_risk.pipeline.validation.atop import FIRST_YEAR, History, Pact

OLD = 30  # years: pacts this old end far less often (0.9%/yr against 3-6%/yr, ATOP 1945-2016)
RIDGE = 1.0
TERMS = ("const", "bilateral", "old", "term_due", "log_members")
EXIT_TERMS = ("const", "old", "threat")


def pact_features(history: History, pact: Pact, year: int) -> np.ndarray:
    """Termination covariates of ``pact`` in ``year``. Its membership is the one known at
    ``min(year, history.last_year)``: a forecast's later years take the origin's. A pact of
    many members ends only when all of them let it (an exit does not end it), so size is a
    covariate of its own beside the bilateral class."""
    old = float(year - pact.begyr >= OLD)
    n = len(pact.members_at(min(year, history.last_year)))
    size = np.log(max(n, 2))
    return np.array([1.0, float(pact.bilateral), old, float(pact.term_due(year)), size])


def exit_features(history: History, pact: Pact, members, year: int) -> np.ndarray:
    """Exit covariates of ``members`` (one member's spell, or a pact's mean member)."""
    return np.array([1.0, float(year - pact.begyr >= OLD), history.threat_of(members, year)])


def _years(begin: int, end: int | None, last: int) -> range:
    start = max(begin, FIRST_YEAR)
    stop = end if end is not None else last
    return range(start, max(stop, start + 1))


def pact_years(history: History) -> tuple[np.ndarray, np.ndarray]:
    """(X, events) over every post-1945 pact-year of the view."""
    X, y = [], []
    for p in history.pacts:
        if p.endyr is not None and p.endyr < FIRST_YEAR:
            continue
        years = _years(p.begyr, p.endyr, history.last_year)
        for t in years:
            X.append(pact_features(history, p, t))
            y.append(float(p.endyr is not None and t == years[-1]))
    return np.array(X).reshape(-1, len(TERMS)), np.array(y)


def member_years(history: History) -> tuple[np.ndarray, np.ndarray]:
    """(X, events) over the member-years of multilateral pacts (an exit ends a spell early)."""
    X, y = [], []
    for p in history.pacts:
        if p.bilateral or (p.endyr is not None and p.endyr < FIRST_YEAR):
            continue
        exits = {(s.member, s.exit) for s in p.exits()}
        for s in p.spells:
            end = s.exit if s.exit is not None else p.endyr
            years = _years(max(s.entry, p.begyr), end, history.last_year)
            for t in years:
                X.append(exit_features(history, p, [s.member], t))
                y.append(float((s.member, s.exit) in exits and t == years[-1]))
    return np.array(X).reshape(-1, len(EXIT_TERMS)), np.array(y)


@dataclass(frozen=True)
class PoissonFit:
    coef: np.ndarray
    cov: np.ndarray
    events: int
    exposure: int

    def hazard(self, x: np.ndarray) -> tuple[float, float]:
        """Annual hazard at covariates ``x`` and the s.e. of its log."""
        return self.mean_hazard(x[None, :])

    def mean_hazard(self, X: np.ndarray) -> tuple[float, float]:
        """Mean annual hazard over the rows of ``X`` (the years of a window whose covariates
        change, such as a treaty term running out) and the delta-method s.e. of its log."""
        h = np.exp(X @ self.coef)
        g = (h[:, None] * X).sum(axis=0) / h.sum()  # d log(mean h) / d coef
        return float(h.mean()), float(np.sqrt(max(g @ self.cov @ g, 0.0)))


def fit_poisson(X: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> PoissonFit:
    """Maximum penalised likelihood of a log-linear Poisson model (unit exposure per row)."""
    if len(y) == 0:
        raise ValueError("no exposure to fit a hazard on")
    pen = np.full(X.shape[1], ridge)
    pen[0] = 0.0
    beta = np.zeros(X.shape[1])
    beta[0] = np.log(max(y.mean(), 0.5 / len(y)))
    for _ in range(50):
        mu = np.exp(X @ beta)
        grad = X.T @ (y - mu) - pen * beta
        hess = X.T @ (X * mu[:, None]) + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = np.exp(X @ beta)
    cov = np.linalg.inv(X.T @ (X * mu[:, None]) + np.diag(pen))
    return PoissonFit(beta, cov, int(y.sum()), len(y))


def climatology(X: np.ndarray, y: np.ndarray, column: int | None = None, value=None) -> float:
    """Constant annual hazard (events / exposure), of the rows whose ``column`` equals ``value``
    (a class such as bilateral pacts) or of all rows."""
    keep = np.ones(len(y), bool) if column is None else X[:, column] == value
    return float((y[keep].sum() + 0.5) / (keep.sum() + 1.0))  # Jeffreys-like: never exactly 0
