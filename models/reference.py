"""The numpy reference step: one update of every simulation, vectorised over (S, N).

This is the readable statement of the model (docs/model.md, equations E1-E15); the fused
numba step in ``models.fused`` must agree with it. Both read the state at step k, record
it, and (unless k is the last record) write the state at k + 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from models import layout as L
from models.noise import poisson_inverse


def derive(setup, state) -> dict:
    """Quantities derived from the state at step k (threat, spending, indices)."""
    ms, ss, sc, mc, mf, pg = state.ms, state.ss, setup.sc, setup.mc, setup.mf, setup.pg
    q = setup.scal
    act = ms[L.MS_M].copy()
    Y = np.exp(ms[L.MS_Y])
    log_a = np.log(np.maximum(ss[L.SS_A], 1e-6 * q["A0"]) / q["A0"])
    M = np.exp(
        ss[L.SS_H][:, None]
        + pg[L.P["threat_power_elasticity"]][:, None] * log_a[:, None]
        + ms[L.MS_U]
    )
    tau = mc[L.MC_PROX] * M
    D = ms[L.MS_B] * Y / 100.0
    isheg = mf[L.MF_ISHEG][None, :]
    dis = ms[L.MS_DIS]
    w = isheg * ss[L.SS_RHO][:, None] + (1 - isheg) * (
        1 - dis * (1 - pg[L.P["disengaged_contribution"]][:, None])
    )
    mw = act * w
    flow = (mw * D).sum(axis=1)
    wk = mw * ms[L.MS_K]
    stock = wk.sum(axis=1)
    c = expit(
        sc[L.SC_LOGITC][:, None]
        - pg[L.P["commitment_government"]][:, None] * (1 - ms[L.MS_G])
        + pg[L.P["commitment_support"]][:, None] * (ms[L.MS_P] - mf[L.MF_PBAR][None, :])
        + pg[L.P["commitment_threat"]][:, None] * (M - 1)
        - q["sw_fw"] * pg[L.P["commitment_friction"]][:, None] * ss[L.SS_F][:, None] * isheg
        - pg[L.P["commitment_disengaged"]][:, None] * dis
    )
    n_act = act.sum(axis=1)
    n_safe = np.maximum(n_act, 1)
    mean_c = (act * c).sum(axis=1) / n_safe
    mean_tau = (act * tau).sum(axis=1) / n_safe
    var_tau = (act * (tau - mean_tau[:, None]) ** 2).sum(axis=1) / n_safe
    cv = np.sqrt(var_tau) / np.maximum(mean_tau, 1e-30)
    C = mean_c * np.exp(-pg[L.P["cohesion_divergence"]] * np.maximum(cv / sc[L.SC_CV0] - 1, 0))
    C = np.where(n_act > 0, C, 0)
    stock_safe = np.where(stock > 0, stock, 1)
    Q = np.where(stock > 0, (wk * c).sum(axis=1) / stock_safe, 0)
    ret = stock / ms[L.MS_K].sum(axis=1)
    R = (wk * c * mc[L.MC_PROX]).sum(axis=1) / (ss[L.SS_KA] * sc[L.SC_MPROX])
    shares = wk / stock_safe[:, None]
    hhi = (shares**2).sum(axis=1)
    ysum = (act * Y).sum(axis=1)
    return dict(
        act=act,
        wk=wk,
        Y=Y,
        M=M,
        tau=tau,
        D=D,
        w=w,
        mw=mw,
        flow=flow,
        stock=stock,
        c=c,
        n_act=n_act,
        C=C,
        Q=Q,
        ret=ret,
        R=R,
        shares=shares,
        hhi=hhi,
        ysum=ysum,
        ybsum=(act * Y * ms[L.MS_B]).sum(axis=1),
        spending=(act * D).sum(axis=1),
    )


def _dissolution_rules(setup, state, d) -> tuple[tuple, np.ndarray]:
    """Endogenous dissolution rules at step k: ((hit, cause), ...) in precedence order, and
    which simulations were alive before them. Updates the low-cohesion run length."""
    ss, sc, q = state.ss, setup.sc, setup.scal
    alive = ss[L.SS_ALIVE] > 0.5
    low = d["C"] < q["theta_c"] * sc[L.SC_C0]
    ss[L.SS_LLOW] = np.where(alive & low, ss[L.SS_LLOW] + 1, 0)
    causes = (
        (ss[L.SS_LLOW] >= setup.low_steps, L.CAUSE_COHESION),
        (d["ret"] < q["k_min"], L.CAUSE_CAPABILITY),
        (d["n_act"] < q["n_min"], L.CAUSE_MEMBERS),
    )
    return causes, alive


def _war_hazard(setup, state, d, arms) -> np.ndarray:
    """Annual attack hazard at step k (E15); after dissolution Q = 0 and R is the target's own."""
    ss, sc, pg, q = state.ss, setup.sc, setup.pg, setup.scal
    alive = ss[L.SS_ALIVE] > 0.5
    tgt = sc[L.SC_TARGET].astype(np.int64)
    rows = np.arange(len(tgt))
    own = (
        state.ms[L.MS_K][rows, tgt]
        * setup.mc[L.MC_PROX][rows, tgt]
        / (ss[L.SS_KA] * sc[L.SC_MPROX])
    )
    Q = np.where(alive, d["Q"], 0)
    R = np.maximum(np.where(alive, d["R"], own), 1e-12)
    h = pg[L.P["war_base_hazard"]] * np.exp(pg[L.P["war_hostility"]] * ss[L.SS_H])
    if q["sw_cd"]:
        h = h * ((1 - Q) / (1 - sc[L.SC_Q0])) ** pg[L.P["war_credibility"]]
        h = h * (R / sc[L.SC_R0]) ** (-pg[L.P["war_balance"]])
    return h * (1 + q["sw_ar"] * pg[L.P["war_arms_race"]] * arms)


