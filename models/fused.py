"""The fused numba step: the update of ``reference``, one pass per simulation.

Loops over simulations and members are compiled, so the temporaries of the vectorised
reference (dozens of (S, N) arrays per step) stay in registers. The formulas are not
written here: every one is a call to ``equations``, inlined into these loops, whose
source the reference compiles as float64 ufuncs. The state, the constants and the outputs
travel as typed records (``kernel.Setup``, ``kernel.State``, ``Outputs`` below). Each
simulation's variates are computed in the loop from the block's key (``innovations.Draw``)
into a small scratch (``innovations.SimNoise``), or copied there from a ``noise.StepNoise``
of arrays when a hook transforms them. Stored state is the working dtype (float32 by
default); in float64 the two steps agree on every output (tests/models/test_backends.py).
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

import numba
import numpy as np

from alliance_risk.models import equations as eq
from alliance_risk.models import innovations as inn
from alliance_risk.models import layout as L
from alliance_risk.models.noise import StepNoise
from alliance_risk.models.reference import transcendentals


class Outputs(NamedTuple):
    """Where a step writes: the record, events, member events, snapshot and summaries."""

    rec: np.ndarray  # (n_rec, steps + 1, S)
    ev: np.ndarray  # (N_EV, S)
    em: np.ndarray  # (N_EM, S, N)
    snap: np.ndarray  # (N_SNAP, S, N), or a dummy when do_snap is False
    msum: np.ndarray  # (N_MSUM, steps + 1, N), or a dummy
    mhist: np.ndarray  # (steps + 1, N, bins), or a dummy
    hist_low: float
    hist_inv_width: float  # bins per unit: both steps bin with (x - low) * this
    do_snap: bool
    do_sum: bool


class Scratch(NamedTuple):
    """Per-simulation member vectors and the step's per-member accumulators (allocated by
    ``scratch``, once per block)."""

    M: np.ndarray
    c: np.ndarray
    tau: np.ndarray
    D: np.ndarray
    wk: np.ndarray
    act: np.ndarray
    dshare: np.ndarray
    gnew: np.ndarray
    new_p: np.ndarray  # support at k + 1, before it is stored
    new_b: np.ndarray  # burden at k + 1, before it is stored
    flags: np.ndarray
    may_notice: np.ndarray  # the screen's verdict: this member's notice is possible
    acc: np.ndarray  # (N_MSUM, N) per-member sums of this step
    hacc: np.ndarray  # (N, bins) int32 burden histogram of this step (half the cache lines)
    hbin: np.ndarray  # (N,) int32: each member's burden bin in this simulation


def scratch(n_members: int, bins: int) -> Scratch:
    N = n_members
    vec = [np.empty(N) for _ in range(10)]
    return Scratch._make(
        [
            *vec,
            np.empty(N, dtype=np.bool_),
            np.empty(N, dtype=np.bool_),
            np.zeros((L.N_MSUM, N)),
            np.zeros((N, bins), np.int32),
            np.zeros(N, np.int32),
        ]
    )


# contract/reassociate/approximate-reciprocal, and no NaN (the state holds none; with nnan
# numba emits math.sqrt as the sqrt instruction instead of a libm call). No assumption about
# inf or signed zeros.
_FAST = {"contract", "arcp", "reassoc", "nnan"}


# The step is compiled without numba's reference counting (_nrt=False): with it, handing the
# setup, state and output records to each per-simulation part increfs and decrefs every array
# they hold, per simulation (measured: 2.5x slower). So the step allocates nothing; its
# scratch vectors come from Python. The parts are inlined into it.
class _NoAliasCompiler(numba.core.compiler.Compiler):
    """numba's compiler with every pointer argument marked ``noalias`` (numba's own flag, set
    for parfors kernels). True here: every array the step writes (state, record, events,
    summaries, scratch) is an allocation of its own, and arguments that are views of one
    buffer (the block transcendentals) are only read. Saying so lets LLVM vectorise loops that
    write the state while reading other arrays (measured: +13% on the mean of 3 interleaved
    runs, `python benchmarks/bench_kernel.py`)."""

    def define_pipelines(self):
        self.state.flags.noalias = True
        return super().define_pipelines()


_jit = numba.njit(  # type: ignore[call-overload]  # _nrt: numba's private flag
    cache=True,
    nogil=True,
    error_model="numpy",
    fastmath=_FAST,
    _nrt=False,
    pipeline_class=_NoAliasCompiler,
)
_part = numba.njit(  # type: ignore[call-overload]
    cache=True, nogil=True, error_model="numpy", fastmath=_FAST, inline="always", _nrt=False
)


@_jit
def _fill_logit(setup, state, EU, eb, out):
    """E11 logit of the commitment of every (s, i), as the reference's ``_fill_logit``."""
    ms, ss, pg, mf = state.ms, state.ss, setup.pg, setup.mf
    S, N = out.shape
    for s in range(S):
        fric = setup.qs[L.Q_SWFW] * pg[L.P_COMMITMENT_FRICTION, s] * ss[L.SS_F, s]
        for i in range(N):
            out[s, i] = eq.commitment_logit(
                setup.sc[L.SC_LOGITC, s],
                pg[L.P_COMMITMENT_GOVERNMENT, s],
                ms[L.MS_G, s, i],
                pg[L.P_COMMITMENT_SUPPORT, s],
                ms[L.MS_P, s, i],
                mf[L.MF_PBAR, i],
                pg[L.P_COMMITMENT_THREAT, s],
                EU[s, i] * eb[s],
                fric * mf[L.MF_ISHEG, i],
                pg[L.P_COMMITMENT_DISENGAGED, s],
                ms[L.MS_DIS, s, i],
            )


