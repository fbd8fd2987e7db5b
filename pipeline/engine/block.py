"""One block: sample its inputs, run the kernel, reduce the result to additive statistics.

What is reduced is declared by the output registry (``pipeline.outputs``): each output names a
reducer of ``REDUCERS`` and the kernel record it reads; the reducers are small named
functions over a ``Record`` (the kernel's result with the block's indicators). The block's
per-simulation results, when a run keeps them, go to a ``sink`` that the store provides.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
from scipy import special

from alliance_risk.models import numerics
from alliance_risk.models.errors import AllianceRiskError
from alliance_risk.models.kernel import KernelResult, nonfinite, simulate
from alliance_risk.models.layout import CAUSE_NAMES
from alliance_risk.models.sampling import (
    Sampler,
    saltelli_block,
    saltelli_rows,
    sample_parameters,
)
from alliance_risk.models.scenario import Scenario
from alliance_risk.pipeline.engine.plan import RunSpec, block_rngs
from alliance_risk.pipeline.engine.stats import continuous_rows, cumulative_counts
from alliance_risk.pipeline.outputs import BURDEN_BINS, HONOUR_BINS, OUTPUTS, Output

# continuous outputs whose sums among intact simulations are kept too (their *_given_intact_mean)
GIVEN_INTACT = {o.source for o in OUTPUTS if o.kind == "intact_mean"}

# receives (block, parameters, kernel result) on the worker: writes kept samples
Sink = Callable[[int, np.ndarray, KernelResult], None]


def simulate_block(scenario: Scenario, spec: RunSpec, block: int, sink: Sink | None = None):
    """Run one block through the kernel and reduce it.

    Returns (stats, timing): timing holds the seconds spent sampling, in the kernel (and the
    CPU time of this thread in it: less than its wall when the thread waits for a core or
    the GIL), reducing and in the whole block (kept apart from the statistics, which are
    deterministic), and the CPU numba compiled the kernel for (``numerics.TARGET_USED``).
    """
    t0 = time.perf_counter()
    p_rng, i_rng = block_rngs(spec.seed, block)
    rows = None
    if spec.sampler == "saltelli":  # A and AB rows share the A row's variates
        per_block = spec.block_size // saltelli_rows(scenario)
        params, rows = saltelli_block(scenario, spec.seed, block * per_block, per_block)
    else:
        sampler = cast(Sampler, spec.sampler)  # RunSpec checked it: mc, lhs or sobol
        params = sample_parameters(scenario, spec.block_size, p_rng, sampler)
    t1, c1 = time.perf_counter(), time.thread_time()
    res = simulate(scenario, params, i_rng, member_summary=BURDEN_BINS, noise_rows=rows)
    check_finite(scenario, spec, block, params, res)
    t2, c2 = time.perf_counter(), time.thread_time()
    cluster = saltelli_rows(scenario) if spec.sampler == "saltelli" else 1
    stats = reduce_block(scenario, res, cluster)
    t3 = time.perf_counter()
    if sink is not None:
        sink(block, params, res)
    t4 = time.perf_counter()
    return stats, {
        "sample": t1 - t0,
        "kernel": t2 - t1,
        "kernel_cpu": c2 - c1,
        "reduce": t3 - t2,
        "samples": t4 - t3,
        "block": t4 - t0,
        "compiled_for": numerics.TARGET_USED,  # the CPU this worker's kernel was compiled for
    }


class NonFiniteError(AllianceRiskError):
    """A simulation's state went NaN or infinite: the block fails rather than store it."""


