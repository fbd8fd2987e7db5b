"""Analytic special cases of the model (design §4), run inside the full step function.

Each case switches on one module of a scenario whose other couplings are off and whose
uncertain inputs are fixed (``neutral_scenario``). Statistical checks use fixed seeds and a
tolerance of 5 Monte Carlo standard errors; deterministic checks use float32 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import neutral_scenario, run, se
from scipy import linalg, stats

N = 32
DT = 0.25
Z = 5.0  # tolerance in standard errors


def poisson_binomial_pmf(p: np.ndarray) -> np.ndarray:
    """pmf of the number of successes of independent Bernoulli(p_i) (standard DP)."""
    pmf = np.zeros(len(p) + 1)
    pmf[0] = 1.0
    for pi in p:
        pmf[1:] = pmf[1:] * (1 - pi) + pmf[:-1] * pi
        pmf[0] *= 1 - pi
    return pmf


def assert_pmf(counts: np.ndarray, expected: np.ndarray) -> None:
    """Every entry of the empirical pmf within Z standard errors of the expected pmf."""
    n = len(counts)
    observed = np.bincount(counts, minlength=len(expected))[: len(expected)] / n
    assert np.all(np.abs(observed - expected) <= Z * se(expected, n)), (observed, expected)


# ---- T1, T1b, T2, T3, T3b: membership and dissolution -------------------------------------


class TestConstantHazard:
    """T1: constant independent withdrawal hazard, no notice lag: binomial survivors."""

    h = 0.05
    S = 20_000

    @pytest.fixture(scope="class")
    def result(self):
        return run(neutral_scenario(params={"withdrawal_base_hazard": self.h}), self.S, seed=1)

    @pytest.mark.parametrize("k", [4, 20, 40])
    def test_members_pmf_is_binomial(self, result, k):
        surv = np.exp(-self.h * k * DT)
        assert_pmf(result.series["members"][k], stats.binom.pmf(np.arange(N + 1), N, surv))

    def test_no_exit_probability_and_geometric_first_exit(self, result):
        first = result.member_events["withdrawal_step"].min(axis=1)
        for k in (1, 8, 40):
            p = np.exp(-N * self.h * k * DT)
            assert abs((first > k).mean() - p) <= Z * se(p, self.S)
        q = 1 - np.exp(-N * self.h * DT)  # first exit step ~ Geometric(q)
        observed = np.bincount(np.minimum(first, 11), minlength=12)[1:11] / self.S
        assert np.all(
            np.abs(observed - stats.geom.pmf(np.arange(1, 11), q))
            <= Z * se(stats.geom.pmf(np.arange(1, 11), q), self.S)
        )

    def test_member_survival_curve_is_exponential(self, result):
        wd = result.member_events["withdrawal_step"]
        for k in (10, 40):
            p = np.exp(-self.h * k * DT)
            assert abs((wd > k).mean() - p) <= Z * se(p, self.S * N)

    def test_numpy_reference_agrees(self):
        res = run(
            neutral_scenario(params={"withdrawal_base_hazard": self.h}),
            4000,
            seed=1,
            backend="numpy",
        )
        surv = np.exp(-self.h * 40 * DT)
        assert_pmf(res.series["members"][40], stats.binom.pmf(np.arange(N + 1), N, surv))


def test_t1b_notice_lag_delays_exit_by_l_updates():
    h, lag, S = 0.08, 4, 20_000
    sc = neutral_scenario(
        params={"withdrawal_base_hazard": h}, sections={"alliance": {"notice_quarters": lag}}
    )
    res = run(sc, S, seed=2)
    wd = res.member_events["withdrawal_step"]
    for k in (1, 3, 4, 5, 12, 40):
        p = 1 - np.exp(-h * max(k - lag, 0) * DT)
        assert abs((wd <= k).mean() - p) <= Z * se(p, S * N) + 1e-12
        surv = 1 - p
        assert_pmf(res.series["members"][k], stats.binom.pmf(np.arange(N + 1), N, surv))
    # a notice always precedes its exit by exactly the lag
    notice = res.member_events["notice_step"]
    left = wd <= 40
    assert np.all(wd[left] - notice[left] == lag)


def test_t2_heterogeneous_hazards_give_poisson_binomial():
    """Sceptical governments (fixed, no turnover) multiply the hazard; the hegemon's is cut."""
    h, hr, p_pass, S = 0.04, 3.0, 0.25, 20_000
    sceptics = {i: {"sceptical_government": True} for i in range(0, N, 3)}
    sc = neutral_scenario(
        params={
            "withdrawal_base_hazard": h,
            "sceptic_hazard_ratio": hr,
            "hegemon_exit_pass": p_pass,
        },
        sections={"couplings": {"politics_withdrawal": True}},
        members=sceptics | {i: {"sceptical_government": False} for i in range(N) if i % 3},
    )
    res = run(sc, S, seed=3)
    rates = np.full(N, h)
    rates[list(sceptics)] *= hr
    rates[sc.hegemon_index] *= p_pass
    for k in (20, 40):
        surv = np.exp(-rates * k * DT)
        pmf = poisson_binomial_pmf(surv)
        assert_pmf(res.series["members"][k], pmf)
        mean = surv.sum()
        assert abs(res.series["members"][k].mean() - mean) <= Z * np.sqrt(
            (surv * (1 - surv)).sum() / S
        )