def _fill_logit_py(setup, state, EU, eb, out) -> None:
    _fill_logit(setup, state, EU, eb, out)


@_part
def _derive(s, k, setup, state, Y, EU, eb, EC, w):
    """E4, E8, E11, E12 at step k for simulation s: fills the scratch vectors ``w`` and
    returns (flow, n_act, C, Q, R, ret, hhi, ysum, ybsum, spend)."""
    w_M, w_c, w_tau, w_D, w_wk, w_act, w_dshare = w.M, w.c, w.tau, w.D, w.wk, w.act, w.dshare
    ms, mc, mf, pg = state.ms, setup.mc, setup.mf, setup.pg
    N = ms.shape[2]
    rho, wdis = state.ss[L.SS_RHO, s], pg[L.P_DISENGAGED_CONTRIBUTION, s]
    flow = stock = n_act = sum_c = sum_tau = sum_tau2 = 0.0
    ysum = ybsum = spend = wkc = wkcl = ksum = 0.0
    e_b = eb[s]
    isheg = mf[L.MF_ISHEG]
    for i in range(N):
        w_M[i] = EU[s, i] * e_b
        w_c[i] = 1.0 / (1.0 + EC[s, i])
    for i in range(N):
        a = float(ms[L.MS_M, s, i])
        ta = mc[L.MC_PROX, s, i] * w_M[i]
        d = ms[L.MS_B, s, i] * Y[s, i] / 100.0
        mw = a * eq.theatre_weight(isheg[i], rho, ms[L.MS_DIS, s, i], wdis)
        x = mw * ms[L.MS_K, s, i]
        w_tau[i], w_D[i], w_wk[i], w_act[i] = ta, d, x, a
        ms[L.MS_C, s, i] = w_c[i]
        flow += mw * d
        stock += x
        n_act += a
        sum_c += a * w_c[i]
        sum_tau += a * ta
        sum_tau2 += a * ta * ta
        ysum += a * Y[s, i]
        ybsum += a * Y[s, i] * ms[L.MS_B, s, i]
        spend += a * d
        wkc += x * w_c[i]
        wkcl += x * w_c[i] * mc[L.MC_LOC, s, i]
        ksum += ms[L.MS_K, s, i]
    n_safe = max(n_act, 1.0)
    mean_tau = sum_tau / n_safe
    var_tau = max(sum_tau2 / n_safe - mean_tau * mean_tau, 0.0)
    cv = math.sqrt(var_tau) / max(mean_tau, 1e-30)
    C = eq.cohesion(
        sum_c / n_safe, cv, setup.sc[L.SC_CV0, s], pg[L.P_COHESION_DIVERGENCE, s], n_act
    )
    stock_safe = stock if stock > 0 else 1.0
    Q = wkc / stock_safe if stock > 0 else 0.0
    R = wkcl / (state.ss[L.SS_KA, s] * setup.sc[L.SC_MPROX, s])
    ret = stock / ksum
    hhi = 0.0
    slot = k % setup.year_steps
    warm = 1.0 if k >= setup.year_steps else 0.0
    for i in range(N):
        sh = w_wk[i] / stock_safe
        hhi += sh * sh
        w_dshare[i] = warm * abs(sh - state.share_hist[slot, s, i])
        state.share_hist[slot, s, i] = sh
    return flow, n_act, C, Q, R, ret, hhi, ysum, ybsum, spend


