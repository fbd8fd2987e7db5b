"""Model 2's corrections (docs/model.md §4a): each is shown to fail on model 1's
equation and to hold on model 2's, plus analytic cases of the new mechanisms."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import neutral_scenario, run, se
from scipy import stats

from alliance_risk.models import equations as eq
from alliance_risk.models.equations import ufuncs as E
from alliance_risk.models.kernel import simulate
from alliance_risk.models.layout import NEVER
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import load_scenario

DT = 0.25
Z = 5.0
rng = np.random.default_rng(0)


# ---- E9 adversary ----------------------------------------------------------------------------


def test_model1_adversary_spending_falls_when_hostility_rises():
    """Model 1 set the grievance g_A per draw to match the observed growth; with a high fatigue
    it is negative, and then e^H multiplies a negative number."""
    A0, fatigue, reactivity, flow0, growth = 149.0, 0.45, 0.05, 1550.0, 0.034
    grievance = growth * A0 + fatigue * A0 - reactivity * flow0  # design E9
    assert grievance < 0
    calm = eq.adversary_next_model1(
        A0, fatigue, reactivity, flow0, grievance, 0.0, 0.1, 0.0, 1e9, DT
    )
    hostile = eq.adversary_next_model1(
        A0, fatigue, reactivity, flow0, grievance, 1.5, 0.1, 0.0, 1e9, DT
    )
    assert hostile < calm


def test_model2_adversary_spending_is_non_decreasing_in_hostility_over_the_priors():
    n = 200_000
    x = np.log(149.0) + rng.normal(0, 0.5, n)
    args = dict(
        x0=np.log(149.0),
        trend=0.034,
        t=rng.uniform(0, 10, n),
        reversion=rng.uniform(0.1, 0.5, n),
        hostility_effect=rng.uniform(0.02, 0.2, n),
        reactivity=rng.uniform(0, 0.3, n),
        log_flow_ratio=rng.normal(0, 0.3, n),
        sigma=rng.uniform(0.05, 0.15, n),
        z=rng.normal(size=n),
        log_ceiling_share=np.log(rng.uniform(8, 12, n) / 100),
        log_gdp=np.log(2200.0) + rng.normal(0, 0.1, n),
        dt=DT,
    )
    H = rng.normal(0, 1.5, n)

    def step(h):
        a = args
        return E.adversary_next(
            x,
            a["x0"],
            a["trend"],
            a["t"],
            a["reversion"],
            a["hostility_effect"],
            h,
            a["reactivity"],
            a["log_flow_ratio"],
            a["sigma"],
            a["z"],
            a["log_ceiling_share"],
            a["log_gdp"],
            a["dt"],
        )

    assert np.all(step(H + 0.5) >= step(H))
    assert np.all(np.isfinite(step(H)))


def test_soft_ceiling_is_increasing_below_the_ceiling_and_bends_under_it():
    c = np.log(220.0)
    x = np.linspace(np.log(50.0), np.log(800.0), 2001)
    y = E.soft_ceiling(x, np.full_like(x, c))
    assert np.all(np.diff(y) > 0)
    assert np.all(y <= np.minimum(x, c) + 1e-12)
    assert abs(E.soft_ceiling(np.log(100.0), c) - np.log(100.0)) < 1e-6  # far below: identity
    assert c - E.soft_ceiling(np.log(800.0), c) < 1e-9  # far above: the ceiling


def test_adversary_spending_rarely_collapses_in_nato_2025():
    """docs/model.md §4a (E9): P(A_T < 0.25 A_0) < 1% (model 1: A reached 0 in about 5%)."""
    sc = load_scenario("nato-2025")
    res = simulate(sc, sample_parameters(sc, 5000, rng), np.random.default_rng(1))
    assert np.mean(res.series["adversary_spending"][-1] < 0.25 * sc.adversary.spending) < 0.01
    assert np.all(res.series["adversary_spending"] > 0)


# ---- E15 attack hazard ----------------------------------------------------------------------


def test_model1_hazard_cannot_see_a_weak_start():
    """Normalised by the run's own start, model 1 gives every scenario the base hazard at t=0."""
    args = dict(
        base=0.0035, b_host=1.0, H=0.0, b_cred=1.0, b_bal=0.5, R=2.0, R0=2.0, b_arms=0.0, arms=0.0
    )
    weak = eq.war_hazard_model1(Q=0.50, Q0=0.50, **args)
    strong = eq.war_hazard_model1(Q=0.69, Q0=0.69, **args)
    assert weak == pytest.approx(strong)
    m2 = dict(
        base=0.0035,
        b_host=1.0,
        H=0.0,
        b_cred=1.0,
        Q_ref=0.704,
        b_bal=0.5,
        R=3.6,
        R_ref=3.618,
        b_arms=0.0,
        arms=0.0,
    )
    assert eq.war_hazard(Q=0.50, **m2) > 1.5 * eq.war_hazard(Q=0.69, **m2)