def test_t3_collapse_when_members_fall_below_minimum():
    h, n_min, S = 0.06, 26, 20_000
    sc = neutral_scenario(
        params={"withdrawal_base_hazard": h}, sections={"dissolution": {"min_members": n_min}}
    )
    res = run(sc, S, seed=4)
    for k in (8, 20, 40):
        p = stats.binom.cdf(n_min - 1, N, np.exp(-h * k * DT))
        collapsed = ~res.series["alive"][k]
        assert abs(collapsed.mean() - p) <= Z * se(p, S)
    cause = res.events["dissolution_cause"]
    assert set(np.unique(cause)) <= {0, 4}


def test_t3b_exogenous_dissolution_is_independent_of_membership():
    h_diss, h, S = 0.1, 0.05, 20_000
    sc = neutral_scenario(params={"dissolution_hazard": h_diss, "withdrawal_base_hazard": h})
    res = run(sc, S, seed=5)
    for k in (4, 20, 40):
        p = np.exp(-h_diss * k * DT)
        intact = res.series["alive"][k]
        assert abs(intact.mean() - p) <= Z * se(p, S)
        members = res.series["members"][k][intact]
        mean, var = N * np.exp(-h * k * DT), N * np.exp(-h * k * DT) * (1 - np.exp(-h * k * DT))
        assert abs(members.mean() - mean) <= Z * np.sqrt(var / len(members))


# ---- T4, T4a: Richardson arms race inside the full step ------------------------------------


def richardson_setup(kappa, beta_tau, k_a, a_a, step_months=3, steps=40, sigma_b=0.0):
    sc = neutral_scenario(
        params={
            "burden_adjustment": kappa,
            "threat_burden": beta_tau,
            "threat_power_elasticity": 1.0,
            "adversary_reactivity": k_a,
            "adversary_fatigue": a_a,
            "adversary_ceiling": 100.0,
            "burden_volatility": sigma_b,
        },
        sections={
            "couplings": {"threat_burden": True},
            "time": {"steps": steps, "step_months": step_months},
        },
    )
    dt = step_months / 12
    Y = sc.member_array("gdp")
    b0 = sc.member_array("burden") * sc.member_array("has_forces")
    prox = np.exp(-sc.member_array("distance_km") / 1000.0)
    A0 = sc.adversary.spending
    x0 = (b0 * Y).sum() / 100
    beta = beta_tau * (prox * Y * sc.member_array("has_forces")).sum() / 100 / A0
    g_x = kappa * (x0 - beta * A0)
    g_a = (sc.adversary.growth + a_a) * A0 - k_a * x0
    M = np.array([[-kappa, kappa * beta], [k_a, -a_a]])
    phi = np.eye(2) + dt * M
    c = dt * np.array([g_x, g_a])
    return sc, phi, c, np.array([x0, A0]), dt, M


