"""The vectorised reference step: one update of every simulation at once, over (S, N).

It composes the equations of ``equations`` as numpy ufuncs, in the order of
docs/model.md; the fused numba step (``fused``) composes the same compiled equations
in loops. Both read the state at step k, record it, and (unless k is the last record) write
the state at k + 1; in float64 they agree to round-off (tests/models/test_backends.py).
"""

from __future__ import annotations

import numpy as np

from alliance_risk.models import equations, numerics
from alliance_risk.models import layout as L

E = equations.ufuncs


def _p(setup, name, member=False):
    col = setup.pg[L.P[name]].astype(np.float64)
    return col[:, None] if member else col


def transcendentals(setup, state, fill_logit) -> tuple:
    """The block-wide exponentials both steps share: GDP levels Y = e^y, the threat multiplier
    M = e^u · e^(H + ω ln(A/A0)) and the commitment c = 1 / (1 + e^(−logit c)).

    ``fill_logit(setup, state, EU, eb, out)`` writes the logit of c (E11). Returns
    (Y, EU, eb, EC) with EC = e^(−logit c), in the working dtype.
    """
    ms, ss, qs = state.ms, state.ss, setup.qs
    Y, EU, EC = state.exps
    np.exp(ms[L.MS_Y], out=Y)
    np.exp(ms[L.MS_U], out=EU)
    lnc = E.log_threat_common(
        ss[L.SS_H], setup.pg[L.P["threat_power_elasticity"]], ss[L.SS_A], qs[L.Q_A0]
    )
    eb = numerics.exp(lnc).astype(ms.dtype)  # numpy's float64 exp differs on AVX-512
    fill_logit(setup, state, EU, eb, EC)
    np.negative(EC, out=EC)
    with np.errstate(over="ignore"):  # logit c < -88 in float32: e^(-logit) = inf, c = 0
        np.exp(EC, out=EC)
    return Y, EU, eb, EC


def _fill_logit(setup, state, EU, eb, out) -> None:
    ms, ss, mf, isheg = state.ms, state.ss, setup.mf, setup.mf[L.MF_ISHEG][None, :]
    friction = setup.qs[L.Q_SWFW] * _p(setup, "commitment_friction") * ss[L.SS_F]
    out[...] = E.commitment_logit(
        setup.sc[L.SC_LOGITC][:, None],
        _p(setup, "commitment_government", True),
        ms[L.MS_G],
        _p(setup, "commitment_support", True),
        ms[L.MS_P],
        mf[L.MF_PBAR][None, :],
        _p(setup, "commitment_threat", True),
        EU * eb[:, None],
        friction[:, None] * isheg,
        _p(setup, "commitment_disengaged", True),
        ms[L.MS_DIS],
    )


def derive(setup, state, exps=None) -> dict:
    """Quantities derived from the state at step k (threat, spending, indices: E4, E8, E11,
    E12)."""
    ms, ss, sc, mc, mf = state.ms, state.ss, setup.sc, setup.mc, setup.mf
    Y, EU, eb, EC = exps if exps is not None else transcendentals(setup, state, _fill_logit)
    act = ms[L.MS_M].astype(np.float64)
    M = EU * eb[:, None]
    tau = mc[L.MC_PROX] * M.astype(np.float64)
    c = 1.0 / (1.0 + EC)
    D = ms[L.MS_B] * Y / 100.0
    w = E.theatre_weight(
        mf[L.MF_ISHEG][None, :],
        ss[L.SS_RHO][:, None],
        ms[L.MS_DIS],
        _p(setup, "disengaged_contribution", True),
    )
    mw = act * w
    wk = mw * ms[L.MS_K]
    flow = (mw * D).sum(axis=1)
    stock = wk.sum(axis=1)
    n_act = act.sum(axis=1)
    n_safe = np.maximum(n_act, 1)
    mean_c = (act * c).sum(axis=1) / n_safe
    mean_tau = (act * tau).sum(axis=1) / n_safe
    var_tau = np.maximum((act * tau * tau).sum(axis=1) / n_safe - mean_tau * mean_tau, 0.0)
    cv = np.sqrt(var_tau) / np.maximum(mean_tau, 1e-30)
    C = E.cohesion(mean_c, cv, sc[L.SC_CV0], _p(setup, "cohesion_divergence"), n_act)
    stock_safe = np.where(stock > 0, stock, 1)
    shares = wk / stock_safe[:, None]
    ysum = (act * Y).sum(axis=1)
    return dict(
        act=act,
        wk=wk,
        Y=Y,
        M=M,
        tau=tau,
        D=D,
        flow=flow,
        stock=stock,
        c=c,
        n_act=n_act,
        C=C,
        Q=np.where(stock > 0, (wk * c).sum(axis=1) / stock_safe, 0),
        ret=stock / ms[L.MS_K].sum(axis=1),
        R=(wk * c * mc[L.MC_LOC]).sum(axis=1) / (ss[L.SS_KA] * sc[L.SC_MPROX]),
        shares=shares,
        hhi=(shares * shares).sum(axis=1),
        ysum=ysum,
        ybsum=(act * Y * ms[L.MS_B]).sum(axis=1),
        spending=(act * D).sum(axis=1),
    )