def _record(setup, state, d, rec, k, arms, hwar) -> None:
    ms, ss = state.ms, state.ss
    act = ms[L.MS_M]
    heg = setup.hegemon
    rec[L.REC_ALIVE, k] = ss[L.SS_ALIVE]
    rec[L.REC_NMEM, k] = d["n_act"]
    rec[L.REC_HEGMEM, k] = act[:, heg] if heg >= 0 else 0
    rec[L.REC_COH, k], rec[L.REC_CRED, k], rec[L.REC_RET, k] = d["C"], d["Q"], d["ret"]
    rec[L.REC_BAL, k], rec[L.REC_HHI, k], rec[L.REC_SPEND, k] = d["R"], d["hhi"], d["spending"]
    rec[L.REC_BURDEN, k] = d["ybsum"] / np.maximum(d["ysum"], 1e-30)
    rec[L.REC_ADV, k], rec[L.REC_HOST, k] = ss[L.SS_A], ss[L.SS_H]
    rec[L.REC_FRIC, k], rec[L.REC_HWAR, k], rec[L.REC_ARMS, k] = ss[L.SS_F], hwar, arms
    rec[L.REC_NPAND, k] = ss[L.SS_NPAND]
    forces = setup.mf[L.MF_FORCES][None, :]
    for j, thr in enumerate(setup.thresholds):
        rec[L.REC_MEET + j, k] = (act * forces * (ms[L.MS_B] >= thr)).sum(axis=1)


def step(k, setup, state, noise, rec, ev, em, snap=None, summary=None) -> None:
    """Record the state at step k and, if ``noise`` is given, update it to k + 1.

    ``snap`` (N_SNAP, S, N), if given, receives the member state at k before the update.
    """
    ms, ss, q = state.ms, state.ss, setup.scal
    d = derive(setup, state)
    ms[L.MS_C] = d["c"]
    # endogenous dissolution (E14) on the state at k
    causes, alive = _dissolution_rules(setup, state, d)
    for hit, cause in causes:
        new = alive & hit & (ss[L.SS_ALIVE] > 0.5)
        ss[L.SS_ALIVE] = np.where(new, 0, ss[L.SS_ALIVE])
        ev[L.EV_DISS_STEP] = np.where(new, k, ev[L.EV_DISS_STEP])
        ev[L.EV_DISS_CAUSE] = np.where(new, cause, ev[L.EV_DISS_CAUSE])
    # arms-race flag and change of capability shares over the last year (ring buffers)
    ys = setup.year_steps
    slot = k % ys
    g = (1 + q["arms_growth"]) * np.ones_like(d["flow"])
    if k >= ys:
        arms = (
            (d["flow"] >= g * state.flow_hist[slot]) & (ss[L.SS_A] >= g * state.adv_hist[slot])
        ).astype(ms.dtype)
        dshare = np.abs(d["shares"] - state.share_hist[slot])
    else:
        arms = np.zeros_like(d["flow"])
        dshare = np.zeros_like(d["shares"])
    state.flow_hist[slot], state.adv_hist[slot], state.share_hist[slot] = (
        d["flow"],
        ss[L.SS_A],
        d["shares"],
    )
    hwar = _war_hazard(setup, state, d, arms)
    _record(setup, state, d, rec, k, arms, hwar)
    if snap is not None:
        for j, v in (
            (L.SNAP_ACTIVE, L.MS_M),
            (L.SNAP_DIS, L.MS_DIS),
            (L.SNAP_B, L.MS_B),
            (L.SNAP_C, L.MS_C),
            (L.SNAP_G, L.MS_G),
        ):
            snap[j] = ms[v]
        snap[L.SNAP_GDP] = d["Y"]
    if summary is not None:
        _summarise_members(k, setup, state, d, summary)
    if noise is None:
        return
    _update(k, setup, state, d, noise, ev, em, hwar, dshare)