def exact_path(phi, c, z0, steps):
    out = [z0]
    for _ in range(steps):
        out.append(c + phi @ out[-1])
    return np.array(out)


@pytest.mark.parametrize(
    "kappa, beta_tau, k_a, a_a, step_months, ode_stable, step_stable",
    [
        (0.5, 1.0, 0.01, 0.3, 3, True, True),  # stable node
        (0.5, 4.0, 0.5, 0.3, 3, False, False),  # saddle: ab < kl, runaway race
        (2.5, 0.5, 0.001, 2.5, 12, True, False),  # stable ODE, overshooting yearly step
        (2.5, 0.5, 0.001, 2.5, 3, True, True),  # the same system, quarterly step
    ],
    ids=["stable", "saddle", "ode-stable-step-unstable", "same-system-small-step"],
)
def test_t4_deterministic_richardson(
    kappa, beta_tau, k_a, a_a, step_months, ode_stable, step_stable
):
    steps = 24
    sc, phi, c, z0, dt, M = richardson_setup(kappa, beta_tau, k_a, a_a, step_months, steps)
    res = run(sc, 8, seed=6)
    sim = np.stack(
        [res.series["alliance_spending"][:, 0], res.series["adversary_spending"][:, 0]], axis=1
    ).astype(float)
    expected = exact_path(phi, c, z0, steps)
    # compare until the linear path would leave the box the kernel clips to (A >= 0, b >= 0)
    inside = np.all(expected > 0.3 * z0, axis=1)
    n = steps + 1 if inside.all() else int(np.argmin(inside))
    assert n >= 8
    np.testing.assert_allclose(sim[:n], expected[:n], rtol=2e-4)
    a, k, l_, b = M[0, 0] * -1, M[0, 1], M[1, 0], M[1, 1] * -1
    z_star = np.linalg.solve(np.eye(2) - phi, c)  # = (x*, y*) of the ODE
    ode_star = np.array([(b * c[0] / dt + k * c[1] / dt), (a * c[1] / dt + l_ * c[0] / dt)]) / (
        a * b - k * l_
    )
    np.testing.assert_allclose(z_star, ode_star, rtol=1e-9)
    rho = max(abs(np.linalg.eigvals(phi)))
    dev = np.linalg.norm(sim[:n] - z_star, axis=1)
    if rho < 1:
        # converges (to float32 resolution of the recorded values)
        assert dev[-1] < max(dev[0] * rho ** ((n - 1) / 2), 1e-5 * np.linalg.norm(z_star))
    else:
        assert dev[-1] > dev[0] * rho ** ((n - 1) / 2)
    assert (a * b > k * l_) == ode_stable
    assert (rho < 1) == step_stable


def test_t4a_stochastic_richardson_moments():
    """Noise on the alliance side only: stationary mean, Lyapunov covariance, lag-1 ΦV."""
    kappa, beta_tau, k_a, a_a, sigma_b, S, steps = 0.8, 1.0, 0.02, 0.5, 0.1, 6000, 160
    sc, phi, c, _, dt, _ = richardson_setup(kappa, beta_tau, k_a, a_a, 3, steps, sigma_b)
    res = run(sc, S, seed=7)
    z = np.stack(
        [res.series["alliance_spending"], res.series["adversary_spending"]], axis=-1
    ).astype(float)  # (steps+1, S, 2)
    mu = np.linalg.solve(np.eye(2) - phi, c)
    Y = sc.member_array("gdp") * sc.member_array("has_forces")
    sigma = np.diag([dt * sigma_b**2 * ((Y / 100) ** 2).sum(), 0.0])
    V = linalg.solve_discrete_lyapunov(phi, sigma)
    last, prev = z[-1], z[-2]
    se_mean = np.sqrt(np.diag(V) / S)
    assert np.all(np.abs(last.mean(axis=0) - mu) <= Z * se_mean)
    cov = np.cov(last.T)
    cov_se = np.sqrt((V**2 + np.outer(np.diag(V), np.diag(V))) / S)
    assert np.all(np.abs(cov - V) <= Z * cov_se)
    lag1 = (last - last.mean(0)).T @ (prev - prev.mean(0)) / (S - 1)
    assert np.all(np.abs(lag1 - phi @ V) <= Z * cov_se)