@_part
def _dissolve(s, k, setup, state, out, C, ret, n_act):
    """E14, endogenous: low cohesion for L_min quarters, capability lost, too few members."""
    ss, qs = state.ss, setup.qs
    alive = ss[L.SS_ALIVE, s] > 0.5
    if alive and C < qs[L.Q_THETAC] * setup.sc[L.SC_C0, s]:
        ss[L.SS_LLOW, s] += 1.0
    else:
        ss[L.SS_LLOW, s] = 0.0
    if alive:
        cause = 0
        if ss[L.SS_LLOW, s] >= setup.low_steps:
            cause = L.CAUSE_COHESION
        elif ret < qs[L.Q_KMIN]:
            cause = L.CAUSE_CAPABILITY
        elif n_act < qs[L.Q_NMIN]:
            cause = L.CAUSE_MEMBERS
        if cause > 0:
            ss[L.SS_ALIVE, s] = 0.0
            out.ev[L.EV_DISS_STEP, s] = k
            out.ev[L.EV_DISS_CAUSE, s] = cause


@_part
def _hazards(s, setup, state, Q, R, arms, alive):
    """E15 attack hazard and E15b dyad hazard at step k (as the reference's ``_hazards``)."""
    ss, sc, qs, pg, ms = state.ss, setup.sc, setup.qs, setup.pg, state.ms
    tgt = int(sc[L.SC_TARGET, s])
    if not alive:
        Q = 0.0
        R = ms[L.MS_K, s, tgt] * setup.mc[L.MC_PROX, s, tgt] / (ss[L.SS_KA, s] * sc[L.SC_MPROX, s])
    if qs[L.Q_SWCD] == 0:
        Q, R = qs[L.Q_QREF], qs[L.Q_RREF]
    hwar = eq.war_hazard(
        pg[L.P_WAR_BASE_HAZARD, s],
        pg[L.P_WAR_HOSTILITY, s],
        ss[L.SS_H, s],
        pg[L.P_WAR_CREDIBILITY, s],
        Q,
        qs[L.Q_QREF],
        pg[L.P_WAR_BALANCE, s],
        R,
        qs[L.Q_RREF],
        pg[L.P_WAR_ARMS_RACE, s],
        qs[L.Q_SWAR] * arms,
    )
    hdyad = 0.0
    for j in range(setup.dyads.shape[0]):
        a, b = setup.dyads[j, 0], setup.dyads[j, 1]
        both = ms[L.MS_M, s, a] * ms[L.MS_M, s, b] * (1.0 if alive else 0.0)
        hdyad += eq.dyad_hazard(pg[L.P_DYAD_BASE_HAZARD, s], sc[L.SC_DYADF, s], both)
    return hwar, hdyad


@_part
def _record(s, k, setup, state, out, w, n_act, C, Q, R, ret, hhi, ysum, ybsum, spend, hw, arms, Y):
    w_c = w.c
    ms, ss, rec = state.ms, state.ss, out.rec
    heg, N = setup.hegemon, ms.shape[2]
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
    rec[L.REC_ADV, k, s] = ss[L.SS_A, s]
    rec[L.REC_HOST, k, s] = ss[L.SS_H, s]
    rec[L.REC_FRIC, k, s] = ss[L.SS_F, s]
    rec[L.REC_HWAR, k, s] = hw
    rec[L.REC_ARMS, k, s] = arms
    rec[L.REC_NPAND, k, s] = ss[L.SS_NPAND, s]
    forces = setup.mf[L.MF_FORCES]
    for j in range(setup.thresholds.shape[0]):
        cnt = 0.0
        for i in range(N):
            cnt += ms[L.MS_M, s, i] * forces[i] * (ms[L.MS_B, s, i] >= setup.thresholds[j])
        rec[L.REC_MEET + j, k, s] = cnt
    if out.do_snap:
        for i in range(N):
            out.snap[L.SNAP_ACTIVE, s, i] = ms[L.MS_M, s, i]
            out.snap[L.SNAP_DIS, s, i] = ms[L.MS_DIS, s, i]
            out.snap[L.SNAP_B, s, i] = ms[L.MS_B, s, i]
            out.snap[L.SNAP_C, s, i] = w_c[i]
            out.snap[L.SNAP_G, s, i] = ms[L.MS_G, s, i]
            out.snap[L.SNAP_GDP, s, i] = Y[s, i]


