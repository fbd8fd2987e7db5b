"""The fused numba step: the same update as ``models.reference``, one pass per simulation.

Loops over simulations and members are compiled, so the temporaries of the vectorised
reference (dozens of (S, N) arrays per step) stay in registers. It consumes the same
variates (``models.noise``) and packed state (``models.layout``); tests compare the two.
Arithmetic on scalars is float64, stored state is the working dtype (float32 by default).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from models import layout as L

_OMEGA = L.P["threat_power_elasticity"]
_WDIS = L.P["disengaged_contribution"]
_BCG = L.P["commitment_government"]
_BCP = L.P["commitment_support"]
_BCT = L.P["commitment_threat"]
_BCF = L.P["commitment_friction"]
_BDIS = L.P["commitment_disengaged"]
_PSI = L.P["cohesion_divergence"]
_HW0 = L.P["war_base_hazard"]
_BH = L.P["war_hostility"]
_BQ = L.P["war_credibility"]
_BR = L.P["war_balance"]
_BARMS = L.P["war_arms_race"]
_LPAND = L.P["pandemic_gdp_loss"]
_ETA = L.P["cyber_impact"]
_MUJ = L.P["crisis_mean"]
_SJ = L.P["crisis_sd"]
_RHOY = L.P["gdp_common_share"]
_SIGY = L.P["gdp_volatility"]
_THP = L.P["support_reversion"]
_BPT = L.P["support_threat_rally"]
_BPF = L.P["support_friction_effect"]
_SIGP = L.P["support_volatility"]
_G1 = L.P["government_support_effect"]
_BTAU = L.P["threat_burden"]
_BFR = L.P["free_riding"]
_KAPPA = L.P["burden_adjustment"]
_PHIP = L.P["pandemic_squeeze"]
_PISK = L.P["sceptic_compliance"]
_LAMT = L.P["target_pull"]
_SIGB = L.P["burden_volatility"]
_PHIF = L.P["friction_gain"]
_THF = L.P["friction_reversion"]
_SIGF = L.P["friction_volatility"]
_PIV = L.P["pivot_rate"]
_THH = L.P["hostility_reversion"]
_SIGH = L.P["hostility_volatility"]
_DELTA = L.P["capability_depreciation"]
_KA = L.P["adversary_reactivity"]
_AA = L.P["adversary_fatigue"]
_SIGA = L.P["adversary_volatility"]
_ACEIL = L.P["adversary_ceiling"]
_BP = L.P["support_hazard_effect"]
_BF = L.P["friction_hazard_effect"]
_BPOW = L.P["power_hazard_effect"]
_BTW = L.P["threat_hazard_effect"]
_HR = L.P["sceptic_hazard_ratio"]
_H0 = L.P["withdrawal_base_hazard"]

# scalar constants packed into one float64 array
(
    Q_A0,
    Q_HBAR,
    Q_ADVGDP,
    Q_RHOMIN,
    Q_BMIN,
    Q_BMAX,
    Q_ARMS,
    Q_THETAC,
    Q_KMIN,
    Q_NMIN,
    Q_SWTB,
    Q_SWBF,
    Q_SWFW,
    Q_SWPW,
    Q_SWPOW,
    Q_SWTW,
    Q_SWCD,
    Q_SWAR,
) = range(18)
_Q_KEYS = (
    "A0",
    "hbar",
    "adv_gdp",
    "rho_min",
    "bmin",
    "bmax",
    "arms_growth",
    "theta_c",
    "k_min",
    "n_min",
    "sw_tb",
    "sw_bf",
    "sw_fw",
    "sw_pw",
    "sw_pow",
    "sw_tw",
    "sw_cd",
    "sw_ar",
)


# contract/reassociate/approximate-reciprocal only: no assumptions about NaN, inf or signed zeros
_FAST = {"contract", "arcp", "reassoc"}


def pack_scalars(scal: dict) -> np.ndarray:
    return np.array([float(scal[k]) for k in _Q_KEYS], dtype=np.float64)


@numba.njit(cache=True, inline="always", error_model="numpy", fastmath=_FAST)
def _poisson_inverse(u, lam):
    pmf = math.exp(-lam)
    cdf = pmf
    n = 0
    while u > cdf:
        n += 1
        pmf = pmf * lam / n
        cdf += pmf
    return n


@numba.njit(cache=True, inline="always", error_model="numpy", fastmath=_FAST)
def _expit(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def _step(
    k,
    do_update,
    dt,
    steps,
    notice_steps,
    year_steps,
    low_steps,
    heg,
    thr,
    qs,
    pg,
    sc,
    mc,
    mf,
    target,
    ms,
    ss,
    share_hist,
    flow_hist,
    adv_hist,
    honour_u,
    zm,
    um,
    zs,
    us,
    rec,
    ev,
    em,
    snap,
    do_snap,
):
    S = ss.shape[1]
    N = ms.shape[2]
    sq = math.sqrt(dt)
    slot = k % year_steps
    t = min(k, steps - 1)
    A0 = qs[Q_A0]
    Yv = np.empty(N)
    Mv = np.empty(N)
    tauv = np.empty(N)
    Dv = np.empty(N)
    mwv = np.empty(N)
    wkv = np.empty(N)
    cv_ = np.empty(N)
    dsh = np.empty(N)
    av = np.empty(N)
    for s in range(S):
        # ---- derive (state at k) ----
        A = ss[L.SS_A, s]
        H = ss[L.SS_H, s]
        F = ss[L.SS_F, s]
        rho = ss[L.SS_RHO, s]
        loga = math.log(max(A, 1e-6 * A0) / A0)
        base_m = H + pg[_OMEGA, s] * loga
        logitc = sc[L.SC_LOGITC, s]
        v_WDIS = pg[_WDIS, s]
        v_BCG = pg[_BCG, s]
        v_BCP = pg[_BCP, s]
        v_BCT = pg[_BCT, s]
        v_BCF = pg[_BCF, s]
        v_BDIS = pg[_BDIS, s]
        flow = 0.0
        stock = 0.0
        n_act = 0.0
        sum_c = 0.0
        sum_tau = 0.0
        sum_tau2 = 0.0
        ysum = 0.0
        ybsum = 0.0
        spend = 0.0
        wkc = 0.0
        wkcp = 0.0
        ksum = 0.0
        for i in range(N):
            act = ms[L.MS_M, s, i]
            y = math.exp(ms[L.MS_Y, s, i])
            M = math.exp(base_m + ms[L.MS_U, s, i])
            tau = mc[L.MC_PROX, s, i] * M
            b = ms[L.MS_B, s, i]
            D = b * y / 100.0
            dis = ms[L.MS_DIS, s, i]
            ish = mf[L.MF_ISHEG, i]
            w = ish * rho + (1.0 - ish) * (1.0 - dis * (1.0 - v_WDIS))
            mw = act * w
            K = ms[L.MS_K, s, i]
            wk = mw * K
            c = _expit(
                logitc
                - v_BCG * (1.0 - ms[L.MS_G, s, i])
                + v_BCP * (ms[L.MS_P, s, i] - mf[L.MF_PBAR, i])
                + v_BCT * (M - 1.0)
                - qs[Q_SWFW] * v_BCF * F * ish
                - v_BDIS * dis
            )
            Yv[i], Mv[i], tauv[i], Dv[i], mwv[i], wkv[i], cv_[i] = y, M, tau, D, mw, wk, c
            av[i] = act
            ms[L.MS_C, s, i] = c
            flow += mw * D
            stock += wk
            n_act += act
            sum_c += act * c
            sum_tau += act * tau
            sum_tau2 += act * tau * tau
            ysum += act * y
            ybsum += act * y * b
            spend += act * D
            wkc += wk * c
            wkcp += wk * c * mc[L.MC_PROX, s, i]
            ksum += K
        n_safe = max(n_act, 1.0)
        mean_tau = sum_tau / n_safe
        var_tau = max(sum_tau2 / n_safe - mean_tau * mean_tau, 0.0)
        cvt = math.sqrt(var_tau) / max(mean_tau, 1e-30)
        C = 0.0
        if n_act > 0:
            C = sum_c / n_safe * math.exp(-pg[_PSI, s] * max(cvt / sc[L.SC_CV0, s] - 1.0, 0.0))
        stock_safe = stock if stock > 0 else 1.0
        Q = wkc / stock_safe if stock > 0 else 0.0
        ret = stock / ksum
        KA = ss[L.SS_KA, s]
        R = wkcp / (KA * sc[L.SC_MPROX, s])
        hhi = 0.0
        for i in range(N):
            sh = wkv[i] / stock_safe
            hhi += sh * sh
            dsh[i] = abs(sh - share_hist[slot, s, i]) if k >= year_steps else 0.0
            share_hist[slot, s, i] = sh
        # ---- endogenous dissolution (E14) ----
        alive = ss[L.SS_ALIVE, s] > 0.5
        if alive and C < qs[Q_THETAC] * sc[L.SC_C0, s]:
            ss[L.SS_LLOW, s] += 1.0
        else:
            ss[L.SS_LLOW, s] = 0.0
        if alive:
            cause = 0
            if ss[L.SS_LLOW, s] >= low_steps:
                cause = L.CAUSE_COHESION
            elif ret < qs[Q_KMIN]:
                cause = L.CAUSE_CAPABILITY
            elif n_act < qs[Q_NMIN]:
                cause = L.CAUSE_MEMBERS
            if cause > 0:
                ss[L.SS_ALIVE, s] = 0.0
                ev[L.EV_DISS_STEP, s] = k
                ev[L.EV_DISS_CAUSE, s] = cause
        alive_now = ss[L.SS_ALIVE, s] > 0.5
        # ---- arms race flag, war hazard (E15) ----
        arms = 0.0
        g = 1.0 + qs[Q_ARMS]
        if k >= year_steps and flow >= g * flow_hist[slot, s] and A >= g * adv_hist[slot, s]:
            arms = 1.0
        flow_hist[slot, s] = flow
        adv_hist[slot, s] = A
        tgt = int(sc[L.SC_TARGET, s])
        hw = pg[_HW0, s] * math.exp(pg[_BH, s] * H)
        if qs[Q_SWCD] > 0:
            Qe = Q if alive_now else 0.0
            if alive_now:
                Re = R
            else:
                Re = ms[L.MS_K, s, tgt] * mc[L.MC_PROX, s, tgt] / (KA * sc[L.SC_MPROX, s])
            Re = max(Re, 1e-12)
            hw *= ((1.0 - Qe) / (1.0 - sc[L.SC_Q0, s])) ** pg[_BQ, s]
            hw *= (Re / sc[L.SC_R0, s]) ** (-pg[_BR, s])
        hw *= 1.0 + qs[Q_SWAR] * pg[_BARMS, s] * arms
        # ---- record ----
        rec[L.REC_ALIVE, k, s] = ss[L.SS_ALIVE, s]
        rec[L.REC_NMEM, k, s] = n_act
        rec[L.REC_HEGMEM, k, s] = ms[L.MS_M, s, heg] if heg >= 0 else 0.0
        rec[L.REC_COH, k, s] = C
        rec[L.REC_CRED, k, s] = Q
        rec[L.REC_RET, k, s] = ret
        rec[L.REC_BAL, k, s] = R
        rec[L.REC_HHI, k, s] = hhi
        rec[L.REC_SPEND, k, s] = spend
        rec[L.REC_BURDEN, k, s] = ybsum / max(ysum, 1e-30)
        rec[L.REC_ADV, k, s] = A
        rec[L.REC_HOST, k, s] = H
        rec[L.REC_FRIC, k, s] = F
        rec[L.REC_HWAR, k, s] = hw
        rec[L.REC_ARMS, k, s] = arms
        rec[L.REC_NPAND, k, s] = ss[L.SS_NPAND, s]
        for j in range(thr.shape[0]):
            cnt = 0.0
            for i in range(N):
                if ms[L.MS_B, s, i] >= thr[j]:
                    cnt += ms[L.MS_M, s, i] * mf[L.MF_FORCES, i]
            rec[L.REC_MEET + j, k, s] = cnt
        if do_snap:
            for i in range(N):
                snap[L.SNAP_ACTIVE, s, i] = ms[L.MS_M, s, i]
                snap[L.SNAP_DIS, s, i] = ms[L.MS_DIS, s, i]
                snap[L.SNAP_B, s, i] = ms[L.MS_B, s, i]
                snap[L.SNAP_C, s, i] = cv_[i]
                snap[L.SNAP_G, s, i] = ms[L.MS_G, s, i]
                snap[L.SNAP_GDP, s, i] = Yv[i]
        if not do_update:
            continue
        # ---- update to k + 1 (E1-E15) ----
        A = ss[L.SS_A, s]
        H = ss[L.SS_H, s]
        F = ss[L.SS_F, s]
        Fprev = ss[L.SS_FPREV, s]
        # E1 shocks
        pand = us[L.US_PAND, s] < sc[L.SC_PPAND, s]
        yloss = math.log1p(-pg[_LPAND, s]) if pand else 0.0
        if pand:
            ss[L.SS_QPAND, s] = sc[L.SC_QP, s]
            ss[L.SS_NPAND, s] += 1.0
        n_cyb = _poisson_inverse(float(us[L.US_CYBER, s]), float(sc[L.SC_LCYB, s]))
        n_j = _poisson_inverse(float(us[L.US_CRISIS, s]), float(sc[L.SC_LJ, s]))
        jump = (
            pg[_ETA, s] * n_cyb + pg[_MUJ, s] * n_j + pg[_SJ, s] * math.sqrt(n_j) * zs[L.ZS_JUMP, s]
        )
        squeeze = ss[L.SS_QPAND, s] > 0
        keff = pg[_KAPPA, s] * (1.0 - pg[_PHIP, s]) if squeeze else pg[_KAPPA, s]
        rho_y = pg[_RHOY, s]
        sig_y = pg[_SIGY, s]
        common = math.sqrt(rho_y) * zs[L.ZS_GDP, s]
        idio = math.sqrt(1.0 - rho_y)
        delta = pg[_DELTA, s]
        p_gov = sc[L.SC_PGOV, s]
        short = 0.0
        sw_fw = qs[Q_SWFW]
        v_THP = pg[_THP, s]
        v_BPT = pg[_BPT, s]
        v_BPF = pg[_BPF, s]
        v_SIGP = pg[_SIGP, s]
        v_G1 = pg[_G1, s]
        v_BTAU = pg[_BTAU, s]
        v_BFR = pg[_BFR, s]
        v_PISK = pg[_PISK, s]
        v_LAMT = pg[_LAMT, s]
        v_SIGB = pg[_SIGB, s]
        v_BP = pg[_BP, s]
        v_BF = pg[_BF, s]
        v_BPOW = pg[_BPOW, s]
        v_BTW = pg[_BTW, s]
        v_HR = pg[_HR, s]
        v_H0 = pg[_H0, s]
        presc = sc[L.SC_PRESC, s]
        ppart = sc[L.SC_PPART, s]
        pret = sc[L.SC_PRET, s]
        phiu = sc[L.SC_PHIU, s]
        sdu = sc[L.SC_SDU, s]
        sw_tb = qs[Q_SWTB]
        sw_pw = qs[Q_SWPW]
        sw_pow = qs[Q_SWPOW]
        sw_tw = qs[Q_SWTW]
        bmin = qs[Q_BMIN]
        bmax = qs[Q_BMAX]
        kd = 1.0 - delta * dt
        for i in range(N):
            act_f = ms[L.MS_M, s, i]
            act = act_f > 0.5
            ish = mf[L.MF_ISHEG, i]
            pbar = mf[L.MF_PBAR, i]
            P = ms[L.MS_P, s, i]
            G = ms[L.MS_G, s, i]
            b = ms[L.MS_B, s, i]
            tau0 = mc[L.MC_TAU0, s, i]
            # E2 economy
            ms[L.MS_Y, s, i] += (
                yloss
                + (mc[L.MC_GROWTH, s, i] - sig_y * sig_y / 2.0) * dt
                + sig_y * sq * (common + idio * zm[L.ZM_GDP, s, i])
            )
            # E5 public support
            ms[L.MS_P, s, i] = (
                P
                + v_THP * (pbar - P) * dt
                + v_BPT * (Mv[i] - ms[L.MS_MPREV, s, i])
                - sw_fw * v_BPF * ish * (F - Fprev)
                + v_SIGP * sq * zm[L.ZM_P, s, i]
            )
            ms[L.MS_MPREV, s, i] = Mv[i]
            # E6 government change
            notice = ms[L.MS_NOTICE, s, i]
            pending = notice > 0
            if um[L.UM_GOV, s, i] < p_gov:
                pro = um[L.UM_ORIENT, s, i] < 1.0 / (
                    1.0 + math.exp(-(mc[L.MC_GAMMA0, s, i] + v_G1 * P))
                )
                ms[L.MS_G, s, i] = 1.0 if pro else 0.0
                if pro and pending:
                    ms[L.MS_TURNED, s, i] = 1.0
            # E7 burden sharing
            yb = act_f * Yv[i]
            den = ysum - yb
            bbar = (ybsum - yb * b) / den if den > 0 else 0.0
            bstar = (
                mf[L.MF_B0, i]
                + sw_tb * v_BTAU * (tauv[i] - tau0)
                + v_BFR * (bbar - mc[L.MC_BBAR0, s, i])
            )
            comply = G + (1.0 - G) * v_PISK
            gap = max(target[t, i] - b, 0.0)
            pull = 0.0 if squeeze else v_LAMT * comply * gap
            nb = b + dt * (keff * (bstar - b) + pull) + v_SIGB * sq * zm[L.ZM_B, s, i]
            nb = min(max(nb, bmin), bmax)
            ms[L.MS_B, s, i] = nb * mf[L.MF_FORCES, i]
            short += act_f * (1.0 - ish) * mf[L.MF_FORCES, i] * Yv[i] * gap
            # E4 threat perception, E8 capability
            ms[L.MS_U, s, i] = phiu * ms[L.MS_U, s, i] + sdu * zm[L.ZM_U, s, i]
            ms[L.MS_K, s, i] = kd * ms[L.MS_K, s, i] + Dv[i] * dt
            # E13 withdrawal notices, rescission, exits
            u = um[L.UM_NOTICE, s, i]
            left = False
            if pending:
                if ms[L.MS_TURNED, s, i] > 0.5 and u < presc:
                    ms[L.MS_NOTICE, s, i] = 0.0
                    ms[L.MS_TURNED, s, i] = 0.0
                else:
                    ms[L.MS_NOTICE, s, i] = notice - 1.0
                    if notice <= 1.0:
                        left = True
                        ms[L.MS_TURNED, s, i] = 0.0
            elif act:
                expo = (
                    sw_pw * v_BP * max(pbar - P, 0.0)
                    + sw_fw * v_BF * F * ish
                    + sw_pow * v_BPOW * dsh[i]
                    - sw_tw * v_BTW * max(tauv[i] - tau0, 0.0)
                )
                h = v_H0 * mc[L.MC_HMULT, s, i]
                if sw_pw > 0 and G < 0.5:
                    h *= v_HR
                # 1 - exp(-x) <= x and exp(e) <= 1.6488 for e <= 0.5: skip the exact test when
                # the uniform already exceeds that bound (almost always; the outcome is unchanged)
                bound = h * dt * (1.6488 if expo <= 0.5 else math.exp(expo))
                if u < bound and u < -math.expm1(-h * math.exp(expo) * dt):
                    if em[L.EM_NOTICE_STEP, s, i] == L.NEVER:
                        em[L.EM_NOTICE_STEP, s, i] = k + 1
                    if notice_steps == 0:
                        left = True
                    else:
                        ms[L.MS_NOTICE, s, i] = notice_steps
            if left:
                ms[L.MS_M, s, i] = 0.0
                em[L.EM_WD_STEP, s, i] = k + 1
            # partial disengagement and return
            if act:
                up = um[L.UM_PART, s, i]
                if ms[L.MS_DIS, s, i] > 0.5:
                    if up < pret:
                        ms[L.MS_DIS, s, i] = 0.0
                elif up < ppart:
                    ms[L.MS_DIS, s, i] = 1.0
        ss[L.SS_QPAND, s] = max(ss[L.SS_QPAND, s] - 1.0, 0.0)
        # E10 friction and pivot
        short /= max(ysum, 1e-30)
        ss[L.SS_FPREV, s] = F
        ss[L.SS_F, s] = max(
            0.0,
            F
            + dt * (qs[Q_SWBF] * pg[_PHIF, s] * short - pg[_THF, s] * F)
            + pg[_SIGF, s] * sq * zs[L.ZS_F, s],
        )
        ss[L.SS_RHO, s] = max(qs[Q_RHOMIN], ss[L.SS_RHO, s] - pg[_PIV, s] * dt)
        # E3 hostility
        ss[L.SS_H, s] = (
            H + pg[_THH, s] * (qs[Q_HBAR] - H) * dt + pg[_SIGH, s] * sq * zs[L.ZS_H, s] + jump
        )
        # E9 adversary
        nA = (
            A
            + dt * (pg[_KA, s] * flow - pg[_AA, s] * A + sc[L.SC_GA, s] * math.exp(H))
            + pg[_SIGA, s] * sq * A * zs[L.ZS_A, s]
        )
        ss[L.SS_KA, s] = (1.0 - delta * dt) * ss[L.SS_KA, s] + A * dt
        ss[L.SS_A, s] = min(max(nA, 0.0), pg[_ACEIL, s] * qs[Q_ADVGDP] / 100.0)
        # E14 exogenous dissolution
        if alive_now and us[L.US_DISS, s] < sc[L.SC_PDISS, s]:
            ss[L.SS_ALIVE, s] = 0.0
            ev[L.EV_DISS_STEP, s] = k + 1
            ev[L.EV_DISS_CAUSE, s] = L.CAUSE_EXOGENOUS
        # E15 conflict onset and the Article 5 honour draws
        if ss[L.SS_WAR, s] < 0.5 and us[L.US_ONSET, s] < -math.expm1(-hw * dt):
            ss[L.SS_WAR, s] = 1.0
            ev[L.EV_ONSET_STEP, s] = k + 1
            ev[L.EV_TARGET, s] = tgt
            n_el = 0.0
            n_h = 0.0
            w_el = 0.0
            w_h = 0.0
            heg_h = -1.0
            for i in range(N):
                if i == tgt or av[i] < 0.5:
                    continue
                hon = honour_u[s, i] < cv_[i]
                n_el += 1.0
                w_el += wkv[i]
                if hon:
                    n_h += 1.0
                    w_h += wkv[i]
                if i == heg:
                    heg_h = 1.0 if hon else 0.0
            if alive_now and n_el > 0:
                ev[L.EV_HONOUR, s] = n_h / n_el
                ev[L.EV_HONOUR_W, s] = w_h / max(w_el, 1e-30)
                if heg >= 0:
                    ev[L.EV_HEG_HONOUR, s] = heg_h


def step(k, setup, state, noise, rec, ev, em, snap=None) -> None:
    """Record the state at step k and, if ``noise`` is given, update it to k + 1."""
    if "_q" not in setup.scal:
        setup.scal["_q"] = pack_scalars(setup.scal)
    if noise is None:
        z4 = np.zeros((4, 1, 1), dtype=state.ms.dtype)
        z5 = np.zeros((5, 1), dtype=state.ms.dtype)
        zm = um = z4
        zs = us = z5
    else:
        zm, um, zs, us = noise
    heg = setup.hegemon
    do_snap = snap is not None
    if not do_snap:
        snap = np.zeros((1, 1, 1), dtype=np.float32)
    _step(
        k,
        noise is not None,
        setup.dt,
        setup.steps,
        setup.notice_steps,
        setup.year_steps,
        setup.low_steps,
        heg,
        setup.thresholds,
        setup.scal["_q"],
        setup.pg,
        setup.sc,
        setup.mc,
        setup.mf,
        setup.target,
        state.ms,
        state.ss,
        state.share_hist,
        state.flow_hist,
        state.adv_hist,
        state.honour_u,
        zm,
        um,
        zs,
        us,
        rec,
        ev,
        em,
        snap,
        do_snap,
    )