def check_finite(scenario: Scenario, spec: RunSpec, block: int, params, res) -> None:
    """Raise ``NonFiniteError`` naming the first simulation whose state is not finite, with
    the inputs that sat furthest in their priors' tails (the likeliest culprits)."""
    found = nonfinite(res)
    if found is None:
        return
    sim, series, step = found
    row = params[sim]
    tails = []
    for name, dist, value in zip(
        scenario.parameter_names, scenario.distributions, row, strict=True
    ):
        if dist.dist == "fixed":  # not uncertain: never in a tail
            continue
        u = float(np.clip(dist.cdf(np.array([value]))[0], 1e-300, 1 - 1e-16))
        tails.append((abs(float(special.ndtri(u))), name, value))
    worst = ", ".join(f"{n} = {v:.6g}" for _, n, v in sorted(tails, reverse=True)[:5])
    where = "at the horizon" if step < 0 else f"at record {step}"
    raise NonFiniteError(
        f"simulation {block * spec.block_size + sim} (block {block}) has non-finite "
        f"{series} {where}; its inputs furthest in their priors' tails: {worst}"
    )


def _by_step(steps: np.ndarray, T: int) -> np.ndarray:
    """(T + 1, S) indicator: the event (at update ``steps``) has happened by step k."""
    return steps[None, :] <= np.arange(T + 1)[:, None]


def indicators(scenario: Scenario, res: KernelResult) -> dict[str, np.ndarray]:
    """(T + 1, S) booleans of the alliance-level events: has it happened (or does it hold)
    at record k. The registry's "count" outputs name them as their ``source``."""
    se, ev, me = res.series, res.events, res.member_events
    T = scenario.time.steps
    alive, wd = se["alive"], me["withdrawal_step"]
    onset, diss = ev["onset_step"], ev["dissolution_step"]
    heg = scenario.hegemon_index
    conflict = _by_step(onset, T)
    return {
        "intact": alive,
        "intact_with_hegemon": alive & se["hegemon_member"],
        "any_withdrawal": _by_step(wd.min(axis=1), T),
        "any_notice": _by_step(me["notice_step"].min(axis=1), T),
        "hegemon_withdrawn": _by_step(wd[:, heg], T) if heg >= 0 else np.zeros_like(alive),
        "conflict": conflict,
        # alive at k means any onset by k came while the alliance was intact (absorbing)
        "conflict_intact": conflict & alive,
        "conflict_after_dissolution": conflict & (onset > diss),
        "dispute": _by_step(ev["dispute_step"], T),
        "pandemic": se["pandemics"] > 0,
        "arms_race": se["arms_race"],
    }


@dataclass(frozen=True)
class Record:
    """What the reducers read: the scenario, the kernel result, the block's indicators and
    the Saltelli cluster size (1 for independent rows)."""

    scenario: Scenario
    res: KernelResult
    events: dict[str, np.ndarray]
    cluster: int

    @property
    def T(self) -> int:
        return self.scenario.time.steps