# ---- T5: burden partial adjustment and target pull ----------------------------------------


def test_t5_partial_adjustment_to_a_constant_desired_burden():
    kappa, beta_tau, h_bar = 0.4, 1.5, 0.7
    sc = neutral_scenario(
        params={
            "burden_adjustment": kappa,
            "threat_burden": beta_tau,
            "hostility_reversion": 1 / DT,
        },  # hostility jumps to its level in one step
        sections={"couplings": {"threat_burden": True}, "adversary": {"hostility_level": h_bar}},
    )
    res = run(sc, 4, seed=8, member_traces=True)
    b = res.members["burden"][:, 0, :].astype(float)
    b0 = sc.member_array("burden") * sc.member_array("has_forces")
    prox = np.exp(-sc.member_array("distance_km") / 1000.0)
    b_star = b0 + beta_tau * prox * (np.exp(h_bar) - 1) * sc.member_array("has_forces")
    k = np.arange(1, 41)[:, None]
    expected = b_star + (b0 - b_star) * (1 - kappa * DT) ** (k - 1)
    np.testing.assert_allclose(b[1:], expected, rtol=1e-5, atol=1e-5)


def test_t5_noise_gives_ar1_with_known_stationary_variance():
    kappa, sigma_b, S = 1.0, 0.15, 8000
    sc = neutral_scenario(
        params={"burden_adjustment": kappa, "burden_volatility": sigma_b},
        sections={"time": {"steps": 80}},
    )
    res = run(sc, S, seed=9, member_traces=True)
    i = 10  # any member with forces
    b = res.members["burden"][:, :, i].astype(float)
    var = sigma_b**2 * DT / (1 - (1 - kappa * DT) ** 2)
    assert abs(b[-1].var() - var) <= Z * var * np.sqrt(2 / S)
    r = np.corrcoef(b[-1], b[-2])[0, 1]
    assert abs(r - (1 - kappa * DT)) <= Z * (1 - r**2) / np.sqrt(S)


def test_t5_target_pull_closes_the_gap_geometrically():
    lam, target = 0.6, 3.5
    sc = neutral_scenario(
        params={"target_pull": lam},
        sections={"targets": {"initial": target, "final": target, "incremental": False}},
        members={i: {"sceptical_government": False} for i in range(N)},
    )
    res = run(sc, 4, seed=10, member_traces=True)
    b = res.members["burden"][:, 0, :].astype(float)
    b0 = sc.member_array("burden")
    below = (b0 < target) & sc.member_array("has_forces").astype(bool)
    k = np.arange(41)[:, None]
    expected = target - (target - b0[below]) * (1 - lam * DT) ** k
    np.testing.assert_allclose(b[:, below], expected, rtol=1e-5)
    np.testing.assert_allclose(
        b[:, ~below & (b0 > 0)],
        np.broadcast_to(b0[~below & (b0 > 0)], (41, (~below & (b0 > 0)).sum())),
        rtol=1e-6,
    )


# ---- T7, T8, T9, T10 ----------------------------------------------------------------------


def test_t7_government_orientation_is_a_stationary_two_state_chain():
    h_gov, s_skep, S = 0.6, 0.3, 20_000
    data_members = {i: {"sceptical_share": {"dist": "fixed", "value": s_skep}} for i in range(N)}
    sc = neutral_scenario(params={"government_change_rate": h_gov}, members=data_members)
    res = run(sc, S, seed=11, member_traces=True)
    skep = res.members["sceptical"][:, :, :8]  # 8 members suffice: 160,000 member-histories
    n = skep[0].size
    for k in (0, 10, 40):
        assert abs(skep[k].mean() - s_skep) <= Z * se(s_skep, n)
    p_gov = 1 - np.exp(-h_gov * DT)
    pro_now, skep_next = ~skep[:-1], skep[1:]
    p_ps = skep_next[pro_now].mean()  # pro -> sceptic
    assert abs(p_ps - p_gov * s_skep) <= Z * se(p_gov * s_skep, pro_now.sum())
    p_sp = (~skep_next)[skep[:-1]].mean()  # sceptic -> pro
    assert abs(p_sp - p_gov * (1 - s_skep)) <= Z * se(p_gov * (1 - s_skep), skep[:-1].sum())


