"""Monte Carlo errors that are right: Wilson intervals, quantile errors, and cluster-robust
errors for Saltelli runs (whose rows of one base point share innovations and most inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from alliance_risk.models.sampling import saltelli_rows
from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.engine.block import simulate_block
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.engine.stats import (
    hist_quantile_se,
    hist_quantiles,
    merge,
    probability,
    proportion,
    wilson_interval,
)


def test_wilson_interval_matches_hand_computed_values():
    # 5 of 100: Wilson 95% [0.02154, 0.11175] (Wilson 1927; Newcombe 1998, table I)
    p, se = proportion(5, 100)
    np.testing.assert_allclose(wilson_interval(p, se, 100), [0.02154, 0.11175], atol=5e-5)
    # 0 of 100: [0, z^2 / (n + z^2)] where the Wald interval collapses to [0, 0]
    lo, hi = wilson_interval(0.0, 0.0, 100)
    assert lo == 0 and hi == pytest.approx(1.959964**2 / (100 + 1.959964**2))


def test_wilson_interval_covers_a_rare_probability():
    """Coverage of the 95% interval for p = 0.002 with n = 1000 (Wald's is about 0.86)."""
    rng = np.random.default_rng(1)
    p_true, n = 0.002, 1000
    k = rng.binomial(n, p_true, 20_000)
    p, se = proportion(k, n)
    ci = wilson_interval(p, se, n)
    coverage = np.mean((ci[:, 0] <= p_true) & (p_true <= ci[:, 1]))
    assert coverage > 0.93


def test_histogram_quantile_error_matches_the_asymptotic_formula():
    rng = np.random.default_rng(2)
    n = 200_000
    edges = np.linspace(-5, 5, 401)
    hist = np.histogram(rng.normal(size=n), edges)[0][None, :]
    qs = (0.05, 0.5, 0.95)
    q = hist_quantiles(hist, edges, qs)
    se = hist_quantile_se(hist, edges, q, qs)
    z = sps.norm.ppf(qs)
    expected = np.sqrt(np.multiply(qs, 1 - np.array(qs)) / n) / sps.norm.pdf(z)
    np.testing.assert_allclose(se[0], expected, rtol=0.1)


@pytest.mark.slow
def test_saltelli_standard_errors_match_the_spread_over_seeds():
    """docs/model.md §4a: over 30 independent seeds, the s.d. of a headline probability is
    within 25% of the mean reported (cluster-robust) s.e.; the binomial s.e. is far below."""
    sc = load_scenario("nato-2025")
    rows = saltelli_rows(sc)
    spec = RunSpec(sc.name, 0, 12 * rows, "saltelli", 12 * rows)
    estimates, robust, binomial = [], [], []
    for seed in range(30):
        totals = merge(None, simulate_block(sc, RunSpec(**{**spec.__dict__, "seed": seed}), 0)[0])
        p, se = probability(totals, "n_any_withdrawal")
        estimates.append(p[-1])
        robust.append(se[-1])
        binomial.append(proportion(totals["n_any_withdrawal"][-1], int(totals["n_sims"]))[1])
    sd, mean_se = np.std(estimates, ddof=1), np.mean(robust)
    assert abs(sd / mean_se - 1) < 0.25, (sd, mean_se)
    assert np.mean(binomial) < 0.5 * sd  # what the binomial formula would have reported