def _summarise_members(k, setup, state, d, summary) -> None:
    """Per-member sums over simulations at step k (counts, moments, burden histogram)."""
    msum, mhist, lo, width = summary
    ms = state.ms
    act = ms[L.MS_M] > 0.5
    b = ms[L.MS_B].astype(np.float64)
    c = d["c"].astype(np.float64)
    tgt = setup.target[min(k, setup.steps - 1)][None, :]
    forces = setup.mf[L.MF_FORCES][None, :] > 0.5
    for j, x in (
        (L.MSUM_ACTIVE, act),
        (L.MSUM_DIS, act & (ms[L.MS_DIS] > 0.5)),
        (L.MSUM_SCEPT, ms[L.MS_G] < 0.5),
        (L.MSUM_MEETS, act & forces & (b >= tgt - 1e-6)),
        (L.MSUM_C, c),
        (L.MSUM_C2, c * c),
        (L.MSUM_B, b),
        (L.MSUM_B2, b * b),
    ):
        msum[j, k] += x.sum(axis=0)
    nb = mhist.shape[2]
    idx = np.clip(((b - lo) / width).astype(np.int64), 0, nb - 1)
    N = b.shape[1]
    mhist[k] += np.bincount((idx + nb * np.arange(N)).ravel(), minlength=N * nb).reshape(N, nb)