def test_t8_gdp_is_geometric_brownian_with_a_common_factor():
    g, sigma, rho, S = 0.02, 0.03, 0.6, 20_000
    sc = neutral_scenario(
        params={"gdp_volatility": sigma, "gdp_common_share": rho},
        sections={
            "member_parameters": {
                "growth": {"dist": "fixed", "value": g},
                "sceptical_share": {"dist": "fixed", "value": 0.2},
            }
        },
    )
    res = run(sc, S, seed=12, member_traces=True)
    Y = res.members["gdp"].astype(float)
    Y0 = sc.member_array("gdp")
    k = 40
    ratio = Y[k] / Y0
    mean = np.exp(g * k * DT)
    sd = mean * np.sqrt(np.exp(sigma**2 * k * DT) - 1)
    assert np.all(np.abs(ratio.mean(axis=0) - mean) <= Z * sd / np.sqrt(S))
    logr = np.log(ratio)
    var = sigma**2 * k * DT
    assert np.all(np.abs(logr.var(axis=0) - var) <= Z * var * np.sqrt(2 / S))
    r = np.corrcoef(logr[:, 0], logr[:, 5])[0, 1]
    assert abs(r - rho) <= Z * (1 - rho**2) / np.sqrt(S)


def test_t9_pandemic_count_is_binomial():
    h, S = 0.2, 20_000
    res = run(neutral_scenario(params={"pandemic_rate": h}), S, seed=13)
    p = 1 - np.exp(-h * DT)
    for k in (4, 40):
        assert_pmf(res.series["pandemics"][k], stats.binom.pmf(np.arange(k + 1), k, p))
    p10 = 1 - np.exp(-10 * h)
    assert abs((res.series["pandemics"][40] >= 1).mean() - p10) <= Z * se(p10, S)


def test_t9_default_pandemic_rate_gives_18_percent_in_ten_years():
    assert np.isclose(1 - np.exp(-10 * 0.02), 0.181, atol=5e-4)
    res = run(neutral_scenario(params={"pandemic_rate": 0.02}), 20_000, seed=14)
    p = 1 - np.exp(-0.2)
    assert abs((res.series["pandemics"][40] >= 1).mean() - p) <= Z * se(p, 20_000)


def test_t10_constant_conflict_hazard(backend):
    h, S = 0.05, 20_000 if backend == "numba" else 5000
    res = run(neutral_scenario(params={"war_base_hazard": h}), S, seed=15, backend=backend)
    onset = res.events["onset_step"]
    for k in (1, 10, 40):
        p = 1 - np.exp(-h * k * DT)
        assert abs((onset <= k).mean() - p) <= Z * se(p, S)


def test_t10_deterministic_time_varying_hazard():
    """Hostility rises deterministically to its level; hazard h0·exp(β_H H_k)."""
    h0, beta_h, theta, h_bar, S = 0.03, 1.2, 0.3, 1.0, 20_000
    sc = neutral_scenario(
        params={"war_base_hazard": h0, "war_hostility": beta_h, "hostility_reversion": theta},
        sections={"adversary": {"hostility_level": h_bar}},
    )
    res = run(sc, S, seed=16)
    k = np.arange(41)
    H = h_bar * (1 - (1 - theta * DT) ** k)
    hz = h0 * np.exp(beta_h * H)
    np.testing.assert_allclose(res.series["conflict_hazard"][:, 0], hz, rtol=1e-5)
    onset = res.events["onset_step"]
    for kk in (4, 20, 40):
        p = 1 - np.exp(-DT * hz[:kk].sum())
        assert abs((onset <= kk).mean() - p) <= Z * se(p, S)