def _dissolution_rules(setup, state, d, k, ev) -> None:
    """E14, endogenous: low cohesion for L_min quarters, capability lost, too few members."""
    ss, qs = state.ss, setup.qs
    alive = ss[L.SS_ALIVE] > 0.5
    low = d["C"] < qs[L.Q_THETAC] * setup.sc[L.SC_C0]
    ss[L.SS_LLOW] = np.where(alive & low, ss[L.SS_LLOW] + 1, 0)
    for hit, cause in (
        (ss[L.SS_LLOW] >= setup.low_steps, L.CAUSE_COHESION),
        (d["ret"] < qs[L.Q_KMIN], L.CAUSE_CAPABILITY),
        (d["n_act"] < qs[L.Q_NMIN], L.CAUSE_MEMBERS),
    ):
        new = alive & hit & (ss[L.SS_ALIVE] > 0.5)
        ss[L.SS_ALIVE] = np.where(new, 0, ss[L.SS_ALIVE])
        ev[L.EV_DISS_STEP] = np.where(new, k, ev[L.EV_DISS_STEP])
        ev[L.EV_DISS_CAUSE] = np.where(new, cause, ev[L.EV_DISS_CAUSE])


def _hazards(setup, state, d, arms) -> tuple[np.ndarray, np.ndarray]:
    """E15 attack hazard (after dissolution Q = 0 and R is the target's own) and E15b dyad
    hazard, at step k."""
    ss, sc, qs, ms = state.ss, setup.sc, setup.qs, state.ms
    alive = ss[L.SS_ALIVE] > 0.5
    tgt = sc[L.SC_TARGET].astype(np.int64)
    rows = np.arange(len(tgt))
    own = ms[L.MS_K][rows, tgt] * setup.mc[L.MC_PROX][rows, tgt] / (ss[L.SS_KA] * sc[L.SC_MPROX])
    Q = np.where(alive, d["Q"], 0.0)
    R = np.where(alive, d["R"], own)
    if not qs[L.Q_SWCD]:
        Q, R = qs[L.Q_QREF], qs[L.Q_RREF]
    hwar = E.war_hazard(
        _p(setup, "war_base_hazard"),
        _p(setup, "war_hostility"),
        ss[L.SS_H],
        _p(setup, "war_credibility"),
        Q,
        qs[L.Q_QREF],
        _p(setup, "war_balance"),
        R,
        qs[L.Q_RREF],
        _p(setup, "war_arms_race"),
        qs[L.Q_SWAR] * arms,
    )
    hdyad = np.zeros(len(tgt))
    for i, j in setup.dyads:
        both = ms[L.MS_M, :, i] * ms[L.MS_M, :, j] * alive
        hdyad = hdyad + E.dyad_hazard(_p(setup, "dyad_base_hazard"), sc[L.SC_DYADF], both)
    return hwar, hdyad


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
    ms, ss = state.ms, state.ss
    d = derive(setup, state)
    ms[L.MS_C] = d["c"]
    _dissolution_rules(setup, state, d, k, ev)
    # arms-race flag and change of capability shares over the last year (ring buffers)
    ys, slot = setup.year_steps, k % setup.year_steps
    g = 1 + setup.qs[L.Q_ARMS]
    if k >= ys:
        arms = (
            (d["flow"] >= g * state.flow_hist[slot]) & (ss[L.SS_A] >= g * state.adv_hist[slot])
        ).astype(np.float64)
        dshare = np.abs(d["shares"] - state.share_hist[slot])
    else:
        arms = np.zeros_like(d["flow"])
        dshare = np.zeros_like(d["shares"])
    state.flow_hist[slot], state.adv_hist[slot] = d["flow"], ss[L.SS_A]
    state.share_hist[slot] = d["shares"]
    hwar, hdyad = _hazards(setup, state, d, arms)
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
    if noise is not None:
        _update(k, setup, state, d, noise, ev, em, hwar, hdyad, dshare)


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
    idx = np.clip(((b - lo) * (1.0 / width)).astype(np.int64), 0, nb - 1)
    N = b.shape[1]
    mhist[k] += np.bincount((idx + nb * np.arange(N)).ravel(), minlength=N * nb).reshape(N, nb)


