"""Every equation of the model, written once (docs/model.md, E1-E15b).

Each function is a small scalar formula compiled by numba. The fused step
(``fused``) calls them inside its loops over simulations and members; the
vectorised reference (``reference``) calls the same functions turned into numpy
ufuncs by ``numba.vectorize`` (``equations.ufuncs``). Both paths therefore run the
same compiled arithmetic, and in float64 they agree to round-off on every output.

Conventions: all hazards are annual rates, a step of ``dt`` years turns a hazard h into the
event probability ``1 - exp(-h dt)``; boolean inputs are passed as 0.0/1.0.
"""

from __future__ import annotations

import inspect
import math

import numba


def equation(fn):
    """Compile ``fn`` for numba and mark it for inlining at numba's IR level.

    The fused step inlines it into its loops, where LLVM's vectoriser sees its arithmetic
    (a call to a separately compiled function keeps those loops scalar: measured 1.7x
    slower); the reference compiles the same source as a float64 ufunc (``ufuncs``).
    """
    return numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")(fn)


# --- constants of model 2 (docs/model.md, "Model 2") ----------------------------------------
HOSTILITY_SATURATION = 3.0  # H scale at which the attack hazard's hostility term saturates
CREDIBILITY_CAP = 0.95  # floor 1 - Q >= 0.05 in the attack hazard
BALANCE_FLOOR = 0.1  # the local balance ratio R / R_ref is floored here in the hazard
CEILING_SHARPNESS = 20.0  # 1 / width (log points) of the adversary's soft spending ceiling


@equation
def event_probability(h, dt):
    """Probability of an event with annual hazard ``h`` in a step: ``p = 1 - exp(-h dt)``."""
    return -math.expm1(-h * dt)


# --- E1 shocks ------------------------------------------------------------------------------
@equation
def poisson_inverse(u, lam, p0):
    """Poisson(lam) count by inverse CDF: the number of k with F(k) < u (E1 crises, cyber).
    ``p0 = exp(-lam)`` is computed once per simulation."""
    pmf = p0
    cdf = pmf
    n = 0.0
    while u > cdf and pmf > 0.0:
        n += 1.0
        pmf = pmf * lam / n
        cdf += pmf
    return n


@equation
def hostility_jump(n_cyber, cyber_impact, n_crises, crisis_mean, crisis_sd, z):
    """E1: ``ΔH = η_cyb N_cyb + μ_J N_J + s_J √N_J z`` (sum of N_J normal crisis jumps)."""
    return cyber_impact * n_cyber + crisis_mean * n_crises + crisis_sd * math.sqrt(n_crises) * z


# --- E2 economy -----------------------------------------------------------------------------
@equation
def pandemic_shock(loss):
    """E1: the log-GDP shock ``ln(1 − L_pand)`` of a pandemic (0 for L = 0)."""
    return math.log1p(-loss)


@equation
def log_gdp_next(y, growth, sigma, rho, z_common, z_own, shock, dt):
    """E2: ``y' = y + (g − σ²/2)Δ + σ√Δ(√ρ z + √(1−ρ) z_i) + shock`` (``pandemic_shock``)."""
    return (
        y
        + (growth - sigma * sigma / 2.0) * dt
        + sigma * math.sqrt(dt) * (math.sqrt(rho) * z_common + math.sqrt(1.0 - rho) * z_own)
        + shock
    )


# --- E3 hostility, E4 threat perception -----------------------------------------------------
@equation
def hostility_next(H, reversion, level, sigma, z, jump, dt):
    """E3: ``H' = H + θ_H (H̄ − H) Δ + σ_H √Δ ξ + jumps``."""
    return H + reversion * (level - H) * dt + sigma * math.sqrt(dt) * z + jump


@equation
def log_threat_common(H, elasticity, adversary, adversary0):
    """E4, the common part of ln M: ``H + ω ln(A / A_0)`` (A floored at 1e-6 A_0)."""
    return H + elasticity * math.log(max(adversary, 1e-6 * adversary0) / adversary0)


@equation
def threat_idio_next(u, phi, sd, z):
    """E4: idiosyncratic perception AR(1) ``u' = φ_u u + σ_u √(1−φ_u²) ε`` (sd given whole)."""
    return phi * u + sd * z


