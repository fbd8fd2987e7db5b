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
def _poisson_inverse(u, lam, p0):
    """Poisson(lam) count by inverse CDF; p0 = exp(-lam) is precomputed per simulation."""
    pmf = p0
    cdf = pmf
    n = 0
    while u > cdf:
        n += 1
        pmf = pmf * lam / n
        cdf += pmf
    return n


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def _commitment_arg(ms, ss, pg, sc, mf, EU, eb, qs, out):
    """Minus the logit of the commitment c (E11) for every (s, i); numpy takes its exp.

    The threat multiplier is M = EU * eb with EU = exp(u) and eb = exp(H + ω ln(A/A0)).
    """
    S, N = out.shape
    for s in range(S):
        a0 = sc[L.SC_LOGITC, s]
        bcg, bcp, bct, bdis = pg[_BCG, s], pg[_BCP, s], pg[_BCT, s], pg[_BDIS, s]
        fric = qs[Q_SWFW] * pg[_BCF, s] * ss[L.SS_F, s]
        e = eb[s]
        for i in range(N):
            out[s, i] = -(
                a0
                - bcg * (1.0 - ms[L.MS_G, s, i])
                + bcp * (ms[L.MS_P, s, i] - mf[L.MF_PBAR, i])
                + bct * (EU[s, i] * e - 1.0)
                - fric * mf[L.MF_ISHEG, i]
                - bdis * ms[L.MS_DIS, s, i]
            )


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
    msum,
    mhist,
    hlo,
    hw_,
    do_sum,
    Y,
    EU,
    eb,
    EC,
    p0,
):
    S = ss.shape[1]
    N = ms.shape[2]
    sq = math.sqrt(dt)
    slot = k % year_steps
    t = min(k, steps - 1)
    n_thr = thr.shape[0]
    tau = np.empty(N)
    acc = np.zeros((L.N_MSUM, N))
    nbins = mhist.shape[2]
    hacc = np.zeros((N, nbins), dtype=np.int64)
    Mv = np.empty(N)
    cv = np.empty(N)
    D = np.empty(N)
    wk = np.empty(N)
    av = np.empty(N)
    dsh = np.empty(N)
    gnew = np.empty(N)
    flags = np.empty(N, dtype=np.bool_)
    meet = np.empty(n_thr)
    isheg = mf[L.MF_ISHEG]
    forces = mf[L.MF_FORCES]
    pbar = mf[L.MF_PBAR]
    b0 = mf[L.MF_B0]
    for s in range(S):
        A = ss[L.SS_A, s]
        H = ss[L.SS_H, s]
        F = ss[L.SS_F, s]
        rho = ss[L.SS_RHO, s]
        wdis = 1.0 - pg[_WDIS, s]
        # ---- derive at k: branch-free member loop (vectorised by LLVM) ----
        flow = stock = n_act = sum_c = sum_tau = sum_tau2 = 0.0
        ysum = ybsum = spend = wkc = wkcp = ksum = 0.0
        e_b = eb[s]
        for i in range(N):
            Mv[i] = EU[s, i] * e_b
            cv[i] = 1.0 / (1.0 + EC[s, i])
        for i in range(N):
            act = ms[L.MS_M, s, i]
            ta = mc[L.MC_PROX, s, i] * Mv[i]
            d = ms[L.MS_B, s, i] * Y[s, i] / 100.0
            w = isheg[i] * rho + (1.0 - isheg[i]) * (1.0 - ms[L.MS_DIS, s, i] * wdis)
            mw = act * w
            x = mw * ms[L.MS_K, s, i]
            tau[i], D[i], wk[i], av[i] = ta, d, x, act
            ms[L.MS_C, s, i] = cv[i]
            flow += mw * d
            stock += x
            n_act += act
            sum_c += act * cv[i]
            sum_tau += act * ta
            sum_tau2 += act * ta * ta
            ysum += act * Y[s, i]
            ybsum += act * Y[s, i] * ms[L.MS_B, s, i]
            spend += act * d
            wkc += x * cv[i]
            wkcp += x * cv[i] * mc[L.MC_PROX, s, i]
            ksum += ms[L.MS_K, s, i]
        for j in range(n_thr):
            cnt = 0.0
            level = thr[j]
            for i in range(N):
                cnt += ms[L.MS_M, s, i] * forces[i] * (ms[L.MS_B, s, i] >= level)
            meet[j] = cnt
        n_safe = max(n_act, 1.0)
        mean_tau = sum_tau / n_safe
        var_tau = max(sum_tau2 / n_safe - mean_tau * mean_tau, 0.0)
        cvt = math.sqrt(var_tau) / max(mean_tau, 1e-30)
        coh = 0.0
        if n_act > 0:
            coh = sum_c / n_safe * math.exp(-pg[_PSI, s] * max(cvt / sc[L.SC_CV0, s] - 1.0, 0.0))
        stock_safe = stock if stock > 0 else 1.0
        Q = wkc / stock_safe if stock > 0 else 0.0
        ret = stock / ksum
        KA = ss[L.SS_KA, s]
        R = wkcp / (KA * sc[L.SC_MPROX, s])
        hhi = 0.0
        warm = 1.0 if k >= year_steps else 0.0
        for i in range(N):
            sh = wk[i] / stock_safe
            hhi += sh * sh
            dsh[i] = warm * abs(sh - share_hist[slot, s, i])
            share_hist[slot, s, i] = sh
        # ---- endogenous dissolution (E14) ----
        alive = ss[L.SS_ALIVE, s] > 0.5
        if alive and coh < qs[Q_THETAC] * sc[L.SC_C0, s]:
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
        # ---- arms race flag, attack hazard (E15) ----
        arms = 0.0
        g = 1.0 + qs[Q_ARMS]
        if k >= year_steps and flow >= g * flow_hist[slot, s] and A >= g * adv_hist[slot, s]:
            arms = 1.0
        flow_hist[slot, s] = flow
        adv_hist[slot, s] = A
        tgt = int(sc[L.SC_TARGET, s])
        log_hw = pg[_BH, s] * H
        if qs[Q_SWCD] > 0:
            Qe = Q if alive_now else 0.0
            if alive_now:
                Re = R
            else:
                Re = ms[L.MS_K, s, tgt] * mc[L.MC_PROX, s, tgt] / (KA * sc[L.SC_MPROX, s])
            Re = max(Re, 1e-12)
            log_hw += pg[_BQ, s] * math.log((1.0 - Qe) / (1.0 - sc[L.SC_Q0, s]))
            log_hw -= pg[_BR, s] * math.log(Re / sc[L.SC_R0, s])
        hw = pg[_HW0, s] * math.exp(log_hw) * (1.0 + qs[Q_SWAR] * pg[_BARMS, s] * arms)
        # ---- record ----
        rec[L.REC_ALIVE, k, s] = ss[L.SS_ALIVE, s]
        rec[L.REC_NMEM, k, s] = n_act
        rec[L.REC_HEGMEM, k, s] = ms[L.MS_M, s, heg] if heg >= 0 else 0.0
        rec[L.REC_COH, k, s] = coh
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
        for j in range(n_thr):
            rec[L.REC_MEET + j, k, s] = meet[j]
        if do_snap:
            for i in range(N):
                snap[L.SNAP_ACTIVE, s, i] = ms[L.MS_M, s, i]
                snap[L.SNAP_DIS, s, i] = ms[L.MS_DIS, s, i]
                snap[L.SNAP_B, s, i] = ms[L.MS_B, s, i]
                snap[L.SNAP_C, s, i] = cv[i]
                snap[L.SNAP_G, s, i] = ms[L.MS_G, s, i]
                snap[L.SNAP_GDP, s, i] = Y[s, i]
        if do_sum:
            tr = target[t]
            for i in range(N):  # branch-free sums into the step's own accumulator
                a = 1.0 if ms[L.MS_M, s, i] > 0.5 else 0.0
                b = ms[L.MS_B, s, i]
                c = cv[i]
                acc[0, i] += a
                acc[1, i] += a * (ms[L.MS_DIS, s, i] > 0.5)
                acc[2, i] += ms[L.MS_G, s, i] < 0.5
                acc[3, i] += a * forces[i] * (b >= tr[i] - 1e-6)
                acc[4, i] += c
                acc[5, i] += c * c
                acc[6, i] += b
                acc[7, i] += b * b
                j = min(max(int((b - hlo) / hw_), 0), nbins - 1)
                hacc[i, j] += 1
        if not do_update:
            continue
        # ---- update to k + 1 ----
        Fprev = ss[L.SS_FPREV, s]
        sw_fw = qs[Q_SWFW]
        # E1 shocks
        pand = us[L.US_PAND, s] < sc[L.SC_PPAND, s]
        yloss = math.log1p(-pg[_LPAND, s]) if pand else 0.0
        if pand:
            ss[L.SS_QPAND, s] = sc[L.SC_QP, s]
            ss[L.SS_NPAND, s] += 1.0
        n_cyb = _poisson_inverse(float(us[L.US_CYBER, s]), float(sc[L.SC_LCYB, s]), p0[0, s])
        n_j = _poisson_inverse(float(us[L.US_CRISIS, s]), float(sc[L.SC_LJ, s]), p0[1, s])
        jump = pg[_ETA, s] * n_cyb + pg[_MUJ, s] * n_j
        if n_j > 0:
            jump += pg[_SJ, s] * math.sqrt(n_j) * zs[L.ZS_JUMP, s]
        squeeze = ss[L.SS_QPAND, s] > 0
        keff = pg[_KAPPA, s] * (1.0 - pg[_PHIP, s]) if squeeze else pg[_KAPPA, s]
        lam = 0.0 if squeeze else pg[_LAMT, s]
        # events first (E6, E13, partial): they read P and G at k; new G goes to gnew
        p_gov, presc = sc[L.SC_PGOV, s], sc[L.SC_PRESC, s]
        ppart, pret = sc[L.SC_PPART, s], sc[L.SC_PRET, s]
        g1 = pg[_G1, s]
        sw_pw, sw_fw = qs[Q_SWPW], qs[Q_SWFW]
        bp, bf = sw_pw * pg[_BP, s], sw_fw * pg[_BF, s] * F
        bpow, btw = qs[Q_SWPOW] * pg[_BPOW, s], qs[Q_SWTW] * pg[_BTW, s]
        h0, hr = pg[_H0, s], pg[_HR, s]
        # screening pass (vectorised): can anything happen to member i in this update?
        hr_eff = hr if sw_pw > 0 else 1.0
        n_flag = 0
        for i in range(N):
            G = ms[L.MS_G, s, i]
            gnew[i] = G
            h = h0 * mc[L.MC_HMULT, s, i] * (hr_eff if G < 0.5 else 1.0)
            expo = (
                bp * max(pbar[i] - ms[L.MS_P, s, i], 0.0)
                + bf * isheg[i]
                + bpow * dsh[i]
                - btw * max(tau[i] - mc[L.MC_TAU0, s, i], 0.0)
            )
            free = (av[i] > 0.5) & (ms[L.MS_NOTICE, s, i] <= 0)
            maybe_notice = free & ((um[L.UM_NOTICE, s, i] < h * dt * 1.6488) | (expo > 0.5))
            p_flip = pret if ms[L.MS_DIS, s, i] > 0.5 else ppart
            maybe_flip = (av[i] > 0.5) & (um[L.UM_PART, s, i] < p_flip)
            flag = (
                (um[L.UM_GOV, s, i] < p_gov)
                | (ms[L.MS_NOTICE, s, i] > 0)
                | maybe_notice
                | maybe_flip
            )
            flags[i] = flag
            n_flag += flag
        # exact event logic for the few flagged members (E6, E13, partial disengagement)
        for i in range(N):
            if n_flag == 0:
                break
            if not flags[i]:
                continue
            G = ms[L.MS_G, s, i]
            notice = ms[L.MS_NOTICE, s, i]
            pending = notice > 0
            if um[L.UM_GOV, s, i] < p_gov:
                pro = um[L.UM_ORIENT, s, i] < 1.0 / (
                    1.0 + math.exp(-(mc[L.MC_GAMMA0, s, i] + g1 * ms[L.MS_P, s, i]))
                )
                gnew[i] = 1.0 if pro else 0.0
                if pro and pending:
                    ms[L.MS_TURNED, s, i] = 1.0
            act = av[i] > 0.5
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
                h = h0 * mc[L.MC_HMULT, s, i]
                if sw_pw > 0 and G < 0.5:
                    h *= hr
                expo = (
                    bp * max(pbar[i] - ms[L.MS_P, s, i], 0.0)
                    + bf * isheg[i]
                    + bpow * dsh[i]
                    - btw * max(tau[i] - mc[L.MC_TAU0, s, i], 0.0)
                )
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
            if act:
                if ms[L.MS_DIS, s, i] > 0.5:
                    if um[L.UM_PART, s, i] < pret:
                        ms[L.MS_DIS, s, i] = 0.0
                elif um[L.UM_PART, s, i] < ppart:
                    ms[L.MS_DIS, s, i] = 1.0
        # continuous updates (E2, E5, E7, E4, E8): branch-free member loop
        rho_y = pg[_RHOY, s]
        sig_y = pg[_SIGY, s]
        gdp_common = yloss + sig_y * sq * math.sqrt(rho_y) * zs[L.ZS_GDP, s]
        gdp_drift = -sig_y * sig_y / 2.0 * dt
        idio = sig_y * sq * math.sqrt(1.0 - rho_y)
        thp, bpt, sigp = pg[_THP, s] * dt, pg[_BPT, s], pg[_SIGP, s] * sq
        fric = sw_fw * pg[_BPF, s] * (F - Fprev)
        btau, bfr, pisk, sigb = (
            qs[Q_SWTB] * pg[_BTAU, s],
            pg[_BFR, s],
            pg[_PISK, s],
            pg[_SIGB, s] * sq,
        )
        phiu, sdu = sc[L.SC_PHIU, s], sc[L.SC_SDU, s]
        kd = 1.0 - pg[_DELTA, s] * dt
        bmin, bmax = qs[Q_BMIN], qs[Q_BMAX]
        short = 0.0
        for i in range(N):
            ms[L.MS_Y, s, i] += (
                gdp_common + (mc[L.MC_GROWTH, s, i] * dt + gdp_drift) + idio * zm[L.ZM_GDP, s, i]
            )
            p = ms[L.MS_P, s, i]
            ms[L.MS_P, s, i] = (
                p
                + thp * (pbar[i] - p)
                + bpt * (Mv[i] - ms[L.MS_MPREV, s, i])
                - fric * isheg[i]
                + sigp * zm[L.ZM_P, s, i]
            )
            ms[L.MS_MPREV, s, i] = Mv[i]
            b = ms[L.MS_B, s, i]
            yb = av[i] * Y[s, i]
            den = ysum - yb
            bbar = (ybsum - yb * b) / den if den > 0 else 0.0
            bstar = (
                b0[i] + btau * (tau[i] - mc[L.MC_TAU0, s, i]) + bfr * (bbar - mc[L.MC_BBAR0, s, i])
            )
            gap = max(target[t, i] - b, 0.0)
            comply = ms[L.MS_G, s, i] + (1.0 - ms[L.MS_G, s, i]) * pisk
            nb = b + dt * (keff * (bstar - b) + lam * comply * gap) + sigb * zm[L.ZM_B, s, i]
            ms[L.MS_B, s, i] = min(max(nb, bmin), bmax) * forces[i]
            short += av[i] * (1.0 - isheg[i]) * forces[i] * Y[s, i] * gap
            ms[L.MS_U, s, i] = phiu * ms[L.MS_U, s, i] + sdu * zm[L.ZM_U, s, i]
            ms[L.MS_K, s, i] = kd * ms[L.MS_K, s, i] + D[i] * dt
        for i in range(N):
            ms[L.MS_G, s, i] = gnew[i]
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
        ss[L.SS_RHO, s] = max(qs[Q_RHOMIN], rho - pg[_PIV, s] * dt)
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
        ss[L.SS_KA, s] = (1.0 - pg[_DELTA, s] * dt) * KA + A * dt
        ss[L.SS_A, s] = min(max(nA, 0.0), pg[_ACEIL, s] * qs[Q_ADVGDP] / 100.0)
        # E14 exogenous dissolution
        if alive_now and us[L.US_DISS, s] < sc[L.SC_PDISS, s]:
            ss[L.SS_ALIVE, s] = 0.0
            ev[L.EV_DISS_STEP, s] = k + 1
            ev[L.EV_DISS_CAUSE, s] = L.CAUSE_EXOGENOUS
        # E15 conflict onset and the Article 5 honour draws
        u_on = us[L.US_ONSET, s]  # 1 - exp(-x) <= x: the exact test only when u < x
        if ss[L.SS_WAR, s] < 0.5 and u_on < hw * dt and u_on < -math.expm1(-hw * dt):
            _onset(s, k, heg, tgt, alive_now, ss, ev, honour_u, cv, av, wk)
    if do_sum:
        for j in range(L.N_MSUM):
            for i in range(N):
                msum[j, k, i] += acc[j, i]
        for i in range(N):
            for j in range(nbins):
                mhist[k, i, j] += hacc[i, j]


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def _onset(s, k, heg, tgt, alive, ss, ev, honour_u, cr, av, wk):
    ss[L.SS_WAR, s] = 1.0
    ev[L.EV_ONSET_STEP, s] = k + 1
    ev[L.EV_TARGET, s] = tgt
    n_el = n_h = w_el = w_h = 0.0
    heg_h = -1.0
    for i in range(cr.shape[0]):
        if i == tgt or av[i] < 0.5:
            continue
        hon = honour_u[s, i] < cr[i]
        n_el += 1.0
        w_el += wk[i]
        if hon:
            n_h += 1.0
            w_h += wk[i]
        if i == heg:
            heg_h = 1.0 if hon else 0.0
    if alive and n_el > 0:
        ev[L.EV_HONOUR, s] = n_h / n_el
        ev[L.EV_HONOUR_W, s] = w_h / max(w_el, 1e-30)
        if heg >= 0:
            ev[L.EV_HEG_HONOUR, s] = heg_h