def _update(k, setup, state, d, noise, ev, em, hwar, hdyad, dshare) -> None:
    """The update from k to k + 1, in the order of docs/model.md."""
    ms, ss, sc, qs = state.ms, state.ss, setup.sc, setup.qs
    zm, um, zs, us = noise
    dt = setup.dt
    t = min(k, setup.steps - 1)
    # E1 shocks
    pand = us[L.US_PAND] < sc[L.SC_PPAND]
    shock = np.where(pand, E.pandemic_shock(_p(setup, "pandemic_gdp_loss")), 0.0)
    ss[L.SS_QPAND] = np.where(pand, sc[L.SC_QP], ss[L.SS_QPAND])
    ss[L.SS_NPAND] += pand
    n_j = E.poisson_inverse(us[L.US_CRISIS], sc[L.SC_LJ], sc[L.SC_P0J])
    jump = E.hostility_jump(
        E.poisson_inverse(us[L.US_CYBER], sc[L.SC_LCYB], sc[L.SC_P0CYB]),
        _p(setup, "cyber_impact"),
        n_j,
        _p(setup, "crisis_mean"),
        _p(setup, "crisis_sd"),
        zs[L.ZS_JUMP],
    )
    squeeze = ss[L.SS_QPAND] > 0
    G_old, P_old = ms[L.MS_G].copy(), ms[L.MS_P].copy()
    # E6, E13 and partial disengagement read the state at k
    _membership(k, setup, state, d, um, em, dshare)
    # E2 economy
    ms[L.MS_Y] = E.log_gdp_next(
        ms[L.MS_Y],
        setup.mc[L.MC_GROWTH],
        _p(setup, "gdp_volatility", True),
        _p(setup, "gdp_common_share", True),
        zs[L.ZS_GDP][:, None],
        zm[L.ZM_GDP],
        shock[:, None],
        dt,
    )
    # E5 public support (rally on the last change of the threat multiplier and of friction)
    isheg = setup.mf[L.MF_ISHEG][None, :]
    drop = qs[L.Q_SWFW] * _p(setup, "support_friction_effect") * (ss[L.SS_F] - ss[L.SS_FPREV])
    ms[L.MS_P] = E.support_next(
        P_old,
        _p(setup, "support_reversion", True) * dt,
        setup.mf[L.MF_PBAR][None, :],
        _p(setup, "support_threat_rally", True),
        d["M"],
        ms[L.MS_MPREV],
        drop[:, None] * isheg,
        _p(setup, "support_volatility", True) * np.sqrt(dt),
        zm[L.ZM_P],
    )
    ms[L.MS_MPREV] = d["M"]
    # E7 burden sharing
    b_k = state.ms[L.MS_B].astype(np.float64)  # burden at k: E7 and the shortfall (E10)
    _burden(t, setup, state, d, b_k, G_old, squeeze, zm[L.ZM_B], um[L.UM_PART])
    ss[L.SS_QPAND] = np.maximum(ss[L.SS_QPAND] - 1, 0)
    # E10 friction (from the shortfall at k) and the hegemon's pivot
    forces = setup.mf[L.MF_FORCES][None, :]
    gap = np.maximum(setup.target[t][None, :] - b_k, 0.0)
    short = (d["act"] * (1 - isheg) * forces * d["Y"] * gap).sum(axis=1) / np.maximum(
        d["ysum"], 1e-30
    )
    F = ss[L.SS_F].copy()
    ss[L.SS_FPREV] = F
    ss[L.SS_F] = E.friction_next(
        F,
        qs[L.Q_SWBF] * _p(setup, "friction_gain"),
        short,
        _p(setup, "friction_reversion"),
        _p(setup, "friction_volatility"),
        zs[L.ZS_F],
        dt,
    )
    ss[L.SS_RHO] = E.pivot_next(ss[L.SS_RHO], _p(setup, "pivot_rate"), qs[L.Q_RHOMIN], dt)
    # E3 hostility, E4 idiosyncratic threat perception
    H = ss[L.SS_H].copy()
    ss[L.SS_H] = E.hostility_next(
        H,
        _p(setup, "hostility_reversion"),
        qs[L.Q_HBAR],
        _p(setup, "hostility_volatility"),
        zs[L.ZS_H],
        jump + setup.hshock[t],
        dt,
    )
    ms[L.MS_U] = E.threat_idio_next(
        ms[L.MS_U], sc[L.SC_PHIU][:, None], sc[L.SC_SDU][:, None], zm[L.ZM_U]
    )
    # E8 capability; E9 adversary economy and spending
    ms[L.MS_K] = E.capability_next(
        ms[L.MS_K], _p(setup, "capability_depreciation", True), d["D"], dt
    )
    ss[L.SS_KA] = E.capability_next(
        ss[L.SS_KA], _p(setup, "capability_depreciation"), ss[L.SS_A], dt
    )
    ss[L.SS_YA] = E.log_gdp_next(
        ss[L.SS_YA],
        _p(setup, "adversary_gdp_growth"),
        _p(setup, "adversary_gdp_volatility"),
        1.0,
        zs[L.ZS_YA],
        0.0,
        0.0,
        dt,
    )
    ss[L.SS_LOGA] = E.adversary_next(
        ss[L.SS_LOGA],
        qs[L.Q_LOGA0],
        qs[L.Q_AGROWTH],
        k * dt,
        _p(setup, "adversary_fatigue"),
        _p(setup, "adversary_hostility_effect"),
        H,
        _p(setup, "adversary_reactivity"),
        E.log_ratio(d["flow"], sc[L.SC_FLOW0]),
        _p(setup, "adversary_volatility"),
        zs[L.ZS_A],
        sc[L.SC_LCEIL],
        ss[L.SS_YA],
        dt,
    )
    ss[L.SS_A] = E.spending_level(ss[L.SS_LOGA])
    # E14 exogenous dissolution, E15 conflict onset, E15b intra-alliance dispute
    alive = ss[L.SS_ALIVE] > 0.5
    diss = alive & (us[L.US_DISS] < sc[L.SC_PDISS])
    ss[L.SS_ALIVE] = np.where(diss, 0, ss[L.SS_ALIVE])
    ev[L.EV_DISS_STEP] = np.where(diss, k + 1, ev[L.EV_DISS_STEP])
    ev[L.EV_DISS_CAUSE] = np.where(diss, L.CAUSE_EXOGENOUS, ev[L.EV_DISS_CAUSE])
    onset = (ss[L.SS_WAR] < 0.5) & (us[L.US_ONSET] < E.event_probability(hwar, dt))
    if onset.any():
        _onset(k, setup, state, d, onset, alive, ev)
    dispute = (ss[L.SS_DISPUTE] < 0.5) & (us[L.US_DYAD] < E.event_probability(hdyad, dt))
    ss[L.SS_DISPUTE] = np.where(dispute, 1, ss[L.SS_DISPUTE])
    ev[L.EV_DISPUTE_STEP] = np.where(dispute, k + 1, ev[L.EV_DISPUTE_STEP])


