"""Dated events and election calendars, applied to the state between two updates.

An event of quarter q happens during the update that runs in q (update k = ``step_of(q)``):
its effect is in the state after that update (record step k + 1), where an endogenous
event of the same update would show. Policies (``target``, ``target_pull``) and hostility
jumps that happen in every simulation are folded into the set-up's per-update arrays by
``kernel.prepare``; everything else (a member's government, notice or return, the
hegemon's presence, a pandemic, a jump with probability < 1, an election) is applied here,
after update k and before update k + 1, to the packed state both backends share, so the
numpy and numba paths stay identical. Pure numpy: arrays in, arrays changed in place.

Which simulations an event happens in is drawn once per block from its own stream (a
jump-ahead of the block's innovation generator), so adding a what-if does not move any
other random number: the runs with and without it share common random numbers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import numpy as np

from alliance_risk.models import equations
from alliance_risk.models import layout as L
from alliance_risk.models.scenario import Scenario

E = equations.ufuncs
STATE_EVENTS = ("government", "notice", "return", "hegemon_presence", "pandemic")


class Action(NamedTuple):
    """What to do after one update: ``kind`` for ``member`` with ``value``; ``row`` is the
    event's index (its occurrence draw) or, for an election, -1 - the election's index."""

    kind: str
    row: int
    member: int
    value: float


class Timeline(NamedTuple):
    actions: dict[int, list[Action]]  # update k -> actions applied after it
    n_events: int
    turnover: np.ndarray  # (n_elections,) probability that an election changes government


class Draws(NamedTuple):
    occurred: np.ndarray  # (S, n_events) bool: the event happens in this simulation
    elections: np.ndarray  # (n_elections, 2, S) uniforms: change?, then orientation


def calendar_members(scenario: Scenario) -> np.ndarray:
    """(N,) 1.0 for members whose government changes only at elections (calendar mode)."""
    return np.array([m.elections is not None for m in scenario.members], dtype=np.float64)


def timeline(scenario: Scenario) -> Timeline:
    """The per-update actions of a scenario's events and election calendars."""
    actions: dict[int, list[Action]] = defaultdict(list)
    codes, T = scenario.codes, scenario.time.steps
    for j, e in enumerate(scenario.events):
        uncertain_jump = e.type == "hostility_jump" and e.probability < 1.0  # else in hshock
        if e.type not in STATE_EVENTS and not uncertain_jump:
            continue
        k = scenario.step_of(e.quarter)
        i = codes.index(e.member) if e.member else scenario.hegemon_index
        span = scenario.steps_for(e.duration) if e.duration else None
        if e.type == "government":
            value = 0.0 if e.sceptical else 1.0
            for kk in range(k, min(k + (span or 1), T)):  # held for its duration
                actions[kk].append(Action("government", j, i, value))
        elif e.type == "hegemon_presence":
            actions[k].append(Action("presence", j, i, float(e.value or 0.0)))
            if span is not None and k + span < T:
                actions[k + span].append(Action("presence_end", j, i, 0.0))
        elif e.type == "pandemic":
            actions[k].append(Action("pandemic", j, -1, float(span or 0)))
        elif e.type == "hostility_jump":
            actions[k].append(Action("hostility", j, -1, float(e.size or 0.0)))
        else:  # notice, return
            actions[k].append(Action(e.type, j, i, 0.0))
    turnover: list[float] = []
    for i, m in enumerate(scenario.members):
        if m.elections is None:
            continue
        for q in m.elections.quarters:
            actions[scenario.step_of(q)].append(Action("election", -1 - len(turnover), i, 0.0))
            turnover.append(m.elections.turnover)
    return Timeline(dict(actions), len(scenario.events), np.array(turnover, dtype=np.float64))


def draw(tl: Timeline, scenario: Scenario, rng: np.random.Generator, S: int) -> Draws:
    """Which simulations each event happens in, and the elections' uniforms."""
    u = rng.random((tl.n_events, S))
    prob = np.array([e.probability for e in scenario.events], dtype=np.float64)
    occurred = (u < prob[:, None]).T if tl.n_events else np.zeros((S, 0), dtype=bool)
    return Draws(np.ascontiguousarray(occurred), rng.random((len(tl.turnover), 2, S)))