@_part
def _summarise(s, k, setup, state, out, w, acc, hacc):
    """Per-member sums over simulations into the step's accumulators (branch-free)."""
    w_c = w.c
    ms = state.ms
    tr = setup.target[min(k, setup.steps - 1)]
    forces = setup.mf[L.MF_FORCES]
    nbins = hacc.shape[1]
    for i in range(ms.shape[2]):
        a = 1.0 if ms[L.MS_M, s, i] > 0.5 else 0.0
        b = ms[L.MS_B, s, i]
        c = w_c[i]
        acc[0, i] += a
        acc[1, i] += a * (ms[L.MS_DIS, s, i] > 0.5)
        acc[2, i] += ms[L.MS_G, s, i] < 0.5
        acc[3, i] += a * forces[i] * (b >= tr[i] - 1e-6)
        acc[4, i] += c
        acc[5, i] += c * c
        acc[6, i] += b
        acc[7, i] += b * b
    # the bins in a loop of their own, clamped before the conversion (the same bin as
    # clamping after: truncation is monotone), so it vectorises; then the scatter
    top, hbin = float(nbins - 1), w.hbin
    for i in range(ms.shape[2]):
        v = (ms[L.MS_B, s, i] - out.hist_low) * out.hist_inv_width
        hbin[i] = np.int32(min(max(v, 0.0), top))
    for i in range(ms.shape[2]):
        hacc[i, hbin[i]] += 1


@_part
def _membership(s, k, setup, state, noise, out, w):
    """E6 government change, E13 notices, rescission and exits, partial disengagement, as
    the reference's ``_membership``: a cheap screening pass, then the exact logic for the
    few members to whom anything can happen in this update."""
    w_tau, w_act, w_dshare, w_gnew, w_flags = w.tau, w.act, w.dshare, w.gnew, w.flags
    w_may = w.may_notice
    ms, ss = state.ms, state.ss
    sc, mc, mf, pg, qs = setup.sc, setup.mc, setup.mf, setup.pg, setup.qs
    um, dt, N = noise.um, setup.dt, ms.shape[2]
    p_gov, presc, ppart, pret = (
        sc[L.SC_PGOV, s],
        sc[L.SC_PRESC, s],
        sc[L.SC_PPART, s],
        sc[L.SC_PRET, s],
    )
    bp = qs[L.Q_SWPW] * pg[L.P_SUPPORT_HAZARD_EFFECT, s]
    fric = qs[L.Q_SWFW] * pg[L.P_FRICTION_HAZARD_EFFECT, s] * ss[L.SS_F, s]
    bpow, btw = (
        qs[L.Q_SWPOW] * pg[L.P_POWER_HAZARD_EFFECT, s],
        qs[L.Q_SWTW] * pg[L.P_THREAT_HAZARD_EFFECT, s],
    )
    h0, hr = pg[L.P_WITHDRAWAL_BASE_HAZARD, s], pg[L.P_SCEPTIC_HAZARD_RATIO, s]
    hr_eff = hr if qs[L.Q_SWPW] > 0 else 1.0
    pbar, isheg = mf[L.MF_PBAR], mf[L.MF_ISHEG]
    n_flag = 0
    for i in range(N):
        G = ms[L.MS_G, s, i]
        w_gnew[i] = G
        expo = eq.withdrawal_exponent(
            bp,
            pbar[i],
            ms[L.MS_P, s, i],
            fric * isheg[i],
            bpow,
            w_dshare[i],
            btw,
            w_tau[i],
            mc[L.MC_TAU0, s, i],
        )
        h = h0 * mc[L.MC_HMULT, s, i] * (hr_eff if G < 0.5 else 1.0)
        free = (w_act[i] > 0.5) & (ms[L.MS_NOTICE, s, i] <= 0)
        # 1 - exp(-x) <= x and exp(e) <= 1.6488 for e <= 0.5: members whose uniform is above
        # that bound cannot give notice (almost all); the outcome is unchanged
        maybe = free & ((um[L.UM_NOTICE, i] < h * dt * 1.6488) | (expo > 0.5))
        w_may[i] = maybe
        p_flip = pret if ms[L.MS_DIS, s, i] > 0.5 else ppart
        flag = (
            ((um[L.UM_GOV, i] < p_gov) & (mf[L.MF_CAL, i] < 0.5))
            | (ms[L.MS_NOTICE, s, i] > 0)
            | maybe
            | ((w_act[i] > 0.5) & (um[L.UM_PART, i] < p_flip))
        )
        w_flags[i] = flag
        n_flag += flag
    if n_flag == 0:
        return
    for i in range(N):
        if not w_flags[i]:
            continue
        G = ms[L.MS_G, s, i]
        notice = ms[L.MS_NOTICE, s, i]
        pending = notice > 0
        if um[L.UM_GOV, i] < p_gov and mf[L.MF_CAL, i] < 0.5:
            pro = um[L.UM_ORIENT, i] < eq.pro_government_probability(
                mc[L.MC_GAMMA0, s, i], pg[L.P_GOVERNMENT_SUPPORT_EFFECT, s], ms[L.MS_P, s, i]
            )
            w_gnew[i] = 1.0 if pro else 0.0
            if pro and pending:
                ms[L.MS_TURNED, s, i] = 1.0
        act = w_act[i] > 0.5
        u = um[L.UM_NOTICE, i]
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
        elif w_may[i]:  # free (active, no notice pending) and past the screen
            expo = eq.withdrawal_exponent(
                bp,
                mf[L.MF_PBAR, i],
                ms[L.MS_P, s, i],
                fric * mf[L.MF_ISHEG, i],
                bpow,
                w_dshare[i],
                btw,
                w_tau[i],
                mc[L.MC_TAU0, s, i],
            )
            h = eq.withdrawal_hazard(
                h0, hr, 1.0 if (G < 0.5 and qs[L.Q_SWPW] > 0) else 0.0, mc[L.MC_HMULT, s, i], expo
            )
            if u < h * dt and u < eq.event_probability(h, dt):  # 1 - exp(-x) <= x
                if out.em[L.EM_NOTICE_STEP, s, i] == L.NEVER:
                    out.em[L.EM_NOTICE_STEP, s, i] = k + 1
                if setup.notice_steps == 0:
                    left = True
                else:
                    ms[L.MS_NOTICE, s, i] = setup.notice_steps
        if left:
            ms[L.MS_M, s, i] = 0.0
            out.em[L.EM_WD_STEP, s, i] = k + 1
        if act:
            if ms[L.MS_DIS, s, i] > 0.5:
                if um[L.UM_PART, i] < pret:
                    ms[L.MS_DIS, s, i] = 0.0
            elif um[L.UM_PART, i] < ppart:
                ms[L.MS_DIS, s, i] = 1.0