@equation
def proximity(distance, scale, frontline_bonus, frontline):
    """E4: ``prox_i = exp(−d_i / d0) + ζ F_i``."""
    return math.exp(-distance / scale) + frontline_bonus * frontline


# --- E5 public support, E6 government ------------------------------------------------------
@equation
def support_next(P, reversion_dt, pbar, rally, M, M_prev, friction_drop, sigma_sqdt, z):
    """E5: ``P' = P + θ_P (P̄ − P) Δ + β_Pτ (M_t − M_{t−1}) − β_PF ΔF [hegemon] + σ_P √Δ ε``."""
    return P + reversion_dt * (pbar - P) + rally * (M - M_prev) - friction_drop + sigma_sqdt * z


@equation
def pro_government_probability(gamma0, gamma1, P):
    """E6: a new government is pro-alliance with ``logistic(γ0_i + γ1 P)``."""
    return 1.0 / (1.0 + math.exp(-(gamma0 + gamma1 * P)))


# --- E7 burden sharing ----------------------------------------------------------------------
@equation
def allies_burden(ybsum, ysum, yb_own, b_own):
    """E7: allies' GDP-weighted burden ``B̄_−i = (Σ Y b − Y_i b_i) / (Σ Y − Y_i)`` (0 if alone)."""
    den = ysum - yb_own
    return (ybsum - yb_own * b_own) / den if den > 0 else 0.0


@equation
def desired_burden(anchor, threat_burden, tau, tau0, free_riding, bbar, bbar0):
    """E7: ``b* = anchor_i,t + β_τ (τ − τ_0) + β_FR (B̄_−i − B̄_−i,0)``.

    Model 2: the anchor is the member's declared national plan where it has one (linear from
    b_0 to the plan's level by its date, flat after), else its starting burden b_0.
    """
    return anchor + threat_burden * (tau - tau0) + free_riding * (bbar - bbar0)


@equation
def burden_hold_level(b, target, guideline):
    """E7 (model 2): the level a compliant government that has met a target holds.

    The current target if met, else the guideline (the initial target, 2% for NATO) if met,
    else 0 (nothing held). Only a slippage event lets such a member fall below it.
    """
    return target if b >= target else (guideline if b >= guideline else 0.0)


@equation
def burden_next(b, bstar, goal, adjust, pull, comply, sigma_sqdt, z, hold, bmin, bmax, dt):
    """E7: ``b' = clip(max(hold, b + Δ[κ_eff (b* − b) + λ_T c_G (goal − b)_+] + σ_b √Δ ε))``.

    ``c_G`` is 1 for a pro-alliance government and π_skep for a sceptical one; ``hold`` is
    the level a compliant government keeps (``burden_hold_level``) or 0.
    """
    gap = max(goal - b, 0.0)
    nb = b + dt * (adjust * (bstar - b) + pull * comply * gap) + sigma_sqdt * z
    return min(max(max(nb, hold), bmin), bmax)


# --- E8 spending and capability -------------------------------------------------------------
@equation
def theatre_weight(is_hegemon, hegemon_share, disengaged, disengaged_contribution):
    """E8: ``ω_i = ρ_US`` for the hegemon, ``1 − dis_i (1 − ω_dis)`` for the others."""
    if is_hegemon > 0.5:
        return hegemon_share
    return 1.0 - disengaged * (1.0 - disengaged_contribution)


@equation
def capability_next(K, depreciation, spending, dt):
    """E8: ``K' = (1 − δ_K Δ) K + D Δ``."""
    return (1.0 - depreciation * dt) * K + spending * dt


# --- E9 adversary ---------------------------------------------------------------------------
@equation
def soft_ceiling(x, ceiling):
    """E9 (model 2): ``x − softplus_k(x − c)``, k = CEILING_SHARPNESS: ≈ x well below the
    log ceiling c, → c above it, and increasing in x everywhere (so monotone in threat)."""
    z = CEILING_SHARPNESS * (x - ceiling)
    if z < -40.0:  # softplus(z) < 4e-18: below round-off of x
        return x
    sp = z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))
    return x - sp / CEILING_SHARPNESS