def apply(k: int, tl: Timeline, draws: Draws, setup, state, em: np.ndarray) -> None:
    """Apply the actions that follow update k (the state now holds step k + 1)."""
    for a in tl.actions.get(k, ()):
        if a.kind == "election":
            _election(a, tl, draws, setup, state)
            continue
        occ = draws.occurred[:, a.row]
        if a.kind == "government":
            _set_government(state, occ, a.member, a.value)
        elif a.kind == "notice":
            _notice(k, setup, state, em, occ, a.member)
        elif a.kind == "return":
            ms, i = state.ms, a.member
            back = occ & (ms[L.MS_M, :, i] > 0.5)
            for var in (L.MS_NOTICE, L.MS_TURNED, L.MS_DIS):
                ms[var, :, i] = np.where(back, 0, ms[var, :, i])
        elif a.kind in ("presence", "presence_end"):
            _presence(setup, occ, a)
        elif a.kind == "pandemic":
            _pandemic(setup, state, occ, a.value)
        elif a.kind == "hostility":
            state.ss[L.SS_H] = np.where(occ, state.ss[L.SS_H] + a.value, state.ss[L.SS_H])


def _set_government(state, occ: np.ndarray, i: int, value) -> None:
    """Orientation ``value`` (1 pro-alliance, 0 sceptical; a scalar or one per simulation)
    where ``occ``; a pro-alliance government facing its own pending notice may rescind it
    (E13)."""
    ms = state.ms
    ms[L.MS_G, :, i] = np.where(occ, value, ms[L.MS_G, :, i])
    turned = occ & (value > 0.5) & (ms[L.MS_NOTICE, :, i] > 0)
    ms[L.MS_TURNED, :, i] = np.where(turned, 1, ms[L.MS_TURNED, :, i])


def _notice(k: int, setup, state, em: np.ndarray, occ: np.ndarray, i: int) -> None:
    """A notice given in update k, as E13's: recorded at k + 1, exit notice_steps later."""
    ms = state.ms
    new = occ & (ms[L.MS_M, :, i] > 0.5) & (ms[L.MS_NOTICE, :, i] <= 0)
    first = new & (em[L.EM_NOTICE_STEP, :, i] == L.NEVER)
    em[L.EM_NOTICE_STEP, :, i] = np.where(first, k + 1, em[L.EM_NOTICE_STEP, :, i])
    ms[L.MS_TURNED, :, i] = np.where(new, 0, ms[L.MS_TURNED, :, i])
    if setup.notice_steps == 0:
        ms[L.MS_M, :, i] = np.where(new, 0, ms[L.MS_M, :, i])
        em[L.EM_WD_STEP, :, i] = np.where(new, k + 1, em[L.EM_WD_STEP, :, i])
    else:
        ms[L.MS_NOTICE, :, i] = np.where(new, setup.notice_steps, ms[L.MS_NOTICE, :, i])


def _presence(setup, occ: np.ndarray, a: Action) -> None:
    """The hegemon's weight in the local balance (E12) at presence ``a.value``, or back to its
    sampled presence when the event's duration ends."""
    prox = setup.mc[L.MC_PROX].astype(np.float64)
    share = a.value if a.kind == "presence" else setup.pg[L.P["hegemon_presence"]]
    w = E.local_balance_weight(1.0, prox[:, a.member], share, prox.max(axis=1))
    loc = setup.mc[L.MC_LOC]
    loc[:, a.member] = np.where(occ, w, loc[:, a.member])


def _pandemic(setup, state, occ: np.ndarray, steps: float) -> None:
    """E1 forced: the GDP loss now, the budget squeeze for ``steps`` updates (0: the sampled
    pandemic_quarters)."""
    ms, ss = state.ms, state.ss
    loss = E.pandemic_shock(setup.pg[L.P["pandemic_gdp_loss"]].astype(np.float64))
    ms[L.MS_Y] = np.where(occ[:, None], ms[L.MS_Y] + loss[:, None], ms[L.MS_Y])
    span = setup.sc[L.SC_QP] if steps == 0 else steps
    ss[L.SS_QPAND] = np.where(occ, np.maximum(ss[L.SS_QPAND], span), ss[L.SS_QPAND])
    ss[L.SS_NPAND] += occ


def _election(a: Action, tl: Timeline, draws: Draws, setup, state) -> None:
    """An election (calendar mode of E6): with probability ``turnover`` the government
    changes and the new one is pro-alliance with E6's probability."""
    e = -1 - a.row
    u_change, u_orient = draws.elections[e]
    ms, i = state.ms, a.member
    pro = u_orient < E.pro_government_probability(
        setup.mc[L.MC_GAMMA0, :, i].astype(np.float64),
        setup.pg[L.P["government_support_effect"]].astype(np.float64),
        ms[L.MS_P, :, i].astype(np.float64),
    )
    _set_government(state, u_change < tl.turnover[e], i, pro.astype(np.float64))