@_part
def _members_continuous(s, k, setup, state, noise, w, Y, ysum, ybsum, shock, squeeze, Fprev):
    """E2 economy, E5 support, E7 burden, E4 threat perception, E8 capability, for every
    member of simulation s; returns the GDP-weighted shortfall from the target (E10).
    Per-simulation constants are read into locals first, so the member loop only streams
    member arrays."""
    w_M, w_tau, w_D, w_act, w_gnew = w.M, w.tau, w.D, w.act, w.gnew
    ms, ss = state.ms, state.ss
    sc, mc, mf, pg, qs = setup.sc, setup.mc, setup.mf, setup.pg, setup.qs
    zm, um, dt = noise.zm, noise.um, setup.dt
    sq = math.sqrt(dt)
    t = min(k, setup.steps - 1)
    drop = qs[L.Q_SWFW] * pg[L.P_SUPPORT_FRICTION_EFFECT, s] * (ss[L.SS_F, s] - Fprev)
    keff = pg[L.P_BURDEN_ADJUSTMENT, s] * (
        1.0 - pg[L.P_PANDEMIC_SQUEEZE, s] * (1.0 if squeeze else 0.0)
    )
    lam = pg[L.P_TARGET_PULL, s] * setup.pull_scale[t] * (0.0 if squeeze else 1.0)
    no_slip = 1.0 - sc[L.SC_PSLIP, s]
    sig_y, rho_y, z_y = (
        float(pg[L.P_GDP_VOLATILITY, s]),
        float(pg[L.P_GDP_COMMON_SHARE, s]),
        float(noise.zs[L.ZS_GDP]),
    )
    thp, bpt, sigp = (
        pg[L.P_SUPPORT_REVERSION, s] * dt,
        float(pg[L.P_SUPPORT_THREAT_RALLY, s]),
        pg[L.P_SUPPORT_VOLATILITY, s] * sq,
    )
    btau, bfr, pisk, sigb = (
        qs[L.Q_SWTB] * pg[L.P_THREAT_BURDEN, s],
        float(pg[L.P_FREE_RIDING, s]),
        pg[L.P_SCEPTIC_COMPLIANCE, s],
        pg[L.P_BURDEN_VOLATILITY, s] * sq,
    )
    phiu, sdu, delta = (
        float(sc[L.SC_PHIU, s]),
        float(sc[L.SC_SDU, s]),
        float(pg[L.P_CAPABILITY_DEPRECIATION, s]),
    )
    hold_on, guide, bmin, bmax = qs[L.Q_HOLD] > 0, qs[L.Q_GUIDE], qs[L.Q_BMIN], qs[L.Q_BMAX]
    anchor, goal, target = setup.anchor[t], setup.goal[t], setup.target[t]
    isheg, forces, pbar = mf[L.MF_ISHEG], mf[L.MF_FORCES], mf[L.MF_PBAR]
    N = ms.shape[2]
    w_new_p, w_new_b = w.new_p, w.new_b
    # One loop per state row written, each reading only that row of the state (the others go
    # through scratch vectors): LLVM vectorises a loop only when it can rule out overlaps.
    for i in range(N):
        ms[L.MS_Y, s, i] = eq.log_gdp_next(
            ms[L.MS_Y, s, i],
            mc[L.MC_GROWTH, s, i],
            sig_y,
            rho_y,
            z_y,
            zm[L.ZM_GDP, i],
            shock,
            dt,
        )
    for i in range(N):
        w_new_p[i] = eq.support_next(
            ms[L.MS_P, s, i],
            thp,
            pbar[i],
            bpt,
            w_M[i],
            ms[L.MS_MPREV, s, i],
            drop * isheg[i],
            sigp,
            zm[L.ZM_P, i],
        )
    short = 0.0
    for i in range(N):
        b = float(ms[L.MS_B, s, i])
        G = float(ms[L.MS_G, s, i])
        bbar = eq.allies_burden(ybsum, ysum, w_act[i] * Y[s, i], b)
        bstar = eq.desired_burden(
            anchor[i], btau, w_tau[i], mc[L.MC_TAU0, s, i], bfr, bbar, mc[L.MC_BBAR0, s, i]
        )
        keep = hold_on & (G > 0.5) & (um[L.UM_PART, i] <= no_slip)  # branch-free
        hold = eq.burden_hold_level(b, target[i], guide) * keep
        w_new_b[i] = eq.burden_next(
            b,
            bstar,
            goal[i],
            keff,
            lam,
            G + (1.0 - G) * pisk,
            sigb,
            zm[L.ZM_B, i],
            hold,
            bmin,
            bmax,
            dt,
        )
        gap = max(target[i] - b, 0.0)
        short += w_act[i] * (1.0 - isheg[i]) * forces[i] * Y[s, i] * gap
    for i in range(N):
        ms[L.MS_P, s, i] = w_new_p[i]
    for i in range(N):
        ms[L.MS_MPREV, s, i] = w_M[i]
    for i in range(N):
        ms[L.MS_B, s, i] = w_new_b[i] * forces[i]
    for i in range(N):
        ms[L.MS_U, s, i] = eq.threat_idio_next(ms[L.MS_U, s, i], phiu, sdu, zm[L.ZM_U, i])
    for i in range(N):
        ms[L.MS_K, s, i] = eq.capability_next(ms[L.MS_K, s, i], delta, w_D[i], dt)
    for i in range(N):
        ms[L.MS_G, s, i] = w_gnew[i]
    return short