@equation
def adversary_next(
    x,
    x0,
    trend,
    t,
    reversion,
    hostility_effect,
    H,
    reactivity,
    log_flow_ratio,
    sigma,
    z,
    log_ceiling_share,
    log_gdp,
    dt,
):
    """E9 (model 2): log adversary spending x = ln A.

    ``x̃ = x + Δ[g_A − a_A (x − x_0 − g_A t) + β_AH H + k_A ln(X_t / X_0)] + σ_A √Δ ε``,
    then ``x' = soft_ceiling(x̃, ln(b_max,A / 100) + ln Y_A)``, with Y_A the adversary's GDP.
    Every response (to hostility, to the alliance's spending X, to its own past) is
    non-decreasing, so a higher hostility path never gives lower spending; spending stays
    positive and bends under a ceiling that grows with the adversary's economy. At t = 0
    with H = 0 the drift is the observed growth g_A (less the ceiling's brake).
    """
    drift = (
        trend
        - reversion * (x - x0 - trend * t)
        + hostility_effect * H
        + reactivity * log_flow_ratio
    )
    return soft_ceiling(x + drift * dt + sigma * math.sqrt(dt) * z, log_ceiling_share + log_gdp)


@equation
def spending_level(x):
    """E9: adversary spending ``A = e^x`` from its log."""
    return math.exp(x)


@equation
def adversary_next_model1(A, fatigue, reactivity, flow, grievance, H, sigma, z, ceiling, dt):
    """E9 of model 1, kept for the tests that show why it was replaced:
    ``A' = clip(A + Δ[k_A X − a_A A + g_A e^H] + σ_A √Δ A ε, 0, ceiling)`` with g_A set per
    draw to match the observed growth (negative in about a third of draws)."""
    nA = A + dt * (reactivity * flow - fatigue * A + grievance * math.exp(H))
    nA += sigma * math.sqrt(dt) * A * z
    return min(max(nA, 0.0), ceiling)


@equation
def log_ratio(x, x0):
    """``ln(x / x0)`` with x floored at 1e-30 (E9: the change of the alliance's spending)."""
    return math.log(max(x, 1e-30) / x0)


# --- E10 friction and pivot -----------------------------------------------------------------
@equation
def friction_next(F, gain, shortfall, reversion, sigma, z, dt):
    """E10: ``F' = max(0, F + Δ[φ_F S − θ_F F] + σ_F √Δ ε)``."""
    return max(0.0, F + dt * (gain * shortfall - reversion * F) + sigma * math.sqrt(dt) * z)


@equation
def pivot_next(share, rate, floor, dt):
    """E10: ``ρ_US' = max(ρ_min, ρ_US − r_pivot Δ)``."""
    return max(floor, share - rate * dt)


# --- E11 commitment -------------------------------------------------------------------------
@equation
def commitment_logit(
    logit_base, b_gov, pro, b_support, P, pbar, b_threat, M, friction_term, b_dis, disengaged
):
    """E11: ``logit c = logit c̄ − β_cG (1−G) + β_cP (P − P̄) + β_cτ tanh(ln M) − β_cF F [US]
    − β_dis dis``.

    Model 2 saturates the threat rally (tanh(ln M) = (M² − 1)/(M² + 1) ∈ (−1, 1)): in model 1
    it was linear in M = e^H, so extreme hostility drove commitment, hence credibility, to 1
    and the attack hazard to 0. ``friction_term`` is β_cF F for the hegemon, else 0.
    """
    m2 = M * M
    return (
        logit_base
        - b_gov * (1.0 - pro)
        + b_support * (P - pbar)
        + b_threat * (m2 - 1.0) / (m2 + 1.0)
        - friction_term
        - b_dis * disengaged
    )


# --- E12 indices ----------------------------------------------------------------------------
@equation
def cohesion(mean_commitment, cv, cv0, divergence, n_active):
    """E12: ``C = mean_m(c) · exp(−ψ (CV(τ)/CV_0 − 1)_+)``, 0 with no member left."""
    if n_active <= 0:
        return 0.0
    excess = max(cv / cv0 - 1.0, 0.0)
    if excess == 0.0:  # e^0 = 1: the same value without a call to exp
        return mean_commitment
    return mean_commitment * math.exp(-divergence * excess)


@equation
def local_balance_weight(is_hegemon, prox, presence, theatre_prox):
    """E12 (model 2): weight of a member's capability in the local balance R.

    A member's own proximity, except the hegemon's: its forward-presence share (forces based
    in the theatre) at the proximity of the most exposed member. In model 1 the hegemon
    entered with its capital's proximity (≈ 0.0004), so its forces were invisible to R.
    """
    if is_hegemon > 0.5:
        return presence * theatre_prox
    return prox


