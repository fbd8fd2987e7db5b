"""ATOP histories, censoring (the leakage test), hazards and the rolling-origin hindcast."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from alliance_risk.pipeline.validation import atop, hazards, hindcast


@pytest.fixture(scope="module")
def history():
    return atop.load()


def test_nato_is_one_pact_with_its_members(history):
    nato = history.pact(3180)
    assert nato.begyr == 1949 and nato.endyr is None and not nato.bilateral
    assert len(nato.members_at(1950)) == 12 and len(nato.members_at(2010)) == 28
    # phases are merged: the founders have one spell each; West Germany's spell ends in
    # 1990 with the state itself (unification), which is not an exit: NATO has none
    assert [s.exit for s in nato.spells if s.member == 260] == [1990]
    assert nato.exits() == []
    with pytest.raises(atop.HistoryError, match="unknown ATOP id 99999"):
        history.pact(99999)


def _scramble_after(history: atop.History, origin: int, rng) -> atop.History:
    """Every record after the origin changed: ends and exits moved, entries shuffled, new
    pacts and threat scores invented."""
    pacts = []
    for p in history.pacts:
        end = p.endyr
        if end is None or end > origin:
            end = int(rng.integers(origin + 1, origin + 30)) if rng.random() < 0.5 else None
        spells = tuple(
            replace(s, exit=int(rng.integers(origin + 1, origin + 40)))
            if s.exit is None or s.exit > origin
            else s
            for s in p.spells
        ) + ((atop.Spell(999, origin + 1, None),) if p.begyr <= origin else ())
        pacts.append(replace(p, endyr=end, spells=spells))
    pacts.append(atop.Pact(1, origin + 2, None, True, (atop.Spell(2, origin + 2, None),)))
    threat = {k: (v if k[1] <= origin else float(rng.random())) for k, v in history.threat.items()}
    return atop.History(tuple(pacts), threat, history.last_year)


@pytest.mark.parametrize("origin", [1970, 1995])
def test_no_data_after_the_origin_is_read(history, origin):
    """The leakage test: forecasts at an origin are bitwise the same whatever happened later."""
    fake = _scramble_after(history, origin, np.random.default_rng(origin))
    a = hindcast.forecast_origin(history, origin, sims=100, seed=1)
    b = hindcast.forecast_origin(fake, origin, sims=100, seed=1)
    for field in ("atopid", "p_end", "clim_end", "member", "p_exit", "clim_exit"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    # ... while the outcomes they are scored on do change
    assert not np.array_equal(hindcast.outcomes(history, a)[0], hindcast.outcomes(fake, b)[0])


def test_censoring_hides_the_future(history):
    view = atop.censor(history, 1980)
    assert all(p.begyr <= 1980 for p in view.pacts)
    assert all(p.endyr is None or p.endyr <= 1980 for p in view.pacts)
    assert max(y for _, y in view.threat) == 1980
    with pytest.raises(atop.HistoryError, match="after the view's last year"):
        view.threat_of([2], 1981)
    with pytest.raises(atop.HistoryError, match="origin 1930 is outside the data"):
        atop.censor(history, 1930)


def test_poisson_fit_recovers_known_rates():
    rng = np.random.default_rng(0)
    n = 40_000
    group = rng.random(n) < 0.3
    rate = np.where(group, 0.08, 0.02)
    y = (rng.random(n) < rate).astype(float)  # Bernoulli ~ Poisson at these rates
    X = np.column_stack([np.ones(n), group])
    fit = hazards.fit_poisson(X, y, ridge=0.0)
    h1, se1 = fit.hazard(np.array([1.0, 1.0]))
    h0, se0 = fit.hazard(np.array([1.0, 0.0]))
    # within 3 standard errors of the truth (log scale), the s.e. from the fit itself
    assert abs(np.log(h0 / 0.02)) < 3 * se0 and abs(np.log(h1 / 0.08)) < 3 * se1
    assert hazards.climatology(X, y) == pytest.approx((y.sum() + 0.5) / (n + 1))


def test_treaty_terms_put_due_years_where_the_text_says(history):
    # NATO: 20 years (Art. 13), no renewal period; the Warsaw Pact: 20 years, then 10-year renewals
    nato, warsaw = history.pact(3180), history.pact(3285)
    assert [y for y in range(1950, 2017) if nato.term_due(y)] == [1969]
    assert [y for y in range(1956, 1992) if warsaw.term_due(y)] == [1975, 1985]
    five = replace(nato, begyr=1950, term_months=60, renewal_months=24)
    assert [y for y in range(1950, 1962) if five.term_due(y)] == [1955, 1957, 1959, 1961]
    assert not any(replace(nato, term_months=0).term_due(y) for y in range(1949, 2017))


def test_the_mean_hazard_of_a_window_is_the_mean_of_its_years():
    X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    fit = hazards.PoissonFit(np.log([0.02, 5.0]), np.diag([0.01, 0.04]), 3, 100)
    h, se = fit.mean_hazard(X)
    assert h == pytest.approx((0.02 + 0.1 + 0.02) / 3)
    w = np.array([1.0, 0.1 / 0.14])  # d log h / d coef: weights 0.02, 0.1, 0.02 over 0.14
    assert se == pytest.approx(np.sqrt(0.01 * w[0] ** 2 + 0.04 * w[1] ** 2))
    assert fit.hazard(X[1]) == pytest.approx((0.1, np.sqrt(0.01 + 0.04)))


def test_generic_alliance_runs_the_membership_code(history):
    nato = history.pact(3180)
    sc = hindcast.generic_scenario(nato, 1980, (0.05, 0.0), (0.03, 0.0))
    assert len(sc.members) == len(nato.members_at(1980)) and sc.time.steps == 20
    from alliance_risk.models.kernel import simulate
    from alliance_risk.models.layout import NEVER
    from alliance_risk.models.sampling import sample_parameters

    S = 20_000
    rng = np.random.default_rng(5)
    res = simulate(sc, sample_parameters(sc, S, rng), rng)
    # exogenous dissolution at 0.05/yr: P(within 5 years) = 1 - exp(-0.25); 4 s.e. tolerance
    p = np.mean(res.events["dissolution_step"] != NEVER)
    expect = -np.expm1(-0.25)
    assert abs(p - expect) < 4 * np.sqrt(expect * (1 - expect) / S)
    # a member's exit before the pact's end, within 5 years (competing risks):
    # h_w / (h_w + h_d) (1 - exp(-5 (h_w + h_d))); 4 s.e. plus 0.003 for quarterly steps
    fc = hindcast.forecast_origin(history, 1980, sims=100, seed=0)
    assert len(fc.p_exit) > 0 and np.all(fc.p_exit <= 1)
    wd, diss = res.member_events["withdrawal_step"], res.events["dissolution_step"]
    p_exit = np.mean((wd != NEVER) & (wd < diss[:, None]))
    expect = 0.03 / 0.08 * -np.expm1(-0.4)
    assert abs(p_exit - expect) < 4 * np.sqrt(expect * (1 - expect) / S) + 0.003


def test_hindcast_scores_and_bad_origins(history):
    ds = hindcast.run_hindcast(origins=(1975, 2000), sims=100, history=history)
    assert set(np.unique(ds["origin"].values)) == {1975, 2000}
    assert ds.attrs["end_n"] == ds.sizes["forecast"]
    assert ds["ended"].sum() == ds.attrs["end_events"] > 0
    assert -1 < ds.attrs["end_brier_skill"][0] < 1
    lo, hi = ds.attrs["end_brier_skill"][1:]
    assert lo <= ds.attrs["end_brier_skill"][0] <= hi
    with pytest.raises(atop.HistoryError, match="origin 2014 is outside the data"):
        hindcast.run_hindcast(origins=(2014,), history=history)