@_part
def _onset(s, k, setup, state, out, w, alive):
    """First conflict onset: the most exposed member is attacked; allies honour Article 5
    through the common-factor copula (E15)."""
    w_c, w_wk, w_act = w.c, w.wk, w.act
    ss, ev, heg = state.ss, out.ev, setup.hegemon
    tgt = int(setup.sc[L.SC_TARGET, s])
    rho = setup.pg[L.P_HONOUR_CORRELATION, s]
    ss[L.SS_WAR, s] = 1.0
    ev[L.EV_ONSET_STEP, s] = k + 1
    ev[L.EV_TARGET, s] = tgt
    n_el = n_h = w_el = w_h = 0.0
    heg_h = -1.0
    for i in range(w_c.shape[0]):
        if i == tgt or w_act[i] < 0.5:
            continue
        hon = eq.honours(state.honour_common[s], state.honour_own[s, i], rho, w_c[i]) > 0.5
        n_el += 1.0
        w_el += w_wk[i]
        if hon:
            n_h += 1.0
            w_h += w_wk[i]
        if i == heg:
            heg_h = 1.0 if hon else 0.0
    if alive and n_el > 0:
        ev[L.EV_HONOUR, s] = n_h / n_el
        ev[L.EV_HONOUR_W, s] = w_h / max(w_el, 1e-30)
        if heg >= 0:
            ev[L.EV_HEG_HONOUR, s] = heg_h


@_part
def _copy_noise(s, noise, sn):
    """Simulation s's variates from the step's arrays into its scratch (no allocation)."""
    for j in range(L.N_ZM):
        for i in range(sn.zm.shape[1]):
            sn.zm[j, i] = noise.zm[j, s, i]
            sn.um[j, i] = noise.um[j, s, i]
    for j in range(L.N_ZS):
        sn.zs[j] = noise.zs[j, s]
        sn.us[j] = noise.us[j, s]


