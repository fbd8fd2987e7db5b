"""Mergeable statistics and their estimators: pure functions of arrays, no I/O.

A block reduces (``engine.block``) to a dict of additive arrays: exact integer event counts per
record step, float64 sums and sums of squares, and fixed-edge histograms. ``merge`` adds them,
done by the client strictly in block-index order, so a run's statistics are a left fold over
its blocks: the same blocks give bitwise the same floats, and a run extended from N to 2N
simulations equals a 2N run. The estimators turn totals into probabilities with Monte Carlo
standard errors and Wilson intervals, means with errors, and quantiles read from histograms
(error at most one bin width) with their sampling errors. Each is mirrored by a numpy oracle
in tests/pipeline/test_stats.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numba
import numpy as np

from alliance_risk.pipeline.outputs import QUANTILES


def cumulative_counts(steps: np.ndarray, T: int) -> np.ndarray:
    """For event steps (sims, ...) the number of sims with step <= k, k = 0..T; steps above
    T (events that did not happen) are never counted."""
    flat = steps.reshape(steps.shape[0], -1)
    out = np.zeros((T + 1, flat.shape[1]), dtype=np.int64)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        out[:, j] = np.cumsum(np.bincount(col[col <= T], minlength=T + 1))
    return out.reshape((T + 1, *steps.shape[1:]))


def continuous_rows(
    x: np.ndarray,
    low: float,
    high: float,
    bins: int,
    log: bool = False,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sums, sums of squares, histogram) of each row of x (rows, values) in float64, after
    multiplying by ``mask`` (booleans of x's shape) when given.

    The histogram has fixed edges over [low, high], linear or log-spaced: a value's bin is
    trunc((x - low) / (high - low) * bins) (of the log position when ``log``), clipped to
    [0, bins - 1], so values out of range count in the end bins. One compiled pass per row
    (``_rows``) instead of numpy's float64 copy, products, sums and binning (a block's
    reduction spent most of its time there). The sums are numpy's ``sum(axis=1)`` bit for
    bit: the same pairwise summation (``_pairwise``), so stored results do not change.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = np.ascontiguousarray(x)
    masked = mask is not None
    m = np.ascontiguousarray(mask, dtype=np.bool_) if masked else np.zeros((1, 1), np.bool_)
    if masked and m.shape != x.shape:
        raise ValueError(f"mask has shape {m.shape}, values {x.shape}")
    rows = x.shape[0]
    total, squares = np.zeros(rows), np.zeros(rows)
    hist = np.zeros((rows, bins), dtype=np.int64)
    # the log position's constants as numpy's expression had them (C library log: numpy's
    # float64 log differs on AVX-512 CPUs)
    a = math.log(low) if log else float(low)
    span = math.log(high) - math.log(low) if log else float(high - low)
    _rows(x, m, masked, log, a, span, bins, total, squares, hist)
    return total, squares, hist


_LEAF = 128  # numpy's PW_BLOCKSIZE


@numba.njit(cache=True, nogil=True)
def _leaf(v, start, n):
    """numpy's pairwise sum of at most 128 values: below 8 one by one, else in 8
    interleaved partial sums, added in pairs, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(start, start + n):
            res += v[i]
        return res
    r0, r1, r2, r3 = v[start], v[start + 1], v[start + 2], v[start + 3]
    r4, r5, r6, r7 = v[start + 4], v[start + 5], v[start + 6], v[start + 7]
    i, whole = start + 8, start + n - n % 8
    while i < whole:
        r0 += v[i]
        r1 += v[i + 1]
        r2 += v[i + 2]
        r3 += v[i + 3]
        r4 += v[i + 4]
        r5 += v[i + 5]
        r6 += v[i + 6]
        r7 += v[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(i, start + n):
        res += v[j]
    return res


@numba.njit(cache=True, nogil=True)
def _pairwise(v, n):
    """numpy's pairwise sum of v[:n] (``DOUBLE_pairwise_sum``), in its order: leaves of at
    most 128 values (``_leaf``); a longer range is the sum of its two halves, split on a
    multiple of 8, left + right. Walked with a stack: numba cannot cache recursive code."""
    if n <= _LEAF:
        return _leaf(v, 0, n)
    start, size = np.zeros(64, np.int64), np.zeros(64, np.int64)
    left, has_left = np.zeros(64), np.zeros(64, np.bool_)
    top, size[0] = 0, n
    while True:
        while size[top] > _LEAF:  # down the left halves to a leaf
            half = size[top] // 2
            half -= half % 8
            start[top + 1], size[top + 1], has_left[top + 1] = start[top], half, False
            top += 1
        x = _leaf(v, start[top], size[top])
        top -= 1
        while top >= 0 and has_left[top]:  # a right half: add it to its left sibling
            x = left[top] + x
            top -= 1
        if top < 0:
            return x
        left[top], has_left[top] = x, True  # a left half: now its right sibling
        half = size[top] // 2
        half -= half % 8
        start[top + 1], size[top + 1] = start[top] + half, size[top] - half
        has_left[top + 1] = False
        top += 1


@numba.njit(cache=True, nogil=True)
def _rows(x, mask, masked, log, low, span, bins, total, squares, hist):
    S = x.shape[1]
    v, v2, at = np.empty(S), np.empty(S), np.empty(S, np.int32)
    # four interleaved sub-histograms: runs of equal values (every output is 0 after the
    # alliance dissolves) would otherwise wait on the previous increment of the same bin
    part = np.zeros((4, bins), np.int64)
    for r in range(x.shape[0]):
        for c in range(S):
            xv = np.float64(x[r, c])
            if masked:
                xv = xv * (1.0 if mask[r, c] else 0.0)  # as numpy's x * mask (-0.0 too)
            v[c] = xv
            v2[c] = xv * xv
        # numpy's reduction starts from its identity, 0.0 (so -0.0 sums to 0.0)
        total[r] = 0.0 + _pairwise(v, S)
        squares[r] = 0.0 + _pairwise(v2, S)
        if log:  # np.maximum keeps NaN; NaN then falls in bin 0
            for c in range(S):
                z = v[c] if (v[c] >= 1e-300 or v[c] != v[c]) else 1e-300
                v[c] = (math.log(z) - low) / span
        lo, width = (0.0, 1.0) if log else (low, span)
        top = bins - 1.0
        for c in range(S):  # trunc, clipped to [0, bins - 1] (NaN: 0), in SIMD
            t = (v[c] - lo) / width * bins
            t = t if t > 0 else 0.0
            at[c] = np.int32(t if t < top else top)
        part[:] = 0
        for c in range(S):
            part[c & 3, at[c]] += 1
        for b in range(bins):
            hist[r, b] = part[0, b] + part[1, b] + part[2, b] + part[3, b]


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


class OrderedFold:
    """The left fold of ``merge`` in block order, fed blocks as they finish in any order.

    Each block is folded as soon as every block before it is, so a run's totals are ready
    when its last block lands instead of after reading every block back (1-2% of a run's
    wall, with the workers idle). A block that finishes early waits in memory, at most
    ``limit`` of them (about 1.7 MB each for nato-2025); one beyond that, and the blocks
    staged before (``stored``, when resuming), are read back with ``load`` when their turn
    comes. The totals are bitwise those of folding the stored blocks in order.
    """

    def __init__(
        self, first: int, totals: dict | None, load: Callable[[int], dict], limit: int = 16
    ):
        self.next, self.totals, self.load, self.limit = first, totals, load, limit
        self.pending: dict[int, dict] = {}
        self.stored: set[int] = set()  # blocks to read back with ``load`` when their turn comes
        self.seconds = {"add": 0.0, "result": 0.0}  # spent folding, as blocks land and after

    def add(self, block: int, stats: dict) -> None:
        """Fold ``block`` (already stored) and every waiting block it makes foldable."""
        t0 = time.perf_counter()
        if block >= self.next:
            if block == self.next or len(self.pending) < self.limit:
                self.pending[block] = stats
            else:
                self.stored.add(block)
        self._advance(None)
        self.seconds["add"] += time.perf_counter() - t0

    def result(self, n_blocks: int) -> dict:
        """The totals of blocks ``first .. n_blocks - 1`` (all stored by now)."""
        t0 = time.perf_counter()
        self._advance(n_blocks)
        self.seconds["result"] += time.perf_counter() - t0
        assert self.totals is not None and self.next == n_blocks  # a run has a block
        return self.totals

    def _advance(self, until: int | None) -> None:
        while until is None or self.next < until:
            b = self.next
            if b in self.pending:
                stats = self.pending.pop(b)
            elif b in self.stored or until is not None:
                self.stored.discard(b)
                stats = self.load(b)
            else:
                return
            self.totals = merge(self.totals, stats)
            self.next += 1


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
    / n^2 with S_c the cluster counts, from ``{key}_cluster_sumsq`` (docs/model.md §4a:
    the binomial error was about 11x too small for a Saltelli run).
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
    # the bounds bracket p exactly: at p = 0 rounding left the lower bound at ~1e-19 > p
    lower = np.minimum(np.clip(centre - half, 0, 1), p)
    upper = np.maximum(np.clip(centre + half, 0, 1), p)
    return np.stack([lower, upper], axis=-1)


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
    """Mean and its standard error from a sum, a sum of squares and a count (n - 1 variance;
    a count below 1 is taken as 1)."""
    n = np.maximum(np.asarray(n, dtype=np.float64), 1)
    m = s / n
    var = np.maximum(ss / n - m * m, 0) * n / np.maximum(n - 1, 1)
    return m, np.sqrt(var / n)
