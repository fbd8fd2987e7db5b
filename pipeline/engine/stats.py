"""Mergeable sufficient statistics of a block, and what they become.

A block reduces on the worker to a dict of additive arrays: exact integer event counts per
quarter, float64 sums and sums of squares, and fixed-edge histograms. Merging is elementwise
addition, done by the client strictly in block-index order, so a run's statistics are a left
fold over its blocks: the same blocks give bitwise the same floats, and a run extended from N
to 2N simulations equals a 2N run. ``finalize`` turns the totals into probabilities with Monte
Carlo standard errors, means with errors, and quantiles read from the histograms (error at
most one bin width; the bin width of each variable is stored with it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from alliance_risk.models.kernel import simulate
from alliance_risk.models.layout import CAUSE_NAMES
from alliance_risk.models.noise import StepNoise
from alliance_risk.models.sampling import saltelli_block, saltelli_rows, sample_parameters
from alliance_risk.models.scenario import Scenario
from alliance_risk.pipeline.engine.plan import RunSpec, block_rngs

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
N_BINS = 200
BURDEN_BINS = (0.0, 15.0, 300)  # per-member burden histogram: % of GDP, 0.05 pp bins
HONOUR_BINS = 100


@dataclass(frozen=True)
class Continuous:
    """A recorded per-simulation series summarised by mean, s.e. and histogram quantiles."""

    name: str
    low: float
    high: float
    log: bool
    units: str
    long_name: str


CONTINUOUS = (
    Continuous("cohesion", 0, 1, False, "1", "political cohesion C (0 after dissolution)"),
    Continuous(
        "credibility", 0, 1, False, "1", "military credibility Q (capability-weighted commitment)"
    ),
    Continuous("retention", 0, 1, False, "1", "capability retention of the original members"),
    Continuous(
        "local_balance", 0, 20, False, "1", "expected local balance R against the adversary"
    ),
    Continuous("hhi", 0, 1, False, "1", "concentration (HHI) of capability shares"),
    Continuous(
        "alliance_spending", 0, 8000, False, "USD bn/yr", "defence spending of active members"
    ),
    Continuous(
        "alliance_burden", 0, 10, False, "% of GDP", "GDP-weighted defence burden of active members"
    ),
    Continuous("adversary_spending", 0, 500, False, "USD bn/yr", "adversary military spending"),
    Continuous("hostility", -4, 6, False, "1", "adversary hostility H (log scale, 0 at start)"),
    Continuous("friction", 0, 8, False, "1", "hegemon friction F"),
    Continuous(
        "conflict_hazard", 1e-6, 10, True, "1/yr", "annual hazard of an attack on the alliance"
    ),
)


def _edges(spec: Continuous) -> np.ndarray:
    if spec.log:
        return np.geomspace(spec.low, spec.high, N_BINS + 1)
    return np.linspace(spec.low, spec.high, N_BINS + 1)


EDGES = {c.name: _edges(c) for c in CONTINUOUS}


def _hist_rows(x: np.ndarray, spec: Continuous) -> np.ndarray:
    """Histogram of each row of x (time, sims) on the variable's fixed edges; values out of
    range are counted in the end bins."""
    if spec.log:
        pos = (np.log(np.maximum(x, 1e-300)) - np.log(spec.low)) / (
            np.log(spec.high) - np.log(spec.low)
        )
    else:
        pos = (x - spec.low) / (spec.high - spec.low)
    idx = np.clip((pos * N_BINS).astype(np.int64), 0, N_BINS - 1)
    offs = idx + N_BINS * np.arange(x.shape[0])[:, None]
    return np.bincount(offs.ravel(), minlength=x.shape[0] * N_BINS).reshape(x.shape[0], N_BINS)


def _cum_counts(steps: np.ndarray, T: int) -> np.ndarray:
    """For event steps (sims, ...) the number of sims with step <= k, k = 0..T."""
    flat = steps.reshape(steps.shape[0], -1)
    out = np.zeros((T + 1, flat.shape[1]), dtype=np.int64)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        out[:, j] = np.cumsum(np.bincount(col[col <= T], minlength=T + 1))
    return out.reshape((T + 1, *steps.shape[1:]))


def simulate_block(scenario: Scenario, spec: RunSpec, block: int, keep_samples: bool = False):
    """Run one block through the kernel and reduce it.

    Returns (stats, samples or None, timing) where timing holds the seconds spent in the
    kernel and in the whole block (kept apart from the statistics, which are deterministic).
    """
    t0 = time.perf_counter()
    p_rng, i_rng = block_rngs(spec.seed, block)
    hook = None
    if spec.sampler == "saltelli":
        per_block = spec.block_size // saltelli_rows(scenario)
        params, src = saltelli_block(scenario, spec.seed, block * per_block, per_block)

        def hook(noise: StepNoise) -> StepNoise:  # A and AB rows share the A row's noise
            return StepNoise(*(None if a is None else a[:, src] for a in noise))

    else:
        params = sample_parameters(scenario, spec.block_size, p_rng, spec.sampler)
    t1 = time.perf_counter()
    res = simulate(scenario, params, i_rng, member_summary=BURDEN_BINS, noise_hook=hook)
    t2 = time.perf_counter()
    cluster = saltelli_rows(scenario) if spec.sampler == "saltelli" else 1
    stats = reduce_block(scenario, res, res.member_summary, cluster)
    samples = _samples(scenario, params, res) if keep_samples else None
    return stats, samples, {"kernel": t2 - t1, "block": time.perf_counter() - t0}


# alliance-level cumulative probabilities whose errors account for correlated rows
# (Saltelli base points): their per-cluster sums of squares are kept, see ``probability``
CLUSTERED = (
    "n_intact",
    "n_intact_with_hegemon",
    "n_any_withdrawal",
    "n_hegemon_withdrawn",
    "n_conflict",
    "n_conflict_intact",
    "n_dispute",
)


def _by_step(steps: np.ndarray, T: int) -> np.ndarray:
    """(T + 1, S) indicator: the event (at update ``steps``) has happened by step k."""
    return steps[None, :] <= np.arange(T + 1)[:, None]


def reduce_block(
    scenario: Scenario, res, member_stats: dict, cluster: int = 1
) -> dict[str, np.ndarray]:
    """Additive statistics of one block's KernelResult.

    ``cluster`` > 1: consecutive rows form clusters of that size (the rows of one Saltelli
    base point share innovations and most inputs); the sums of squares of each cluster's
    counts are kept for the cluster-robust standard errors of ``CLUSTERED`` probabilities.
    """
    se, ev, me = res.series, res.events, res.member_events
    T = scenario.time.steps
    N = len(scenario.members)
    S = se["alive"].shape[1]
    alive = se["alive"]
    heg = scenario.hegemon_index
    out: dict[str, np.ndarray] = {"n_sims": np.array(S, dtype=np.int64)}
    wd, notice = me["withdrawal_step"], me["notice_step"]
    onset, diss = ev["onset_step"], ev["dissolution_step"]
    events = {
        "n_intact": alive,
        "n_intact_with_hegemon": alive & se["hegemon_member"],
        "n_any_withdrawal": _by_step(wd.min(axis=1), T),
        "n_hegemon_withdrawn": _by_step(wd[:, heg], T) if heg >= 0 else np.zeros_like(alive),
        "n_conflict": _by_step(onset, T),
        # alive at k means any onset by k came while the alliance was intact (absorbing)
        "n_conflict_intact": _by_step(onset, T) & alive,
        "n_dispute": _by_step(ev["dispute_step"], T),
    }
    for name, hit in events.items():
        out[name] = hit.sum(axis=1)
    out["n_conflict_after_dissolution"] = (events["n_conflict"] & (onset > diss)).sum(axis=1)
    if cluster > 1:
        out["n_clusters"] = np.array(S // cluster, dtype=np.int64)
        for name in CLUSTERED:
            sums = events[name].reshape(T + 1, S // cluster, cluster).sum(axis=2, dtype=np.int64)
            out[f"{name}_cluster_sumsq"] = (sums * sums).sum(axis=1)
    out["n_withdrawn"] = _cum_counts(wd, T)
    out["n_notice"] = _cum_counts(notice, T)
    out["n_pandemic"] = (se["pandemics"] > 0).sum(axis=1)
    out["n_arms_race"] = se["arms_race"].sum(axis=1)
    members = se["members"].astype(np.int64)
    offs = members + (N + 1) * np.arange(T + 1)[:, None]
    out["members_pmf_count"] = np.bincount(offs.ravel(), minlength=(T + 1) * (N + 1)).reshape(
        T + 1, N + 1
    )
    cause = np.zeros((T + 1, len(CAUSE_NAMES) - 1), np.int64)
    for c in range(1, len(CAUSE_NAMES)):
        hit = ev["dissolution_cause"] == c
        cause[:, c - 1] = _cum_counts(ev["dissolution_step"][hit], T) if hit.any() else 0
    out["n_dissolved_by_cause"] = cause
    out["n_meeting_sum"] = res.n_meeting.sum(axis=1).astype(np.float64)
    for spec in CONTINUOUS:
        x = se[spec.name].astype(np.float64)
        if spec.name in ("cohesion", "credibility"):
            out[f"{spec.name}_given_intact_sum"] = (x * alive).sum(axis=1)
            x = x * alive  # unconditional: 0 after dissolution
        out[f"{spec.name}_sum"] = x.sum(axis=1)
        out[f"{spec.name}_sumsq"] = (x * x).sum(axis=1)
        out[f"{spec.name}_hist"] = _hist_rows(x, spec)
    honour = ev["honour_rate"]
    ok = ~np.isnan(honour)
    out["n_art5"] = np.array(ok.sum(), dtype=np.int64)
    out["honour_sum"] = np.array(honour[ok].astype(np.float64).sum())
    out["honour_sumsq"] = np.array((honour[ok].astype(np.float64) ** 2).sum())
    out["honour_hist"] = np.bincount(
        np.clip((honour[ok] * HONOUR_BINS).astype(np.int64), 0, HONOUR_BINS - 1),
        minlength=HONOUR_BINS,
    )
    hh = ev["hegemon_honours"]
    out["n_hegemon_asked"] = np.array((hh >= 0).sum(), dtype=np.int64)
    out["n_hegemon_honours"] = np.array((hh == 1).sum(), dtype=np.int64)
    out.update(member_stats)
    # a block's counts fit in int32 (halves what travels to the client; sums of squares of
    # cluster counts excepted); the fold widens them
    return {
        k: v.astype(np.int32) if v.dtype.kind in "iu" and "sumsq" not in k else v
        for k, v in out.items()
    }


def _samples(scenario: Scenario, params: np.ndarray, res) -> dict[str, np.ndarray]:
    """Per-simulation results kept with --keep-samples."""
    se, ev = res.series, res.events
    return {
        "parameters": params,
        "withdrawal_step": res.member_events["withdrawal_step"],
        "dissolution_step": ev["dissolution_step"],
        "dissolution_cause": ev["dissolution_cause"].astype(np.int8),
        "onset_step": ev["onset_step"],
        **{f"final_{c.name}": se[c.name][-1].astype(np.float32) for c in CONTINUOUS},
        "final_members": se["members"][-1].astype(np.int16),
    }


def merge(total: dict | None, block: dict) -> dict:
    """Left fold step: total + block (elementwise, in place on total)."""
    if total is None:
        return {
            k: np.array(v, dtype=np.int64 if v.dtype.kind in "iu" else v.dtype, copy=True)
            for k, v in block.items()
        }
    for k, v in block.items():
        total[k] += v
    return total


def hist_quantiles(hist: np.ndarray, edges: np.ndarray, qs=QUANTILES) -> np.ndarray:
    """Quantiles of binned data (..., bins) by linear interpolation inside the bin."""
    cum = np.cumsum(hist, axis=-1).astype(np.float64)
    n = cum[..., -1:]
    out = np.empty((*hist.shape[:-1], len(qs)))
    for j, q in enumerate(qs):
        target = q * n
        idx = np.minimum((cum < target).sum(axis=-1), hist.shape[-1] - 1)
        below = np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], -1)[..., 0]
        below = np.where(idx > 0, below, 0.0)
        inbin = np.take_along_axis(hist, idx[..., None], -1)[..., 0]
        frac = np.where(inbin > 0, (target[..., 0] - below) / np.maximum(inbin, 1), 0.5)
        lo, hi = edges[idx], edges[idx + 1]
        out[..., j] = lo + np.clip(frac, 0, 1) * (hi - lo)
    return np.where(n > 0, out, np.nan)


def proportion(count: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A probability from independent rows and its binomial standard error."""
    p = np.asarray(count, dtype=np.float64) / n
    return p, np.sqrt(p * (1 - p) / n)