def test_model1_hazard_falls_towards_zero_at_extreme_hostility():
    """E11 linear in M = e^H pushes commitment (hence Q) to 1 and (1 - Q)^β_Q to 0."""
    H = np.linspace(0, 4, 41)
    c = 1 / (1 + np.exp(-(np.log(3) + 1.0 * (np.exp(H) - 1))))
    h = [
        eq.war_hazard_model1(0.0035, 0.5, x, 1.5, q, 0.75, 0.0, 1.0, 1.0, 0.0, 0.0)
        for x, q in zip(H, c, strict=True)
    ]
    assert h[-1] < 0.01 * max(h)


def test_model2_hazard_is_non_decreasing_in_hostility_through_commitment_too():
    """Model 2: saturated rally (tanh ln M) with β_cτ <= 0.3, floor on 1 - Q, saturated s(H):
    the composite hazard rises with H for every draw of the shipped priors."""
    n = 5000
    b_host, b_cred = rng.uniform(0.5, 1.5, n), rng.uniform(0.1, 1.5, n)
    b_threat, cbar = rng.uniform(0, 0.3, n), rng.beta(6.5, 2.2, n)
    prev = None
    for H in np.linspace(-2, 8, 101):
        M = np.exp(H)
        logit = E.commitment_logit(np.log(cbar / (1 - cbar)), 0, 1, 0, 0, 0, b_threat, M, 0, 0, 0)
        Q = 1 / (1 + np.exp(-logit))
        h = E.war_hazard(0.0035, b_host, H, b_cred, Q, 0.704, 0.5, 3.6, 3.618, 0.0, 0.0)
        if prev is not None:
            assert np.all(h >= prev * (1 - 1e-12))
        prev = h


def test_hazard_function_is_monotone_in_each_argument():
    H = rng.normal(0, 3, 20_000)
    Q, R = rng.uniform(0, 1, 20_000), rng.lognormal(1, 1, 20_000)
    b = [rng.uniform(0.5, 1.5, 20_000), rng.uniform(0.1, 1.5, 20_000), rng.uniform(0, 1, 20_000)]

    def h(H, Q, R):
        return E.war_hazard(0.0035, b[0], H, b[1], Q, 0.704, b[2], R, 3.618, 0.5, 0.0)

    base = h(H, Q, R)
    assert np.all(h(H + 0.3, Q, R) >= base)
    assert np.all(h(H, np.minimum(Q + 0.1, 1), R) <= base)
    assert np.all(h(H, Q, R * 1.3) <= base)
    assert np.all(np.isfinite(h(H, np.ones_like(Q), np.zeros_like(R))))  # floors hold


# ---- E12 hegemon presence ------------------------------------------------------------------


def test_hegemon_forces_count_in_the_local_balance_and_a_pivot_lowers_it():
    sc = load_scenario("nato-2025")
    prox_us = np.exp(-7822 / 1000.0)
    assert prox_us < 1e-3  # model 1: the US entered R with its capital's proximity
    assert eq.local_balance_weight(1.0, prox_us, 0.09, 1.2) > 100 * prox_us
    params = sample_parameters(sc, 2000, np.random.default_rng(3))
    col = sc.parameter_names.index("pivot_rate")
    stay, pivot = params.copy(), params.copy()
    stay[:, col], pivot[:, col] = 0.0, 0.05
    a = simulate(sc, stay, np.random.default_rng(4))
    b = simulate(sc, pivot, np.random.default_rng(4))
    drop = 1 - b.series["local_balance"][-1] / a.series["local_balance"][-1]
    assert np.median(drop) > 0.05


# ---- E7 burden: plans and holding a met target ---------------------------------------------