def _update(k, setup, state, d, noise, ev, em, hwar, dshare) -> None:
    ms, ss, sc, mc, mf, pg, q = (
        state.ms,
        state.ss,
        setup.sc,
        setup.mc,
        setup.mf,
        setup.pg,
        setup.scal,
    )
    zm, um, zs, us = noise
    dt = setup.dt
    sq = np.sqrt(dt)
    col = {name: pg[j] for name, j in L.P.items()}
    c1 = {name: v[:, None] for name, v in col.items()}
    act = d["act"]
    isheg = mf[L.MF_ISHEG][None, :]
    t = min(k, setup.steps - 1)
    # E1 shocks
    pand = us[L.US_PAND] < sc[L.SC_PPAND]
    ms[L.MS_Y] += (pand * np.log1p(-col["pandemic_gdp_loss"]))[:, None]
    ss[L.SS_QPAND] = np.where(pand, sc[L.SC_QP], ss[L.SS_QPAND])
    ss[L.SS_NPAND] += pand
    n_cyb = poisson_inverse(us[L.US_CYBER], sc[L.SC_LCYB])
    n_j = poisson_inverse(us[L.US_CRISIS], sc[L.SC_LJ])
    jump = (
        col["cyber_impact"] * n_cyb
        + col["crisis_mean"] * n_j
        + col["crisis_sd"] * np.sqrt(n_j) * zs[L.ZS_JUMP]
    )
    # E2 economy
    rho_y = c1["gdp_common_share"]
    ms[L.MS_Y] += (mc[L.MC_GROWTH] - c1["gdp_volatility"] ** 2 / 2) * dt + c1[
        "gdp_volatility"
    ] * sq * (np.sqrt(rho_y) * zs[L.ZS_GDP][:, None] + np.sqrt(1 - rho_y) * zm[L.ZM_GDP])
    # E5 public support (rally on the last change of the threat multiplier and of friction)
    P = ms[L.MS_P].copy()
    newP = (
        P
        + c1["support_reversion"] * (mf[L.MF_PBAR][None, :] - P) * dt
        + c1["support_threat_rally"] * (d["M"] - ms[L.MS_MPREV])
        - q["sw_fw"]
        * c1["support_friction_effect"]
        * isheg
        * (ss[L.SS_F] - ss[L.SS_FPREV])[:, None]
        + c1["support_volatility"] * sq * zm[L.ZM_P]
    )
    ms[L.MS_MPREV] = d["M"]
    # E6 government change and orientation
    pending = ms[L.MS_NOTICE] > 0
    chg = um[L.UM_GOV] < sc[L.SC_PGOV][:, None]
    pro = um[L.UM_ORIENT] < 1 / (
        1 + np.exp(-(mc[L.MC_GAMMA0] + c1["government_support_effect"] * P))
    )
    G_old = ms[L.MS_G].copy()
    ms[L.MS_G] = np.where(chg, pro, G_old)
    ms[L.MS_TURNED] = np.where(chg & pro & pending, 1, ms[L.MS_TURNED])
    ms[L.MS_P] = newP
    # E7 burden sharing
    b = ms[L.MS_B].copy()
    Yb = act * d["Y"]
    den = d["ysum"][:, None] - Yb
    bbar = np.where(den > 0, (d["ybsum"][:, None] - Yb * b) / np.where(den > 0, den, 1), 0)
    bstar = (
        mf[L.MF_B0][None, :]
        + q["sw_tb"] * c1["threat_burden"] * (d["tau"] - mc[L.MC_TAU0])
        + c1["free_riding"] * (bbar - mc[L.MC_BBAR0])
    )
    squeeze = ss[L.SS_QPAND] > 0
    keff = col["burden_adjustment"] * (1 - col["pandemic_squeeze"] * squeeze)
    comply = G_old + (1 - G_old) * c1["sceptic_compliance"]
    gap = np.maximum(setup.target[t][None, :] - b, 0)
    pull = c1["target_pull"] * comply * (~squeeze)[:, None] * gap
    newb = b + dt * (keff[:, None] * (bstar - b) + pull) + c1["burden_volatility"] * sq * zm[L.ZM_B]
    ms[L.MS_B] = np.clip(newb, q["bmin"], q["bmax"]) * mf[L.MF_FORCES][None, :]
    ss[L.SS_QPAND] = np.maximum(ss[L.SS_QPAND] - 1, 0)
    # E10 friction (from the shortfall at k) and the hegemon's pivot
    short = (act * (1 - isheg) * mf[L.MF_FORCES][None, :] * d["Y"] * gap).sum(axis=1) / np.maximum(
        d["ysum"], 1e-30
    )
    F = ss[L.SS_F].copy()
    ss[L.SS_FPREV] = F
    ss[L.SS_F] = np.maximum(
        0,
        F
        + dt * (q["sw_bf"] * col["friction_gain"] * short - col["friction_reversion"] * F)
        + col["friction_volatility"] * sq * zs[L.ZS_F],
    )
    ss[L.SS_RHO] = np.maximum(q["rho_min"], ss[L.SS_RHO] - col["pivot_rate"] * dt)
    # E3 hostility, E4 idiosyncratic threat perception
    H = ss[L.SS_H].copy()
    ss[L.SS_H] = (
        H
        + col["hostility_reversion"] * (q["hbar"] - H) * dt
        + col["hostility_volatility"] * sq * zs[L.ZS_H]
        + jump
    )
    ms[L.MS_U] = sc[L.SC_PHIU][:, None] * ms[L.MS_U] + sc[L.SC_SDU][:, None] * zm[L.ZM_U]
    # E8 capability, E9 adversary (stochastic Richardson with an economic ceiling)
    ms[L.MS_K] = (1 - c1["capability_depreciation"] * dt) * ms[L.MS_K] + d["D"] * dt
    A = ss[L.SS_A].copy()
    newA = (
        A
        + dt
        * (
            col["adversary_reactivity"] * d["flow"]
            - col["adversary_fatigue"] * A
            + sc[L.SC_GA] * np.exp(H)
        )
        + col["adversary_volatility"] * sq * A * zs[L.ZS_A]
    )
    ss[L.SS_KA] = (1 - col["capability_depreciation"] * dt) * ss[L.SS_KA] + A * dt
    ss[L.SS_A] = np.clip(newA, 0, col["adversary_ceiling"] * q["adv_gdp"] / 100)
    # E13 withdrawal notices, rescission, exits; partial disengagement
    _membership(k, setup, state, d, um, em, G_old, P, dshare)
    # E14 exogenous dissolution, E15 conflict onset
    alive = ss[L.SS_ALIVE] > 0.5
    diss = alive & (us[L.US_DISS] < sc[L.SC_PDISS])
    ss[L.SS_ALIVE] = np.where(diss, 0, ss[L.SS_ALIVE])
    ev[L.EV_DISS_STEP] = np.where(diss, k + 1, ev[L.EV_DISS_STEP])
    ev[L.EV_DISS_CAUSE] = np.where(diss, L.CAUSE_EXOGENOUS, ev[L.EV_DISS_CAUSE])
    onset = (ss[L.SS_WAR] < 0.5) & (us[L.US_ONSET] < -np.expm1(-hwar * dt))
    if onset.any():
        _onset(k, setup, state, d, onset, alive, ev)