@_jit
def _step(k, do_update, setup, state, noise, draw, sn, out, w, Y, EU, eb, EC):
    S, N = state.ss.shape[1], state.ms.shape[2]
    inline = draw.rows.shape[0] == S  # else ``noise`` holds the step's variates as arrays
    ss, sc, pg, qs, dt = state.ss, setup.sc, setup.pg, setup.qs, setup.dt
    slot = k % setup.year_steps
    acc, hacc = w.acc, w.hacc
    acc[:] = 0.0
    hacc[:] = 0
    for s in range(S):
        flow, n_act, C, Q, R, ret, hhi, ysum, ybsum, spend = _derive(
            s, k, setup, state, Y, EU, eb, EC, w
        )
        _dissolve(s, k, setup, state, out, C, ret, n_act)
        alive = ss[L.SS_ALIVE, s] > 0.5
        A = ss[L.SS_A, s]
        g = 1.0 + qs[L.Q_ARMS]
        arms = 0.0
        if (
            k >= setup.year_steps
            and flow >= g * state.flow_hist[slot, s]
            and A >= g * state.adv_hist[slot, s]
        ):
            arms = 1.0
        state.flow_hist[slot, s] = flow
        state.adv_hist[slot, s] = A
        hw, hdyad = _hazards(s, setup, state, Q, R, arms, alive)
        _record(
            s, k, setup, state, out, w, n_act, C, Q, R, ret, hhi, ysum, ybsum, spend, hw, arms, Y
        )
        if out.do_sum:
            _summarise(s, k, setup, state, out, w, acc, hacc)
        if not do_update:
            continue
        # ---- update to k + 1, with simulation s's variates in sn ----
        if inline:
            inn.fill_sim(
                draw.seed, draw.gamma, k, draw.rows[s], sn.zm, sn.um, sn.zs, sn.us, sn.words
            )
        else:
            _copy_noise(s, noise, sn)
        zs, us = sn.zs, sn.us
        H, F, Fprev = ss[L.SS_H, s], ss[L.SS_F, s], ss[L.SS_FPREV, s]
        # E1 shocks
        shock = 0.0
        if us[L.US_PAND] < sc[L.SC_PPAND, s]:
            shock = eq.pandemic_shock(pg[L.P_PANDEMIC_GDP_LOSS, s])
            ss[L.SS_QPAND, s] = sc[L.SC_QP, s]
            ss[L.SS_NPAND, s] += 1.0
        n_j = eq.poisson_inverse(us[L.US_CRISIS], sc[L.SC_LJ, s], sc[L.SC_P0J, s])
        jump = eq.hostility_jump(
            eq.poisson_inverse(us[L.US_CYBER], sc[L.SC_LCYB, s], sc[L.SC_P0CYB, s]),
            pg[L.P_CYBER_IMPACT, s],
            n_j,
            pg[L.P_CRISIS_MEAN, s],
            pg[L.P_CRISIS_SD, s],
            zs[L.ZS_JUMP],
        )
        squeeze = ss[L.SS_QPAND, s] > 0
        _membership(s, k, setup, state, sn, out, w)
        short = _members_continuous(
            s, k, setup, state, sn, w, Y, ysum, ybsum, shock, squeeze, Fprev
        )
        ss[L.SS_QPAND, s] = max(ss[L.SS_QPAND, s] - 1.0, 0.0)
        # E10 friction and pivot
        ss[L.SS_FPREV, s] = F
        ss[L.SS_F, s] = eq.friction_next(
            F,
            qs[L.Q_SWBF] * pg[L.P_FRICTION_GAIN, s],
            short / max(ysum, 1e-30),
            pg[L.P_FRICTION_REVERSION, s],
            pg[L.P_FRICTION_VOLATILITY, s],
            zs[L.ZS_F],
            dt,
        )
        ss[L.SS_RHO, s] = eq.pivot_next(ss[L.SS_RHO, s], pg[L.P_PIVOT_RATE, s], qs[L.Q_RHOMIN], dt)
        # E3 hostility
        ss[L.SS_H, s] = eq.hostility_next(
            H,
            pg[L.P_HOSTILITY_REVERSION, s],
            qs[L.Q_HBAR],
            pg[L.P_HOSTILITY_VOLATILITY, s],
            zs[L.ZS_H],
            jump + setup.hshock[k],
            dt,
        )
        # E8 adversary capability, E9 adversary economy and spending
        ss[L.SS_KA, s] = eq.capability_next(
            ss[L.SS_KA, s], pg[L.P_CAPABILITY_DEPRECIATION, s], A, dt
        )
        ss[L.SS_YA, s] = eq.log_gdp_next(
            ss[L.SS_YA, s],
            pg[L.P_ADVERSARY_GDP_GROWTH, s],
            pg[L.P_ADVERSARY_GDP_VOLATILITY, s],
            1.0,
            zs[L.ZS_YA],
            0.0,
            0.0,
            dt,
        )
        x = eq.adversary_next(
            ss[L.SS_LOGA, s],
            qs[L.Q_LOGA0],
            qs[L.Q_AGROWTH],
            k * dt,
            pg[L.P_ADVERSARY_FATIGUE, s],
            pg[L.P_ADVERSARY_HOSTILITY_EFFECT, s],
            H,
            pg[L.P_ADVERSARY_REACTIVITY, s],
            eq.log_ratio(flow, sc[L.SC_FLOW0, s]),
            pg[L.P_ADVERSARY_VOLATILITY, s],
            zs[L.ZS_A],
            sc[L.SC_LCEIL, s],
            ss[L.SS_YA, s],
            dt,
        )
        ss[L.SS_LOGA, s] = x
        ss[L.SS_A, s] = eq.spending_level(ss[L.SS_LOGA, s])
        # E14 exogenous dissolution
        if alive and us[L.US_DISS] < sc[L.SC_PDISS, s]:
            ss[L.SS_ALIVE, s] = 0.0
            out.ev[L.EV_DISS_STEP, s] = k + 1
            out.ev[L.EV_DISS_CAUSE, s] = L.CAUSE_EXOGENOUS
        # E15 conflict onset (1 - exp(-x) <= x: the exact test only when u < x)
        u_on = us[L.US_ONSET]
        if ss[L.SS_WAR, s] < 0.5 and u_on < hw * dt and u_on < eq.event_probability(hw, dt):
            _onset(s, k, setup, state, out, w, alive)
        # E15b intra-alliance dispute
        u_d = us[L.US_DYAD]
        if ss[L.SS_DISPUTE, s] < 0.5 and u_d < hdyad * dt and u_d < eq.event_probability(hdyad, dt):
            ss[L.SS_DISPUTE, s] = 1.0
            out.ev[L.EV_DISPUTE_STEP, s] = k + 1
    if out.do_sum:
        for j in range(L.N_MSUM):
            for i in range(N):
                out.msum[j, k, i] += acc[j, i]
        for i in range(N):
            for j in range(out.mhist.shape[2]):
                out.mhist[k, i, j] += hacc[i, j]