# --- E13 withdrawal -------------------------------------------------------------------------
@equation
def withdrawal_exponent(b_support, pbar, P, friction_term, b_power, dshare, b_threat, tau, tau0):
    """E13: ``β_P (P̄ − P)_+ + β_F F [US] + β_pow |Δ_4 s| − β_τw (τ − τ_0)_+``."""
    return (
        b_support * max(pbar - P, 0.0)
        + friction_term
        + b_power * dshare
        - b_threat * max(tau - tau0, 0.0)
    )


@equation
def withdrawal_hazard(base, ratio, sceptical, multiplier, exponent):
    """E13: ``h_wd = h0 · HR_skep^(1−G) · exp(exponent) · (p_pass for the hegemon)``."""
    h = base * multiplier * math.exp(exponent)
    if sceptical > 0.5:
        h *= ratio
    return h


# --- E15 conflict onset, E15b intra-alliance disputes ---------------------------------------
@equation
def war_hazard(base, b_host, H, b_cred, Q, Q_ref, b_bal, R, R_ref, b_arms, arms):
    """E15 (model 2): annual hazard of an attack on the alliance.

    ``h = h_war0 · exp(β_H s(H)) · ((1 − min(Q, 0.95)) / (1 − Q_ref))^β_Q
    · max(R / R_ref, 0.1)^(−β_R) · (1 + β_arms AR)``, with ``s(H) = H / (1 + |H| / 3)``:
    ≈ H near 0, increasing, saturating at ±3 (model 1 used H itself).

    (Q_ref, R_ref) is a fixed reference state declared by the scenario (the NATO 2025
    baseline), not the run's own start: a scenario that starts weaker starts with a higher
    hazard. The hazard is non-decreasing in H and non-increasing in Q and R.
    """
    s = H / (1.0 + abs(H) / HOSTILITY_SATURATION)
    q = min(Q, CREDIBILITY_CAP)
    r = max(R / R_ref, BALANCE_FLOOR)
    log_rel = b_host * s + b_cred * (math.log1p(-q) - math.log1p(-Q_ref)) - b_bal * math.log(r)
    return base * math.exp(log_rel) * (1.0 + b_arms * arms)


@equation
def war_hazard_model1(base, b_host, H, b_cred, Q, Q0, b_bal, R, R0, b_arms, arms):
    """E15 of model 1, kept for the tests that show why it was replaced:
    ``h_war0 e^(β_H H) ((1 − Q)/(1 − Q_0))^β_Q (R/R_0)^(−β_R) (1 + β_arms AR)``."""
    return (
        base
        * math.exp(b_host * H)
        * math.pow((1.0 - Q) / (1.0 - Q0), b_cred)
        * math.pow(max(R, 1e-12) / R0, -b_bal)
        * (1.0 + b_arms * arms)
    )


@equation
def honours(z_common, z_own, correlation, commitment):
    """E15 (model 2): does an ally honour Article 5? A Gaussian copula with a common factor.

    Honours iff ``Φ(√ρ Z + √(1−ρ) ε_i) < c_i``: each ally still honours with probability c_i,
    but the decisions are correlated (joint abandonment); ρ = 0 gives model 1's independent
    draws. Returns 1.0 or 0.0.
    """
    x = math.sqrt(correlation) * z_common + math.sqrt(1.0 - correlation) * z_own
    return 1.0 if 0.5 * math.erfc(-x / math.sqrt(2.0)) < commitment else 0.0


@equation
def dyad_hazard(base, membership_factor, both_in_alliance):
    """E15b: ``h_dyad = h_dyad0 · exp(−β_inst · 1[both members, alliance intact])``;
    ``membership_factor = exp(−β_inst)`` is computed once per simulation."""
    return base * (membership_factor if both_in_alliance > 0.5 else 1.0)


def _ufunc(dispatcher):
    n = len(inspect.signature(dispatcher.py_func).parameters)
    sig = "float64(" + ", ".join(["float64"] * n) + ")"
    return numba.vectorize([sig], cache=True)(dispatcher.py_func)


class _Ufuncs:
    """The equations as numpy ufuncs (compiled on first use), for the vectorised reference."""

    def __getattr__(self, name):
        fn = globals()[name]
        uf = _ufunc(fn)
        setattr(self, name, uf)
        return uf


ufuncs = _Ufuncs()