def test_members_at_the_guideline_are_not_shed_by_noise():
    """Model 1 (no hold): symmetric noise takes allies sitting at 2.00% below it at once."""
    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, 4000, np.random.default_rng(5))
    m1 = sc.replace(targets={**sc.targets.model_dump(), "hold_when_met": False})
    a = simulate(m1, params, np.random.default_rng(6))
    b = simulate(sc, params, np.random.default_rng(6))
    assert a.n_meeting[0, :, 0].mean() == b.n_meeting[0, :, 0].mean() == 31
    assert a.n_meeting[4, :, 0].mean() < 28.5  # a year on, without holding
    assert b.n_meeting[4, :, 0].mean() > 30.0  # only sceptical governments and slips fall


def test_a_declared_plan_is_the_anchor_of_the_desired_burden():
    """κ only, no noise or pull: b_{k+1} = b_k + Δ κ (anchor_k − b_k), anchor linear to the plan."""
    kappa = 0.8
    sc = neutral_scenario(
        params={"burden_adjustment": kappa},
        members={10: {"plan_burden": 3.5, "plan_quarter": "2029Q4", "plan_source": "test"}},
    )
    res = run(sc, 2, seed=1, member_traces=True)
    b0 = sc.members[10].burden
    steps = np.arange(40)
    anchor = b0 + (3.5 - b0) * np.clip(steps * DT / 4.75, 0, 1)
    b = [b0]
    for k in range(40):
        b.append(b[-1] + DT * kappa * (anchor[k] - b[-1]))
    np.testing.assert_allclose(res.members["burden"][:, 0, 10], b, rtol=1e-5)
    assert res.members["burden"][-1, 0, 10] > 3.4


def test_plan_needs_a_date_and_a_source():
    from alliance_risk.models.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"members\[3\].*plan_burden and plan_quarter"):
        neutral_scenario(members={3: {"plan_burden": 3.0}})
    with pytest.raises(ScenarioError, match=r"members\[3\].plan_source is required"):
        neutral_scenario(members={3: {"plan_burden": 3.0, "plan_quarter": "2030Q1"}})


# ---- Article 5: joint abandonment ---------------------------------------------------------


def test_a_common_factor_keeps_each_allys_honour_rate_but_makes_abandonment_joint():
    n, allies, c = 200_000, 30, 0.75
    common = rng.normal(size=(n, 1))
    own = rng.normal(size=(n, allies))
    rates = {}
    for rho in (0.0, 0.5):
        rates[rho] = E.honours(common, own, rho, c).mean(axis=1)
        # rows are independent; allies within a row are not (that is the point)
        assert abs(rates[rho].mean() - c) < 5 * rates[rho].std() / np.sqrt(n)
    p_ind = stats.binom.cdf(14, allies, c)  # independent draws: P(fewer than half) = 0.0007
    assert abs(np.mean(rates[0.0] < 0.5) - p_ind) <= Z * se(p_ind, n)
    assert np.mean(rates[0.5] < 0.5) > 50 * p_ind  # common factor: joint abandonment is real


# ---- observed starting state; E15b -------------------------------------------------------


def test_an_observed_pending_notice_takes_effect_after_its_quarters():
    sc = neutral_scenario(
        members={
            5: {"notice_pending": 3, "state_source": "test"},
            6: {"disengaged": True, "state_source": "test"},
        },
        sections={"alliance": {"notice_quarters": 4}},
    )
    res = run(sc, 500, seed=2, member_traces=True)
    assert np.all(res.member_events["withdrawal_step"][:, 5] == 3)
    assert np.all(res.member_events["notice_step"][:, 5] == 0)
    assert np.all(res.members["disengaged"][0, :, 6])
    assert np.all(res.member_events["withdrawal_step"][:, [4, 7]] == NEVER)


def test_intra_alliance_dispute_has_the_membership_reduced_constant_hazard():
    """E15b with no exits: P(dispute <= k) = 1 − exp(−h0 e^(−β) k Δ)."""
    h0, beta, S = 0.2, 0.7, 20_000
    sc = neutral_scenario(
        params={"dyad_base_hazard": h0, "dyad_membership_effect": beta},
        sections={"alliance": {"dyads": [["GRC", "TUR"]], "dyads_source": "test"}},
    )
    res = run(sc, S, seed=3)
    for k in (4, 20, 40):
        p = 1 - np.exp(-h0 * np.exp(-beta) * k * DT)
        assert abs((res.events["dispute_step"] <= k).mean() - p) <= Z * se(p, S)


def test_dyads_must_name_members():
    from alliance_risk.models.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"alliance.dyads\[0\] names 'XXX'"):
        neutral_scenario(sections={"alliance": {"dyads": [["GRC", "XXX"]], "dyads_source": "t"}})