def step(k, setup, state, noise, rec, ev, em, snap=None, summary=None) -> None:
    """Record the state at step k and, if ``noise`` is given, update it to k + 1.

    Transcendentals over the whole block (threat multiplier, GDP levels, the logistic of
    commitment) go through numpy's SIMD ufuncs; everything else is one compiled pass.
    """
    if "_q" not in setup.scal:
        setup.scal["_q"] = pack_scalars(setup.scal)
        lam = setup.sc[[L.SC_LCYB, L.SC_LJ]].astype(np.float64)
        setup.scal["_p0"] = np.exp(-lam)
    qs = setup.scal["_q"]
    ms, ss, pg = state.ms, state.ss, setup.pg
    A0 = float(qs[Q_A0])  # a Python float keeps the float32 arrays float32 (NEP 50)
    buf = setup.scal.get("_buf")
    if buf is None:  # per-block scratch, reused every step
        buf = setup.scal["_buf"] = np.empty((3, *ms.shape[1:]), dtype=ms.dtype)
    Y, EU, EC = buf
    np.exp(ms[L.MS_Y], out=Y)
    np.exp(ms[L.MS_U], out=EU)
    eb = np.exp(ss[L.SS_H] + pg[_OMEGA] * np.log(np.maximum(ss[L.SS_A], 1e-6 * A0) / A0))
    _commitment_arg(ms, ss, pg, setup.sc, setup.mf, EU, eb, qs, EC)
    np.exp(EC, out=EC)  # exp(-logit c): the step computes c = 1 / (1 + EC)
    if noise is None:
        zm = um = np.zeros((4, 1, 1), dtype=ms.dtype)
        zs = us = np.zeros((5, 1), dtype=ms.dtype)
    else:
        zm, um, zs, us = noise
    do_snap = snap is not None
    if not do_snap:
        snap = np.zeros((1, 1, 1), dtype=np.float32)
    do_sum = summary is not None
    if do_sum:
        msum, mhist, hlo, hwidth = summary
    else:
        msum, mhist, hlo, hwidth = np.zeros((1, 1, 1)), np.zeros((1, 1, 1), np.int64), 0.0, 1.0
    _step(
        k,
        noise is not None,
        setup.dt,
        setup.steps,
        setup.notice_steps,
        setup.year_steps,
        setup.low_steps,
        setup.hegemon,
        setup.thresholds,
        qs,
        pg,
        setup.sc,
        setup.mc,
        setup.mf,
        setup.target,
        ms,
        ss,
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
        msum,
        mhist,
        hlo,
        hwidth,
        do_sum,
        Y,
        EU,
        eb,
        EC,
        setup.scal["_p0"],
    )