def _membership(k, setup, state, d, um, em, G_old, P, dshare) -> None:
    ms, sc, mc, mf, pg, q = state.ms, setup.sc, setup.mc, setup.mf, setup.pg, setup.scal
    c1 = {name: pg[j][:, None] for name, j in L.P.items()}
    act = d["act"] > 0.5
    isheg = mf[L.MF_ISHEG][None, :]
    notice = ms[L.MS_NOTICE]
    pending = notice > 0
    u = um[L.UM_NOTICE]
    resc = pending & (ms[L.MS_TURNED] > 0.5) & (u < sc[L.SC_PRESC][:, None])
    left = pending & ~resc & (notice <= 1)
    ms[L.MS_NOTICE] = np.where(pending & ~resc, notice - 1, np.where(resc, 0, notice))
    ms[L.MS_TURNED] = np.where(pending & ~resc & ~left, ms[L.MS_TURNED], 0)
    expo = (
        q["sw_pw"] * c1["support_hazard_effect"] * np.maximum(mf[L.MF_PBAR][None, :] - P, 0)
        + q["sw_fw"] * c1["friction_hazard_effect"] * state.ss[L.SS_F][:, None] * isheg
        + q["sw_pow"] * c1["power_hazard_effect"] * dshare
        - q["sw_tw"] * c1["threat_hazard_effect"] * np.maximum(d["tau"] - mc[L.MC_TAU0], 0)
    )
    hr = c1["sceptic_hazard_ratio"] ** ((1 - G_old) * q["sw_pw"])
    h = c1["withdrawal_base_hazard"] * hr * np.exp(expo) * mc[L.MC_HMULT]
    new = act & ~pending & (u < -np.expm1(-h * setup.dt))
    em[L.EM_NOTICE_STEP] = np.where(
        new & (em[L.EM_NOTICE_STEP] == L.NEVER), k + 1, em[L.EM_NOTICE_STEP]
    )
    if setup.notice_steps == 0:
        left = left | new
    else:
        ms[L.MS_NOTICE] = np.where(new, setup.notice_steps, ms[L.MS_NOTICE])
    ms[L.MS_M] = np.where(left, 0, ms[L.MS_M])
    em[L.EM_WD_STEP] = np.where(left, k + 1, em[L.EM_WD_STEP])
    dis = ms[L.MS_DIS] > 0.5
    up = um[L.UM_PART]
    flip = act & np.where(dis, up < sc[L.SC_PRET][:, None], up < sc[L.SC_PPART][:, None])
    ms[L.MS_DIS] = np.where(flip, 1 - ms[L.MS_DIS], ms[L.MS_DIS])


def _onset(k, setup, state, d, onset, alive, ev) -> None:
    """First conflict onset: the most exposed member is attacked; allies honour Art. 5 or not."""
    ss, sc = state.ss, setup.sc
    ss[L.SS_WAR] = np.where(onset, 1, ss[L.SS_WAR])
    ev[L.EV_ONSET_STEP] = np.where(onset, k + 1, ev[L.EV_ONSET_STEP])
    tgt = sc[L.SC_TARGET].astype(np.int64)
    ev[L.EV_TARGET] = np.where(onset, tgt, ev[L.EV_TARGET])
    eligible = d["act"] > 0.5
    eligible[np.arange(len(tgt)), tgt] = False
    honours = eligible & (state.honour_u < d["c"])
    wk = d["wk"]
    n_el = eligible.sum(axis=1)
    rate = honours.sum(axis=1) / np.maximum(n_el, 1)
    rate_w = (wk * honours).sum(axis=1) / np.maximum((wk * eligible).sum(axis=1), 1e-30)
    with_art5 = onset & alive & (n_el > 0)
    ev[L.EV_HONOUR] = np.where(with_art5, rate, ev[L.EV_HONOUR])
    ev[L.EV_HONOUR_W] = np.where(with_art5, rate_w, ev[L.EV_HONOUR_W])
    heg = setup.hegemon
    if heg >= 0:
        hh = np.where(eligible[:, heg], honours[:, heg].astype(float), -1)
        ev[L.EV_HEG_HONOUR] = np.where(with_art5, hh, ev[L.EV_HEG_HONOUR])
