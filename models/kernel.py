"""The simulation kernel: S alliance histories stepped over the time grid at once.

``simulate`` is pure: numpy arrays in (the scenario, an S x P parameter table from
``sampling`` and a ``numpy.random.Generator``), numpy arrays out. It loops in Python
over time steps only; each step is either the vectorised numpy reference
(``reference``) or the fused numba step (``fused``), which compose the same
equations (``equations``), consume the same random variates in the same layout
(``noise``) and update the same packed state (``layout``). Memory is O(S x N)
for the state plus O(T x S) for the per-step record; per-member trajectories (T x S x N) are
kept only when asked (``member_traces=True``) or streamed to an ``observer``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy.special import logit

from alliance_risk.models import equations, events, innovations, numerics
from alliance_risk.models import layout as L
from alliance_risk.models.noise import StepNoise, draw_initial, empty_step
from alliance_risk.models.parameters import GLOBAL_NAMES
from alliance_risk.models.scenario import Scenario

Backend = Literal["numpy", "numba"]


class Setup(NamedTuple):
    """Everything constant during a run of one block, in the working dtype.

    A NamedTuple so that the fused step takes it as one typed record.
    """

    steps: int
    n_members: int
    n_sims: int
    dt: float
    hegemon: int
    notice_steps: int
    year_steps: int
    low_steps: int
    thresholds: np.ndarray  # (n_thresholds,)
    pg: np.ndarray  # (P_global, S) parameter columns
    sc: np.ndarray  # (N_SC, S)
    mc: np.ndarray  # (N_MC, S, N)
    mf: np.ndarray  # (N_MF, N)
    target: np.ndarray  # (steps, N) the alliance's spending target (reported)
    goal: np.ndarray  # (steps, N) what the target pull aims at: max(target, national plan)
    anchor: np.ndarray  # (steps, N) anchor of the desired burden: national plan or b_0
    hshock: np.ndarray  # (steps,) float64 dated hostility jumps (scenario events)
    pull_scale: np.ndarray  # (steps,) float64 multiplier of the target pull (scenario events)
    dyads: np.ndarray  # (n_dyads, 2) int64 member indices (E15b)
    qs: np.ndarray  # float64 scalar constants, indices Q_* below


class State(NamedTuple):
    ms: np.ndarray  # (N_MS, S, N)
    ss: np.ndarray  # (N_SS, S)
    share_hist: np.ndarray  # (year_steps, S, N) capability shares of the last year
    flow_hist: np.ndarray  # (year_steps, S) alliance spending flow of the last year
    adv_hist: np.ndarray  # (year_steps, S) adversary spending of the last year
    honour_own: np.ndarray  # (S, N) normals of the allies' Article 5 decisions
    honour_common: np.ndarray  # (S,) their common factor
    exps: np.ndarray  # (3, S, N) scratch for the block's transcendentals (Y, e^u, e^-logit c)


@dataclass
class KernelResult:
    """What one block returns.

    ``series[name]`` is (steps + 1, S): the state after k updates, k = 0 being the start.
    ``events[name]`` is (S,) and ``member_events[name]`` (S, N); event steps count updates
    (1..steps), ``layout.NEVER`` where the event did not happen within the horizon.
    ``members[name]`` is (steps + 1, S, N) and present only with ``member_traces=True``.
    """

    series: dict[str, np.ndarray]
    n_meeting: np.ndarray  # (steps + 1, S, n_thresholds)
    events: dict[str, np.ndarray]
    member_events: dict[str, np.ndarray]
    final_burden: np.ndarray  # (S, N) float32: each member's burden at the horizon
    members: dict[str, np.ndarray] | None = None
    member_summary: dict[str, np.ndarray] | None = None
    occurred: np.ndarray | None = None  # (S, n_events) bool: the scenario's events that happened


def nonfinite(res: KernelResult) -> tuple[int, str, int] | None:
    """The first simulation whose state went non-finite: (sim, series name, record step),
    or None. Looks at every float series and the final burdens (event records use NaN for
    "no such event" and are not state)."""
    for name, values in res.series.items():
        if values.dtype.kind == "f":
            bad = ~np.isfinite(values)
            if bad.any():
                step, sim = np.argwhere(bad)[0]
                return int(sim), name, int(step)
    bad = ~np.isfinite(res.final_burden)
    if bad.any():
        return int(np.argwhere(bad)[0][0]), "final_burden", -1
    return None


class MemberView:
    """Read-only view of the member state at a record step, handed to an observer.

    ``raw`` is the (N_SNAP, S, N) float32 snapshot (``layout.SNAP_*``); the named
    attributes are derived from it on access.
    """

    def __init__(self, raw: np.ndarray):
        self.raw = raw

    active = property(lambda self: self.raw[L.SNAP_ACTIVE] > 0.5)
    disengaged = property(lambda self: self.raw[L.SNAP_DIS] > 0.5)
    burden = property(lambda self: self.raw[L.SNAP_B])
    commitment = property(lambda self: self.raw[L.SNAP_C])
    sceptical = property(lambda self: self.raw[L.SNAP_G] < 0.5)
    gdp = property(lambda self: self.raw[L.SNAP_GDP])


Observer = Callable[[int, MemberView], None]


def _steps_of(quarters: float, step_months: int) -> int:
    return math.ceil(quarters * 3 / step_months - 1e-9)


def prepare(scenario: Scenario, params: np.ndarray, dtype=np.float32) -> Setup:
    """Turn a scenario and an (S x P) parameter table into the constants of a block."""
    S, N = params.shape[0], len(scenario.members)
    if params.shape[1] != len(scenario.parameter_names):
        raise ValueError(
            f"parameter table has {params.shape[1]} columns, scenario "
            f"{scenario.name!r} has {len(scenario.parameter_names)}"
        )
    G = len(GLOBAL_NAMES)
    p = {name: params[:, j] for j, name in enumerate(GLOBAL_NAMES)}
    growth = params[:, G : G + N]
    s_skep = np.clip(params[:, G + N : G + 2 * N], 1e-6, 1 - 1e-6)
    dt = scenario.time.dt
    month = scenario.time.step_months
    heg = scenario.hegemon_index
    E = equations.ufuncs

    def prob(rate):
        return E.event_probability(np.asarray(rate, dtype=np.float64), dt)

    b0 = scenario.member_array("burden") * scenario.member_array("has_forces")
    pbar = logit(scenario.member_array("support") / 100.0)
    is_heg = np.zeros(N)
    if heg >= 0:
        is_heg[heg] = 1.0
    prox = E.proximity(
        scenario.member_array("distance_km")[None, :],
        p["proximity_scale"][:, None],
        p["frontline_bonus"][:, None],
        scenario.member_array("frontline")[None, :],
    )
    loc = E.local_balance_weight(
        is_heg[None, :], prox, p["hegemon_presence"][:, None], prox.max(axis=1)[:, None]
    )
    gamma0 = logit(1.0 - s_skep) - p["government_support_effect"][:, None] * pbar[None, :]
    Y0 = scenario.member_array("gdp")
    bbar0 = E.allies_burden((Y0 * b0).sum(), Y0.sum(), Y0, b0)
    hmult = np.ones((S, N))
    if heg >= 0:
        hmult[:, heg] = p["hegemon_exit_pass"]
    A0 = scenario.adversary.spending
    phi_u = numerics.exp(-p["threat_reversion"] * dt)

    sc = np.zeros((L.N_SC, S))
    sc[L.SC_PGOV] = prob(p["government_change_rate"])
    sc[L.SC_PRESC] = prob(p["rescission_rate"])
    sc[L.SC_PPART] = prob(p["disengagement_rate"])
    sc[L.SC_PRET] = prob(p["return_rate"])
    sc[L.SC_PDISS] = prob(p["dissolution_hazard"])
    sc[L.SC_PPAND] = prob(p["pandemic_rate"])
    sc[L.SC_PSLIP] = prob(p["slippage_rate"])
    sc[L.SC_PHIU] = phi_u
    sc[L.SC_SDU] = p["threat_volatility"] * np.sqrt(np.maximum(1.0 - phi_u**2, 0.0))
    sc[L.SC_QP] = np.round(p["pandemic_quarters"] * 3 / month)
    sc[L.SC_LOGITC] = logit(np.clip(p["commitment_base"], 1e-6, 1 - 1e-6))
    sc[L.SC_LCYB] = p["cyber_rate"] * dt
    sc[L.SC_LJ] = p["crisis_rate"] * dt
    sc[L.SC_P0CYB], sc[L.SC_P0J] = numerics.exp(-sc[L.SC_LCYB]), numerics.exp(-sc[L.SC_LJ])
    sc[L.SC_LCEIL] = numerics.log(p["adversary_ceiling"] / 100.0)
    sc[L.SC_DYADF] = numerics.exp(-p["dyad_membership_effect"])
    sc[L.SC_KA0] = A0 / p["capability_depreciation"]
    sc[L.SC_MPROX] = prox.mean(axis=1)
    sc[L.SC_TARGET] = np.argmax(prox, axis=1)
    cv0 = prox.std(axis=1) / prox.mean(axis=1)
    sc[L.SC_CV0] = np.where(cv0 > 0, cv0, 1.0)

    mc = np.zeros((L.N_MC, S, N))
    mc[L.MC_PROX], mc[L.MC_GAMMA0], mc[L.MC_GROWTH] = prox, gamma0, growth
    mc[L.MC_TAU0], mc[L.MC_BBAR0], mc[L.MC_HMULT] = prox, bbar0[None, :], hmult
    mc[L.MC_LOC] = loc
    mf = np.zeros((L.N_MF, N))
    mf[L.MF_B0], mf[L.MF_PBAR] = b0, pbar
    mf[L.MF_FORCES], mf[L.MF_ISHEG] = scenario.member_array("has_forces"), is_heg
    mf[L.MF_CAL] = events.calendar_members(scenario)

    a, d, cp = scenario.alliance, scenario.dissolution, scenario.couplings
    qs = np.zeros(L.N_Q)
    qs[L.Q_A0], qs[L.Q_LOGA0], qs[L.Q_AGROWTH] = A0, math.log(A0), scenario.adversary.growth
    qs[L.Q_HBAR] = scenario.adversary.hostility_level
    qs[L.Q_RHOMIN], qs[L.Q_BMIN], qs[L.Q_BMAX] = a.hegemon_min_share, a.burden_min, a.burden_max
    qs[L.Q_ARMS] = a.arms_race_growth
    qs[L.Q_THETAC], qs[L.Q_KMIN], qs[L.Q_NMIN] = d.cohesion_fraction, d.min_retention, d.min_members
    qs[L.Q_QREF] = scenario.deterrence.credibility_ref
    qs[L.Q_RREF] = scenario.deterrence.balance_ref
    qs[L.Q_GUIDE] = scenario.targets.initial
    qs[L.Q_HOLD] = float(scenario.targets.hold_when_met)
    for q, flag in (
        (L.Q_SWTB, cp.threat_burden),
        (L.Q_SWBF, cp.burden_friction),
        (L.Q_SWFW, cp.friction_withdrawal),
        (L.Q_SWPW, cp.politics_withdrawal),
        (L.Q_SWPOW, cp.power_withdrawal),
        (L.Q_SWTW, cp.threat_withdrawal),
        (L.Q_SWCD, cp.capability_deterrence),
        (L.Q_SWAR, cp.arms_race_war),
    ):
        qs[q] = float(flag)
    target = scenario.target_path()
    anchor = scenario.plan_path() * scenario.member_array("has_forces")[None, :]
    codes = scenario.codes
    dyads = np.array([[codes.index(x), codes.index(y)] for x, y in a.dyads], dtype=np.int64)
    return Setup(
        steps=scenario.time.steps,
        n_members=N,
        n_sims=S,
        dt=dt,
        hegemon=heg,
        notice_steps=_steps_of(a.notice_quarters, month),
        year_steps=max(12 // month, 1),
        low_steps=_steps_of(d.cohesion_quarters, month),
        thresholds=np.asarray(scenario.targets.report_thresholds, dtype=dtype),
        pg=np.ascontiguousarray(params[:, :G].T, dtype=dtype),
        sc=sc.astype(dtype),
        mc=mc.astype(dtype),
        mf=mf.astype(dtype),
        target=target.astype(dtype),
        goal=np.maximum(target, anchor).astype(dtype),
        anchor=anchor.astype(dtype),
        hshock=scenario.hostility_shocks(),
        pull_scale=scenario.pull_scale(),
        dyads=dyads.reshape(-1, 2),
        qs=qs,
    )


def initial_state(scenario: Scenario, setup: Setup, params: np.ndarray, init: StepNoise) -> State:
    """State at k = 0: members active (or as observed), burdens at b0, capability in steady
    state, governments drawn from their stationary shares unless observed."""
    S, N, dt_ = setup.n_sims, setup.n_members, setup.pg.dtype
    assert init.zm is not None and init.um is not None and init.zs is not None  # initial draws
    ms = np.zeros((L.N_MS, S, N), dtype=dt_)
    ss = np.zeros((L.N_SS, S), dtype=dt_)
    G = len(GLOBAL_NAMES)
    delta = setup.pg[L.P["capability_depreciation"]][:, None]
    Y0 = scenario.member_array("gdp")
    ms[L.MS_Y] = numerics.log(Y0)[None, :]
    ms[L.MS_B] = setup.mf[L.MF_B0][None, :]
    ms[L.MS_K] = ms[L.MS_B] * np.exp(ms[L.MS_Y]) / 100.0 / delta
    ms[L.MS_P] = setup.mf[L.MF_PBAR][None, :]
    s_skep = np.clip(params[:, G + N : G + 2 * N], 1e-6, 1 - 1e-6)
    ms[L.MS_G] = init.um[0] < (1.0 - s_skep)
    for i, m in enumerate(scenario.members):
        if m.sceptical_government is not None:
            ms[L.MS_G, :, i] = 0.0 if m.sceptical_government else 1.0
        ms[L.MS_DIS, :, i] = float(m.disengaged)
        ms[L.MS_NOTICE, :, i] = m.notice_pending
    ms[L.MS_M] = 1.0
    ms[L.MS_MPREV] = 1.0
    ss[L.SS_A] = setup.qs[L.Q_A0]
    ss[L.SS_LOGA] = setup.qs[L.Q_LOGA0]
    ss[L.SS_KA] = setup.sc[L.SC_KA0]
    ss[L.SS_F] = ss[L.SS_FPREV] = scenario.alliance.friction0
    ss[L.SS_RHO] = 1.0
    ss[L.SS_ALIVE] = 1.0
    ss[L.SS_YA] = math.log(scenario.adversary.gdp)
    ss[L.SS_H] = scenario.adversary.hostility_start
    ys = setup.year_steps
    return State(
        ms=ms,
        ss=ss,
        share_hist=np.zeros((ys, S, N), dtype=dt_),
        flow_hist=np.zeros((ys, S), dtype=dt_),
        adv_hist=np.zeros((ys, S), dtype=dt_),
        honour_own=np.ascontiguousarray(init.zm[0]),
        honour_common=np.ascontiguousarray(init.zs[0]),
        exps=np.empty((3, S, N), dtype=dt_),
    )


def baseline_indices(setup: Setup, state: State) -> None:
    """Fill C0 (starting cohesion) and the starting spending flow into ``sc``."""
    from alliance_risk.models.reference import derive

    d = derive(setup, state)
    setup.sc[L.SC_C0] = d["C"]
    setup.sc[L.SC_FLOW0] = np.maximum(d["flow"], 1e-30)


def _step_function(backend: Backend):
    if backend == "numpy":
        from alliance_risk.models.reference import step
    elif backend == "numba":
        from alliance_risk.models.fused import step
    else:
        raise ValueError(f"backend must be 'numpy' or 'numba', got {backend!r}")
    return step


def simulate(
    scenario: Scenario,
    params: np.ndarray,
    rng: np.random.Generator,
    *,
    backend: Backend = "numba",
    dtype=np.float32,
    observer: Observer | None = None,
    member_traces: bool = False,
    noise_hook: Callable[[StepNoise], StepNoise] | None = None,
    noise_rows: np.ndarray | None = None,
    member_summary: tuple[float, float, int] | None = None,
) -> KernelResult:
    """Simulate ``len(params)`` alliance histories over the scenario's time grid.

    ``rng`` keys the per-step (aleatory) variates (``innovations``: counter-based, in a
    fixed layout that does not depend on parameter values, so two parameter tables run with
    equal seeds share common random numbers) and draws the initial ones and the events'.
    ``noise_rows[s]`` names the simulation whose variates row s takes (default: its own;
    Saltelli's A and AB rows share the A row's). ``noise_hook`` may transform each step's
    variates as arrays (tests use it to permute members; slower).
    ``member_summary=(low, high, bins)`` accumulates, at every step and for every member,
    sums over the simulations (active, disengaged, sceptical government, meets its target;
    commitment and burden sums and sums of squares) and a burden histogram on ``bins`` equal
    bins of [low, high) (values outside go to the end bins), in the step itself.

    The simulations are stepped in chunks of ``CHUNK`` (each through the whole horizon), so
    their state stays in cache; a simulation's variates depend only on the block's key, its
    row and the step, so the chunking changes no result (member summaries are sums over
    simulations, accumulated chunk by chunk). An observer, member traces or a noise hook
    see the whole block at each step, so they step it at once.
    """
    S, N, T = len(params), len(scenario.members), scenario.time.steps
    if T >= innovations.MAX_STEPS:
        raise ValueError(f"at most {innovations.MAX_STEPS - 1} updates, got {T}")
    tl = events.timeline(scenario)
    # the events' own stream: a jump-ahead copy, so rng's own sequence is untouched
    ev_rng = np.random.Generator(rng.bit_generator.jumped())  # type: ignore[attr-defined]
    ev_draws = events.draw(tl, scenario, ev_rng, S)
    key = innovations.innovations(rng)
    rows = np.arange(S, dtype=np.int64) if noise_rows is None else np.asarray(noise_rows, np.int64)
    init = draw_initial(rng, S, N, dtype)
    if noise_rows is not None:
        init = StepNoise(*(None if a is None else a[:, rows] for a in init))
    if noise_hook is not None:
        init = noise_hook(init)
    summary = None
    if member_summary is not None:
        lo, hi, nb = member_summary
        summary = (
            np.zeros((L.N_MSUM, T + 1, N)),
            np.zeros((T + 1, N, nb), np.int64),
            float(lo),
            (hi - lo) / nb,
        )
    # whole-block views (observer, traces) and array hooks see every simulation at each step
    whole = observer is not None or member_traces or noise_hook is not None
    size = S if whole else CHUNK
    parts = []
    for a in range(0, S, size):
        c = slice(a, min(a + size, S))
        parts.append(
            _simulate_chunk(
                scenario,
                params[c],
                StepNoise(*(None if x is None else x[:, c] for x in init)),
                events.Draws(ev_draws.occurred[c], ev_draws.elections[:, :, c]),
                innovations.Draw(key.seed, key.gamma, rows[c]),
                tl,
                backend=backend,
                dtype=dtype,
                observer=observer,
                member_traces=member_traces,
                noise_hook=noise_hook,
                summary=summary,
            )
        )
    result = parts[0] if len(parts) == 1 else _join(parts)
    result.occurred = ev_draws.occurred
    if summary is not None:
        result.member_summary = {n: summary[0][j] for j, n in enumerate(L.MSUM_NAMES)}
        result.member_summary["burden_hist"] = summary[1]
    return result


# Simulations stepped together through the whole horizon: a chunk's state (about 5 KB per
# simulation of nato-2025, 5 MB a chunk) stays in cache between updates (L2 and this machine's
# L3; the whole block's does not). Measured on nato-2025
# (benchmarks/bench_kernel.py --sims S): 20,600 sims/s for S = 1,000 against 15,500 for
# S = 10,000 stepped at once; 512 and 2,048 alike; 250 is slower again (per-update Python
# overhead).
CHUNK = 1024


def _simulate_chunk(
    scenario: Scenario,
    params: np.ndarray,
    init: StepNoise,
    ev_draws: events.Draws,
    draw: innovations.Draw,
    tl: events.Timeline,
    *,
    backend: Backend,
    dtype,
    observer: Observer | None,
    member_traces: bool,
    noise_hook: Callable[[StepNoise], StepNoise] | None,
    summary: tuple | None,
) -> KernelResult:
    """``simulate`` for a slice of the block's simulations, with its share of the draws;
    ``summary`` accumulates over the chunks."""
    setup = prepare(scenario, params, dtype)
    S, N, T = setup.n_sims, setup.n_members, setup.steps
    state = initial_state(scenario, setup, params, init)
    baseline_indices(setup, state)
    n_thr = len(setup.thresholds)
    rec = np.zeros((L.REC_MEET + n_thr, T + 1, S), dtype=np.float32)
    ev = np.full((L.N_EV, S), L.NEVER, dtype=np.float64)
    ev[L.EV_DISS_CAUSE] = L.CAUSE_NONE
    ev[[L.EV_HONOUR, L.EV_HONOUR_W]] = np.nan
    ev[L.EV_HEG_HONOUR] = -1
    em = np.full((L.N_EM, S, N), L.NEVER, dtype=np.int16)
    em[L.EM_NOTICE_STEP][:, state.ms[L.MS_NOTICE][0] > 0] = 0  # notices observed at the start
    traces = (
        {
            k: np.zeros(
                (T + 1, S, N),
                dtype=bool if k in ("active", "disengaged", "sceptical") else np.float32,
            )
            for k in ("active", "disengaged", "burden", "commitment", "sceptical", "gdp")
        }
        if member_traces
        else None
    )
    step = _step_function(backend)
    snap = (
        np.zeros((L.N_SNAP, S, N), dtype=np.float32)
        if observer is not None or traces is not None
        else None
    )
    inline = backend == "numba" and noise_hook is None
    buffer = None if inline else empty_step(S, N, dtype)
    for k in range(T + 1):
        if buffer is None:  # the fused step computes each simulation's variates itself
            step(k, setup, state, None, rec, ev, em, snap, summary, draw=draw if k < T else None)
        else:
            noise = None
            if k < T:
                innovations.fill_step(draw, k, draw.rows, buffer)
                noise = buffer if noise_hook is None else noise_hook(buffer)
            step(k, setup, state, noise, rec, ev, em, snap, summary)
        if k < T and tl.actions:
            events.apply(k, tl, ev_draws, setup, state, em)
        if snap is not None:
            view = _member_view(snap)
            if observer is not None:
                observer(k, view)
            if traces is not None:
                for name in traces:
                    traces[name][k] = getattr(view, name)
    return _result(rec, ev, em, traces, n_thr, state.ms[L.MS_B].astype(np.float32))


def _join(parts: list[KernelResult]) -> KernelResult:
    """One block's result from its chunks' (simulations are the last axis of a series)."""
    first = parts[0]
    return KernelResult(
        series={n: np.concatenate([p.series[n] for p in parts], axis=1) for n in first.series},
        n_meeting=np.concatenate([p.n_meeting for p in parts], axis=1),
        events={n: np.concatenate([p.events[n] for p in parts]) for n in first.events},
        member_events={
            n: np.concatenate([p.member_events[n] for p in parts]) for n in first.member_events
        },
        final_burden=np.concatenate([p.final_burden for p in parts]),
    )


def _member_view(snap: np.ndarray) -> MemberView:
    return MemberView(snap)


def _result(rec, ev, em, traces, n_thr, final_burden) -> KernelResult:
    series = {name: rec[j] for j, name in enumerate(L.REC_NAMES)}
    for name in ("alive", "hegemon_member", "arms_race"):
        series[name] = series[name] > 0.5
    for name in ("members", "pandemics"):
        series[name] = series[name].astype(np.int16)
    events = {name: ev[j] for j, name in enumerate(L.EV_NAMES)}
    for name in (
        "dissolution_step",
        "dissolution_cause",
        "onset_step",
        "onset_target",
        "hegemon_honours",
        "dispute_step",
    ):
        events[name] = events[name].astype(np.int16)
    for name in ("honour_rate", "honour_rate_capability"):
        events[name] = events[name].astype(np.float32)
    return KernelResult(
        series=series,
        n_meeting=np.moveaxis(rec[L.REC_MEET : L.REC_MEET + n_thr], 0, -1).astype(np.int16),
        events=events,
        member_events={"withdrawal_step": em[L.EM_WD_STEP], "notice_step": em[L.EM_NOTICE_STEP]},
        final_burden=final_burden,
        members=traces,
    )