def probability(totals: dict, key: str) -> tuple[np.ndarray, np.ndarray]:
    """A probability ``totals[key] / n`` and its Monte Carlo standard error.

    Independent rows: binomial. Rows in C clusters of m (Saltelli base points, whose rows
    share innovations and most inputs): cluster-robust, Var = C/(C-1) (sum_c S_c^2 - n m p^2)
    / n^2 with S_c the cluster counts, from ``{key}_cluster_sumsq`` (shared/design/model-v2.md
    §2.8: the binomial error was about 11x too small for a Saltelli run).
    """
    n = int(totals["n_sims"])
    p, se = proportion(totals[key], n)
    sumsq = totals.get(f"{key}_cluster_sumsq")
    if sumsq is not None:
        C = int(totals["n_clusters"])
        m = n / C
        var = (np.asarray(sumsq, np.float64) - n * m * p * p) / n**2 * C / max(C - 1, 1)
        se = np.sqrt(np.maximum(var, 0.0))
    return p, se


def wilson_interval(p, se, n_rows, z: float = 1.959964) -> np.ndarray:
    """Wilson score interval (..., 2) for p with effective size n = p(1-p)/se^2.

    Unlike the Wald interval p ± z se it stays inside [0, 1] and keeps its coverage for rare
    events: p = 0 gives [0, z^2/(n + z^2)], with n = ``n_rows`` (where se is 0) or, for
    correlated rows, the effective size implied by the cluster-robust error.
    """
    p = np.asarray(p, np.float64)
    se = np.asarray(se, np.float64)
    rows = np.broadcast_to(np.asarray(n_rows, np.float64), p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = np.where((se > 0) & (p > 0) & (p < 1), p * (1 - p) / se**2, rows)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return np.stack([np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)], axis=-1)


def hist_quantile_se(hist: np.ndarray, edges: np.ndarray, q: np.ndarray, qs=QUANTILES):
    """Sampling standard error of histogram quantiles: sqrt(q(1-q)/n) / f(x_q), with the
    density f read from the bin holding the quantile (asymptotic, independent rows)."""
    n = hist.sum(axis=-1, keepdims=True).astype(np.float64)
    width = np.diff(edges)
    idx = np.clip(np.searchsorted(edges, q, side="right") - 1, 0, hist.shape[-1] - 1)
    count = np.take_along_axis(hist, idx, axis=-1).astype(np.float64)
    dens = count / np.maximum(n, 1) / width[idx]
    qq = np.asarray(qs, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(qq * (1 - qq) / np.maximum(n, 1)) / dens
    return np.where((dens > 0) & (n > 0), out, np.nan)


def mean_se(s: np.ndarray, ss: np.ndarray, n) -> tuple[np.ndarray, np.ndarray]:
    n = np.maximum(np.asarray(n, dtype=np.float64), 1)
    m = s / n
    var = np.maximum(ss / n - m * m, 0) * n / np.maximum(n - 1, 1)
    return m, np.sqrt(var / n)