def _burden(t, setup, state, d, b, G_old, squeeze, z, u_slip) -> None:
    """E7: partial adjustment to the desired burden, target pull, noise, and (model 2) the
    level a compliant government holds unless its burden slips."""
    ms, qs = state.ms, setup.qs
    act = d["act"]
    bbar = E.allies_burden(d["ybsum"][:, None], d["ysum"][:, None], act * d["Y"], b)
    bstar = E.desired_burden(
        setup.anchor[t][None, :],
        qs[L.Q_SWTB] * _p(setup, "threat_burden", True),
        d["tau"],
        setup.mc[L.MC_TAU0],
        _p(setup, "free_riding", True),
        bbar,
        setup.mc[L.MC_BBAR0],
    )
    keff = _p(setup, "burden_adjustment") * (1 - _p(setup, "pandemic_squeeze") * squeeze)
    slip = u_slip > 1.0 - setup.sc[L.SC_PSLIP][:, None]
    keep = (qs[L.Q_HOLD] > 0) & (G_old > 0.5) & ~slip
    hold = np.where(keep, E.burden_hold_level(b, setup.target[t][None, :], qs[L.Q_GUIDE]), 0.0)
    newb = E.burden_next(
        b,
        bstar,
        setup.goal[t][None, :],
        keff[:, None],
        _p(setup, "target_pull", True) * setup.pull_scale[t] * ~squeeze[:, None],
        G_old + (1 - G_old) * _p(setup, "sceptic_compliance", True),
        _p(setup, "burden_volatility", True) * np.sqrt(setup.dt),
        z,
        hold,
        qs[L.Q_BMIN],
        qs[L.Q_BMAX],
        setup.dt,
    )
    ms[L.MS_B] = newb * setup.mf[L.MF_FORCES][None, :]


