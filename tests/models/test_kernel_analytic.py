"""Analytic special cases of the model (design §4), run inside the full step function.

Each case switches on one module of a scenario whose other couplings are off and whose
uncertain inputs are fixed (``neutral_scenario``). Statistical checks use fixed seeds and a
tolerance of 5 Monte Carlo standard errors; deterministic checks use float32 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import neutral_scenario, run, se
from scipy import stats

pytestmark = pytest.mark.slow  # statistical: thousands of simulations per test

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


# ---- T4, T4a: the adversary's spending (E9, model 2: log-linear Richardson) ----------------
# Model 2 writes E9 in logs, x = ln A, with reversion to the trend ln A_0 + g_A t. With no
# reaction to the alliance (k_A = 0) and the ceiling far away, the deviation from the trend
# d = x - ln A_0 - g_A t is a linear recursion: d' = (1 - a_A dt) d + beta_AH dt H + sigma_A
# sqrt(dt) eps. Model 1's linear Richardson form (and its T4 tests) is gone: it let spending
# fall as hostility rose (docs/model.md, "Model 2").


def adversary_scenario(a_a, beta_h=0.0, sigma_a=0.0, theta=0.3, h_bar=0.0, steps=40):
    return neutral_scenario(
        params={
            "adversary_fatigue": a_a,
            "adversary_hostility_effect": beta_h,
            "adversary_volatility": sigma_a,
            "adversary_ceiling": 100.0,  # ln(A / ceiling) < -2.7: the soft ceiling is exact 0
            "hostility_reversion": theta,
        },
        sections={"adversary": {"hostility_level": h_bar}, "time": {"steps": steps}},
    )


@pytest.mark.parametrize(
    "a_a, beta_h, h_bar", [(0.3, 0.1, 1.0), (0.05, 0.2, -0.5), (1.0, 0.0, 2.0)]
)
def test_t4_adversary_follows_its_deterministic_recursion(a_a, beta_h, h_bar):
    theta = 0.3
    sc = adversary_scenario(a_a, beta_h, theta=theta, h_bar=h_bar)
    res = run(sc, 4, seed=6)
    k = np.arange(41)
    H = h_bar * (1 - (1 - theta * DT) ** k)
    d = np.zeros(41)
    for j in range(40):
        d[j + 1] = (1 - a_a * DT) * d[j] + beta_h * DT * H[j]
    expected = sc.adversary.spending * np.exp(sc.adversary.growth * k * DT + d)
    np.testing.assert_allclose(res.series["hostility"][:, 0], H, atol=2e-6)
    np.testing.assert_allclose(res.series["adversary_spending"][:, 0], expected, rtol=2e-5)


def test_t4_higher_hostility_never_lowers_adversary_spending():
    low = run(adversary_scenario(0.3, 0.1, h_bar=0.0), 4, seed=6)
    high = run(adversary_scenario(0.3, 0.1, h_bar=0.8), 4, seed=6)
    assert np.all(high.series["adversary_spending"] >= low.series["adversary_spending"])
    assert high.series["adversary_spending"][-1, 0] > 1.05 * low.series["adversary_spending"][-1, 0]


def test_t4a_adversary_log_deviation_is_ar1():
    """With noise: d_k ~ N(0, sigma^2 dt sum_j phi^2j), lag-1 covariance phi Var(d_{k-1})."""
    a_a, sigma_a, S = 0.4, 0.12, 20_000
    sc = adversary_scenario(a_a, sigma_a=sigma_a)
    res = run(sc, S, seed=7)
    k = np.arange(41)
    d = np.log(res.series["adversary_spending"].astype(float)) - np.log(sc.adversary.spending)
    d -= sc.adversary.growth * k[:, None] * DT
    phi = 1 - a_a * DT
    var = sigma_a**2 * DT * np.cumsum(np.r_[0.0, phi ** (2 * k[:-1])])
    for kk in (4, 20, 40):
        assert abs(d[kk].mean()) <= Z * np.sqrt(var[kk] / S)
        assert abs(d[kk].var() - var[kk]) <= Z * var[kk] * np.sqrt(2 / (S - 1))
    lag1 = np.mean((d[40] - d[40].mean()) * (d[39] - d[39].mean()))
    assert abs(lag1 - phi * var[39]) <= Z * var[39] * np.sqrt(2 / S)


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
    """Hostility rises deterministically to its level; hazard h0·exp(β_H s(H_k)), with
    model 2's saturation s(H) = H / (1 + |H| / 3)."""
    h0, beta_h, theta, h_bar, S = 0.03, 1.2, 0.3, 1.0, 20_000
    sc = neutral_scenario(
        params={"war_base_hazard": h0, "war_hostility": beta_h, "hostility_reversion": theta},
        sections={"adversary": {"hostility_level": h_bar}},
    )
    res = run(sc, S, seed=16)
    k = np.arange(41)
    H = h_bar * (1 - (1 - theta * DT) ** k)
    hz = h0 * np.exp(beta_h * H / (1 + np.abs(H) / 3))
    np.testing.assert_allclose(res.series["conflict_hazard"][:, 0], hz, rtol=1e-5)
    onset = res.events["onset_step"]
    for kk in (4, 20, 40):
        p = 1 - np.exp(-DT * hz[:kk].sum())
        assert abs((onset <= kk).mean() - p) <= Z * se(p, S)