def _count(o: Output, r: Record, out: dict) -> None:
    """Simulations in which the event has happened by each record step; with clusters of
    correlated rows also the sum of squares of each cluster's count (robust errors)."""
    hit = r.events[o.source]
    out[o.total] = hit.sum(axis=1)
    if o.clustered and r.cluster > 1:
        S = hit.shape[1]
        out["n_clusters"] = np.array(S // r.cluster, dtype=np.int64)
        sums = hit.reshape(r.T + 1, S // r.cluster, r.cluster).sum(axis=2, dtype=np.int64)
        out[f"{o.total}_cluster_sumsq"] = (sums * sums).sum(axis=1)


def _cumulative(o: Output, r: Record, out: dict) -> None:
    """Per member: simulations whose event step (withdrawal, notice) is <= k."""
    out[o.total] = cumulative_counts(r.res.member_events[o.source], r.T)


def _causes(o: Output, r: Record, out: dict) -> None:
    """Cumulative dissolutions by cause (cause 0, none, is not a column)."""
    ev = r.res.events
    cause = np.zeros((r.T + 1, len(CAUSE_NAMES) - 1), np.int64)
    for c in range(1, len(CAUSE_NAMES)):
        hit = ev[o.source] == c
        cause[:, c - 1] = cumulative_counts(ev["dissolution_step"][hit], r.T) if hit.any() else 0
    out[o.total] = cause


def _pmf(o: Output, r: Record, out: dict) -> None:
    """Counts of the number of members at each record step, (T + 1, N + 1)."""
    N = len(r.scenario.members)
    members = r.res.series[o.source].astype(np.int64)
    offs = members + (N + 1) * np.arange(r.T + 1)[:, None]
    counts = np.bincount(offs.ravel(), minlength=(r.T + 1) * (N + 1))
    out[o.total] = counts.reshape(r.T + 1, N + 1)


def _meeting(o: Output, r: Record, out: dict) -> None:
    out[o.total] = r.res.n_meeting.sum(axis=1).astype(np.float64)


def _continuous(o: Output, r: Record, out: dict) -> None:
    """Sum, sum of squares and histogram; the alliance's continuous outputs are 0 after
    dissolution, and cohesion and credibility also keep their sums while intact (the same
    sums: the unconditional output is the one masked by ``alive``)."""
    h = o.histogram
    mask = r.res.series["alive"] if o.source in GIVEN_INTACT else None
    total, squares, hist = continuous_rows(
        r.res.series[o.source], h.low, h.high, h.bins, h.log, mask=mask
    )
    if mask is not None:
        out[f"{o.total}_given_intact_sum"] = total.copy()
    out[f"{o.total}_sum"] = total
    out[f"{o.total}_sumsq"] = squares
    out[f"{o.total}_hist"] = hist


def _hegemon_honours(o: Output, r: Record, out: dict) -> None:
    """Onsets at which the hegemon was asked (its event is -1 without an onset), and those
    at which it honoured Article 5."""
    x = r.res.events[o.source]
    out[o.denominator] = np.array((x >= 0).sum(), dtype=np.int64)
    out[o.total] = np.array((x == 1).sum(), dtype=np.int64)


def _honour_rate(o: Output, r: Record, out: dict) -> None:
    """At conflict onset: the share of allies honouring Article 5 (NaN without an onset):
    the number of onsets, sum, sum of squares and histogram."""
    x = r.res.events[o.source]
    ok = ~np.isnan(x)
    out["n_art5"] = np.array(ok.sum(), dtype=np.int64)
    out[f"{o.total}_sum"] = np.array(x[ok].astype(np.float64).sum())
    out[f"{o.total}_sumsq"] = np.array((x[ok].astype(np.float64) ** 2).sum())
    out[f"{o.total}_hist"] = np.bincount(
        np.clip((x[ok] * HONOUR_BINS).astype(np.int64), 0, HONOUR_BINS - 1),
        minlength=HONOUR_BINS,
    )


def _nothing(o: Output, r: Record, out: dict) -> None:
    """Outputs read from another output's statistics, the kernel's member summary, or the
    scenario."""


REDUCERS: dict[str, Callable[[Output, Record, dict], None]] = {
    "count": _count,
    "cumulative": _cumulative,
    "causes": _causes,
    "pmf": _pmf,
    "meeting": _meeting,
    "continuous": _continuous,
    "honour_rate": _honour_rate,
    "hegemon_honours": _hegemon_honours,
    "kernel": _nothing,  # summed over simulations inside the kernel (member_summary)
    "none": _nothing,
}


def reduce_block(scenario: Scenario, res: KernelResult, cluster: int = 1) -> dict[str, np.ndarray]:
    """Additive statistics of one block's kernel result, output by output.

    ``cluster`` > 1: consecutive rows form clusters of that size (the rows of one Saltelli
    base point share innovations and most inputs); clustered outputs keep the sums of
    squares of each cluster's counts for their cluster-robust standard errors.
    """
    S = res.series["alive"].shape[1]
    out: dict[str, np.ndarray] = {"n_sims": np.array(S, dtype=np.int64)}
    record = Record(scenario, res, indicators(scenario, res), cluster)
    for o in OUTPUTS:
        REDUCERS[o.reduce](o, record, out)
    out.update(res.member_summary or {})
    # a block's counts fit in int32 (halves what travels to the client; sums of squares of
    # cluster counts excepted); the fold widens them
    return {
        k: v.astype(np.int32) if v.dtype.kind in "iu" and "sumsq" not in k else v
        for k, v in out.items()
    }
