"""The scores module against hand-computed values, closed forms and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from alliance_risk.pipeline.validation import scores as S


def test_brier_and_log_score_by_hand():
    p, y = [0.9, 0.2, 0.5], [1, 0, 1]
    assert S.brier(p, y) == pytest.approx((0.01 + 0.04 + 0.25) / 3)
    assert S.log_score(p, y) == pytest.approx(-(np.log(0.9) + np.log(0.8) + np.log(0.5)) / 3)


def test_all_zero_and_all_one_outcomes():
    y0, y1 = np.zeros(4), np.ones(4)
    assert S.brier(np.zeros(4), y0) == 0 and S.brier(np.ones(4), y1) == 0
    assert S.log_score(np.ones(4), y1) == pytest.approx(0, abs=1e-11)
    # a certain wrong forecast is finite (clipped), not inf
    assert np.isfinite(S.log_score(np.zeros(4), y1)) and S.log_score(np.zeros(4), y1) > 25
    d = S.brier_decomposition(np.full(4, 0.3), y0)
    assert d.uncertainty == 0 and d.resolution == 0
    assert d.reliability == pytest.approx(0.09) and d.brier == pytest.approx(0.09)
    # a perfect baseline leaves skill undefined, not infinite
    assert np.isnan(S.brier_skill(np.full(4, 0.3), y0, np.zeros(4)))


def test_brier_skill_against_climatology():
    y = np.array([1, 0, 0, 0])
    clim = np.full(4, 0.25)  # BS_ref = 3/16
    p = np.array([0.5, 0.0, 0.0, 0.0])  # BS = 1/16
    assert S.brier_skill(p, y, clim) == pytest.approx(1 - (1 / 16) / (3 / 16))
    assert S.brier_skill(clim, y, clim) == 0


def test_decomposition_adds_up():
    rng = np.random.default_rng(1)
    p = rng.random(500)
    y = (rng.random(500) < p**1.5).astype(float)
    d = S.brier_decomposition(p, y, bins=10)
    assert d.reliability - d.resolution + d.uncertainty + d.within == pytest.approx(d.brier)
    assert d.uncertainty == pytest.approx(y.mean() * (1 - y.mean()))
    # on forecasts that take one value per bin the within-bin term vanishes
    q = np.round(p * 10 - 0.5) / 10 + 0.05
    assert S.brier_decomposition(q, y).within == pytest.approx(0, abs=1e-15)


def test_reliability_diagram_of_a_calibrated_forecast():
    rng = np.random.default_rng(2)
    p = rng.random(20_000)
    y = (rng.random(20_000) < p).astype(float)
    r = S.reliability_diagram(p, y, bins=10, draws=200)
    assert r.count.sum() == 20_000
    # observed frequencies sit inside (or at) the consistency band in at least 8 of 10 bins,
    # and the slope of outcome on forecast is 1 within 4 of its standard errors (~0.012)
    inside = (r.observed >= r.band_low - 1e-12) & (r.observed <= r.band_high + 1e-12)
    assert inside.sum() >= 8
    assert abs(r.slope - 1) < 4 * 0.0122
    # an overconfident forecast (too extreme) has a slope below 1
    q = np.clip(0.5 + 2 * (p - 0.5), 0, 1)
    assert S.reliability_slope(q, y)[0] < 0.8


def test_reliability_with_empty_bins_and_ties():
    r = S.reliability_diagram([0.2, 0.2, 0.2], [0, 1, 0], bins=10, draws=50)
    assert r.count[2] == 3 and r.count.sum() == 3
    assert np.isnan(r.observed[0]) and np.isnan(r.band_low[0])
    assert r.observed[2] == pytest.approx(1 / 3)
    assert np.isnan(r.slope)  # all forecasts equal: no slope


def test_crps_of_a_normal_closed_form_and_ensemble():
    # CRPS(N(0,1), 0) = 2 phi(0) - 1/sqrt(pi) = (sqrt(2) - 1)/sqrt(pi)
    assert S.crps_normal(0.0, 0.0, 1.0) == pytest.approx((np.sqrt(2) - 1) / np.sqrt(np.pi))
    assert S.crps_normal(1.5, 0.5, 0.0) == 1.0  # degenerate: absolute error
    rng = np.random.default_rng(3)
    ens = rng.normal(0.3, 2.0, 200_000)
    for y in (-1.0, 0.3, 4.0):
        # ensemble CRPS converges to the closed form; s.e. of the estimate is ~ 0.01 here
        assert S.crps_ensemble(y, ens) == pytest.approx(S.crps_normal(y, 0.3, 2.0), abs=0.02)
    # the two-member ensemble {0, 1} at y = 0: E|X - y| - E|X - X'|/2 = 0.5 - 0.25
    assert S.crps_ensemble(0.0, np.array([0.0, 1.0])) == pytest.approx(0.25)
    # a degenerate ensemble is a point forecast
    assert S.crps_ensemble(2.0, np.full(10, 0.5)) == pytest.approx(1.5)


def test_crps_of_a_histogram_is_exact():
    # one bin [0, 1), uniform: CRPS(U(0,1), y) = y^2 - y + 1/3 for y in [0, 1]
    for y in (0.0, 0.25, 0.5, 1.0):
        assert S.crps_histogram(y, [0.0, 1.0], [7]) == pytest.approx(y * y - y + 1 / 3)
    # outside the support: the distance is added
    assert S.crps_histogram(3.0, [0.0, 1.0], [1]) == pytest.approx(2.0 + 1 / 3)
    # fine bins of a normal's ensemble give its CRPS
    rng = np.random.default_rng(4)
    x = rng.normal(1.0, 0.5, 400_000)
    edges = np.linspace(-2, 4, 601)
    counts = np.histogram(x, edges)[0]
    for y in (0.2, 1.0, 2.5):
        assert S.crps_histogram(y, edges, counts) == pytest.approx(
            S.crps_normal(y, 1.0, 0.5), abs=0.003
        )
    # broadcast: several observations, several histograms
    many = S.crps_histogram([0.5, 0.5], [0.0, 1.0], [[1], [3]])
    assert many.shape == (2,) and many[0] == pytest.approx(1 / 12)
    with pytest.raises(ValueError, match="positive total"):
        S.crps_histogram(0.5, [0.0, 1.0], [0])


def test_pit_histogram_and_ties():
    ens = np.arange(10.0)
    assert S.pit_ensemble(4.5, ens) == pytest.approx(0.5)
    assert S.pit_ensemble(4.0, ens) == pytest.approx(0.45)  # tie split at its middle
    assert S.pit_ensemble(1.0, np.ones(5)) == 0.5  # degenerate ensemble
    rng = np.random.default_rng(5)
    ensembles = rng.normal(size=(2000, 100))
    obs = rng.normal(size=2000)
    h = S.pit_histogram(S.pit_ensemble(obs, ensembles), bins=5)
    assert h.count.sum() == 2000 and h.p_value > 0.001
    # an underdispersed ensemble gives a U-shaped PIT that the test rejects
    h2 = S.pit_histogram(S.pit_ensemble(obs, 0.3 * ensembles), bins=5)
    assert h2.count[0] > h2.count[2] and h2.p_value < 1e-6


def test_interval_coverage():
    ens = np.tile(np.linspace(0, 1, 101), (4, 1))
    assert S.interval_coverage([0.5, 0.05, 0.95, 0.3], ens, 0.9) == 1.0
    assert S.interval_coverage([0.5, 0.01, 0.99, 0.3], ens, 0.9) == 0.5
    assert S.interval_coverage([0.5, 0.2, 0.8, 0.3], ens, 0.5) == 0.5
    with pytest.raises(ValueError):
        S.interval_coverage([0.5], ens[:1], 1.0)


def test_bootstrap_over_units_and_groups():
    y = np.array([1, 0, 0, 0, 1, 0, 0, 1])
    p = np.array([0.8, 0.1, 0.2, 0.1, 0.6, 0.3, 0.2, 0.7])
    iv = S.bootstrap(S.brier, p, y, draws=500, seed=1)
    assert iv.value == pytest.approx(S.brier(p, y))
    assert iv.low <= iv.value <= iv.high and iv.low < iv.high
    assert iv == S.bootstrap(S.brier, p, y, draws=500, seed=1)  # seeded
    # resampling whole groups: one group holding everything cannot vary
    one = S.bootstrap(S.brier, p, y, draws=50, groups=np.zeros(8))
    assert one.low == one.high == one.value
    assert f"{iv:.2f}".count("[") == 1


def test_xarray_inputs():
    obs = xr.DataArray([0.2, 0.9], dims="ally")
    ens = xr.DataArray(np.tile(np.linspace(0, 1, 11), (2, 1)), dims=("ally", "sim"))
    crps = S.crps_ensemble(obs, ens)
    assert crps.shape == (2,)
    assert S.brier(xr.DataArray([0.5, 0.5]), xr.DataArray([1, 0])) == 0.25


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="shape"):
        S.brier([0.5], [1, 0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        S.brier([1.5], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        S.brier([0.5], [2])