_NO_NOISE: dict = {}
_LOCAL = threading.local()  # per thread (workers may be threads): the scratch of its block
_NO_ROWS = np.zeros(0, np.int64)


def step(k, setup, state, noise, rec, ev, em, snap=None, summary=None, draw=None) -> None:
    """Record the state at step k and update it to k + 1 when given variates: either
    ``draw`` (an ``innovations.Draw``: each simulation's variates are computed in the loop)
    or ``noise`` (a StepNoise of arrays, e.g. transformed by a hook).

    Transcendentals over the whole block (GDP levels, the threat multiplier, the logistic
    of commitment) go through numpy's SIMD ufuncs (shared with the reference); everything
    else is one compiled pass.
    """
    Y, EU, eb, EC = transcendentals(setup, state, _fill_logit_py)
    dt_, N = state.ms.dtype, state.ms.shape[2]
    do_update = noise is not None or draw is not None
    if noise is None:
        noise = _NO_NOISE.get(dt_)
        if noise is None:
            noise = _NO_NOISE[dt_] = StepNoise(
                np.zeros((L.N_ZM, 1, 1), dt_),
                np.zeros((L.N_UM, 1, 1), dt_),
                np.zeros((L.N_ZS, 1), dt_),
                np.zeros((L.N_US, 1), dt_),
            )
    if draw is None:
        draw = inn.Draw(np.uint64(0), np.uint64(1), _NO_ROWS)
    do_snap = snap is not None
    if not do_snap:
        snap = np.zeros((1, 1, 1), dtype=np.float32)
    if summary is not None:
        msum, mhist, lo, width = summary
    else:
        msum, mhist, lo, width = np.zeros((1, 1, 1)), np.zeros((1, 1, 1), np.int64), 0.0, 1.0
    out = Outputs(
        rec, ev, em, snap, msum, mhist, float(lo), 1.0 / float(width), do_snap, summary is not None
    )
    key = (id(state), dt_)
    held = getattr(_LOCAL, "scratch", None)
    if held is None or held[0] != key or held[1].hacc.shape != (N, mhist.shape[2]):
        held = _LOCAL.scratch = (key, scratch(N, mhist.shape[2]), inn.sim_noise(N, dt_))
    _, w, sn = held
    _step(k, do_update, setup, state, noise, draw, sn, out, w, Y, EU, eb, EC)