def _membership(k, setup, state, d, um, em, dshare) -> None:
    """E6 government change, E13 notices, rescission and exits, partial disengagement; all
    read the state at k (orientation, support, friction, threat)."""
    ms, ss, sc, mc, mf, qs = state.ms, state.ss, setup.sc, setup.mc, setup.mf, setup.qs
    act = d["act"] > 0.5
    isheg = mf[L.MF_ISHEG][None, :]
    G_old, P = ms[L.MS_G].copy(), ms[L.MS_P]
    notice = ms[L.MS_NOTICE]
    pending = notice > 0
    # E6
    chg = (um[L.UM_GOV] < sc[L.SC_PGOV][:, None]) & (mf[L.MF_CAL][None, :] < 0.5)
    pro = um[L.UM_ORIENT] < E.pro_government_probability(
        mc[L.MC_GAMMA0], _p(setup, "government_support_effect", True), P
    )
    ms[L.MS_G] = np.where(chg, pro, G_old)
    ms[L.MS_TURNED] = np.where(chg & pro & pending, 1, ms[L.MS_TURNED])
    # E13
    u = um[L.UM_NOTICE]
    resc = pending & (ms[L.MS_TURNED] > 0.5) & (u < sc[L.SC_PRESC][:, None])
    left = pending & ~resc & (notice <= 1)
    ms[L.MS_NOTICE] = np.where(pending & ~resc, notice - 1, np.where(resc, 0, notice))
    ms[L.MS_TURNED] = np.where(pending & ~resc & ~left, ms[L.MS_TURNED], 0)
    fric = qs[L.Q_SWFW] * _p(setup, "friction_hazard_effect") * ss[L.SS_F]
    expo = E.withdrawal_exponent(
        qs[L.Q_SWPW] * _p(setup, "support_hazard_effect", True),
        mf[L.MF_PBAR][None, :],
        P,
        fric[:, None] * isheg,
        qs[L.Q_SWPOW] * _p(setup, "power_hazard_effect", True),
        dshare,
        qs[L.Q_SWTW] * _p(setup, "threat_hazard_effect", True),
        d["tau"],
        mc[L.MC_TAU0],
    )
    h = E.withdrawal_hazard(
        _p(setup, "withdrawal_base_hazard", True),
        _p(setup, "sceptic_hazard_ratio", True),
        (G_old < 0.5) & (qs[L.Q_SWPW] > 0),
        mc[L.MC_HMULT],
        expo,
    )
    new = act & ~pending & (u < E.event_probability(h, setup.dt))
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
    """First conflict onset: the most exposed member is attacked; allies honour Article 5
    through the common-factor copula (E15)."""
    ss, sc = state.ss, setup.sc
    ss[L.SS_WAR] = np.where(onset, 1, ss[L.SS_WAR])
    ev[L.EV_ONSET_STEP] = np.where(onset, k + 1, ev[L.EV_ONSET_STEP])
    tgt = sc[L.SC_TARGET].astype(np.int64)
    ev[L.EV_TARGET] = np.where(onset, tgt, ev[L.EV_TARGET])
    eligible = d["act"] > 0.5
    eligible[np.arange(len(tgt)), tgt] = False
    honours = eligible & (
        E.honours(
            state.honour_common[:, None],
            state.honour_own,
            _p(setup, "honour_correlation", True),
            d["c"],
        )
        > 0.5
    )
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
