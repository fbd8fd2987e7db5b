"""Property-based tests of the mergeable statistics against numpy oracles (hypothesis).

Each estimator of ``engine.stats`` is an array-in, array-out function; these tests state
what it must equal for any input: a merge of blocks equals the statistics of the
concatenation, cumulative counts equal a direct comparison, histogram quantiles lie within
one bin of numpy's quantile, a mean and its error equal numpy's.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alliance_risk.pipeline.engine.stats import (
    OrderedFold,
    continuous_rows,
    cumulative_counts,
    hist_quantiles,
    mean_se,
    merge,
    probability,
    proportion,
    wilson_interval,
)

SETTINGS = settings(max_examples=60, deadline=None)
T = 12


def _steps(shape):
    """Event steps in 0..T, or 32767 (NEVER: did not happen)."""
    return hnp.arrays(np.int16, shape, elements=st.sampled_from([*range(T + 1), 32767]))


@SETTINGS
@given(_steps(st.tuples(st.integers(1, 40), st.integers(1, 4))))
def test_cumulative_counts_equal_a_direct_comparison(steps):
    got = cumulative_counts(steps, T)
    want = (steps[None, :, :] <= np.arange(T + 1)[:, None, None]).sum(axis=1)
    np.testing.assert_array_equal(got, want)
    assert (np.diff(got, axis=0) >= 0).all()  # cumulative: never decreasing


@SETTINGS
@given(st.lists(st.integers(1, 30), min_size=1, max_size=5), st.integers(0, 2**32 - 1))
def test_merge_of_blocks_equals_the_statistics_of_all_rows(sizes, seed):
    """Counts add exactly; float sums of a left fold in block order equal numpy's sum of the
    per-block sums in that order (bitwise: the fold is the order)."""
    rng = np.random.default_rng(seed)
    blocks = [rng.integers(0, 2, (T + 1, n)).astype(bool) for n in sizes]
    xs = [rng.normal(size=(T + 1, n)) for n in sizes]
    total = None
    for hit, x in zip(blocks, xs, strict=True):
        stats = {
            "n_sims": np.array(hit.shape[1], np.int32),
            "n_event": hit.sum(axis=1).astype(np.int32),
            "x_sum": x.sum(axis=1),
        }
        total = merge(total, stats)
    allhit = np.concatenate(blocks, axis=1)
    assert total["n_sims"] == allhit.shape[1] and total["n_sims"].dtype == np.int64
    np.testing.assert_array_equal(total["n_event"], allhit.sum(axis=1))
    fold = xs[0].sum(axis=1)
    for x in xs[1:]:
        fold = fold + x.sum(axis=1)
    np.testing.assert_array_equal(total["x_sum"], fold)


@SETTINGS
@given(
    hnp.arrays(np.float64, st.integers(20, 400), elements=st.floats(0, 1, width=32)),
    st.sampled_from([0.05, 0.25, 0.5, 0.75, 0.95]),
)
def test_histogram_quantiles_are_within_one_bin_of_numpys(x, q):
    bins = 50
    edges = np.linspace(0, 1, bins + 1)
    hist = continuous_rows(x[None, :], 0.0, 1.0, bins)[2]
    np.testing.assert_array_equal(hist[0], np.histogram(np.minimum(x, 1 - 1e-12), edges)[0])
    got = hist_quantiles(hist, edges, (q,))[0, 0]
    lo = np.quantile(x, q, method="inverted_cdf")  # the sample quantile the bins bracket
    assert abs(got - lo) <= 1.0 / bins + 1e-12


def _bins_oracle(x, low, high, bins, log):
    """The bin rule in numpy: trunc(position * bins) clipped to the end bins."""
    if log:
        pos = (np.log(np.maximum(x, 1e-300)) - np.log(low)) / (np.log(high) - np.log(low))
    else:
        pos = (x - low) / (high - low)
    with np.errstate(invalid="ignore"):  # NaN casts to the smallest integer: bin 0
        idx = np.clip((pos * bins).astype(np.int64), 0, bins - 1)
    return np.stack([np.bincount(row, minlength=bins) for row in idx])


@SETTINGS
@given(st.integers(1, 30), st.integers(0, 5), st.integers(0, 2**32 - 1), st.data())
def test_ordered_fold_in_any_order_equals_the_fold_in_block_order(n, limit, seed, data):
    """Blocks fed in any order, some staged before (read back), a few pending at most: the
    totals are bitwise the left fold in block order, and nothing is read back that was
    kept in memory unless the limit dropped it."""
    rng = np.random.default_rng(seed)
    blocks = [
        {"n": np.array(3, np.int32), "x_sum": rng.normal(size=4) * 10.0 ** rng.integers(-8, 8)}
        for _ in range(n)
    ]
    stored = set(data.draw(st.sets(st.integers(0, n - 1))))
    order = data.draw(st.permutations([b for b in range(n) if b not in stored]))
    loaded: list[int] = []

    def load(b):
        loaded.append(b)
        return blocks[b]

    fold = OrderedFold(0, None, load, limit=limit)
    fold.stored |= stored
    for b in order:
        fold.add(b, blocks[b])
        assert len(fold.pending) <= max(limit, 1)
    got = fold.result(n)
    want = None
    for b in blocks:
        want = merge(want, b)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k
    assert stored <= set(loaded) and len(loaded) == len(set(loaded))
    if limit >= n:
        assert set(loaded) == stored


@SETTINGS
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 300)),
        elements=st.one_of(
            st.floats(-5, 5, width=32),
            st.sampled_from([0.0, -0.0, -1.0, 2.0, 0.5, 1e-300, 1.0 - 1e-16, np.nan]),
        ),
    ),
    st.sampled_from([(-1.0, 2.0, 200, False), (0.0, 1.0, 7, False), (0.01, 3.0, 50, True)]),
)
def test_continuous_rows_bins_every_value_as_numpy_does(x, edges):
    """Equal runs, values on edges, out of range on both sides, zeros, NaN: the compiled
    binning counts each value in the bin numpy's truncate-and-clip gives it."""
    got = continuous_rows(x, *edges)[2]
    np.testing.assert_array_equal(got, _bins_oracle(x, *edges))
    assert got.dtype == np.int64 and (got.sum(axis=1) == x.shape[1]).all()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (so 0.0 and -0.0 differ, NaN equals the same NaN)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@SETTINGS
@given(
    st.integers(1, 3),
    st.one_of(st.integers(1, 300), st.sampled_from([1000, 1031, 4096, 10_000, 10_007])),
    st.sampled_from([np.float32, np.float64]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_continuous_rows_sums_are_numpys_bit_for_bit(rows, n, dtype, masked, seed):
    """The block reducer's compiled sums are the ones numpy's sum(axis=1) gave (stored runs
    keep their bits): every length around numpy's blocks of 8 and 128 and its halvings,
    values over ten orders of magnitude, signed zeros, a mask (a block's ``alive``)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, n)) * 10.0 ** rng.uniform(-5, 5, (rows, n))
    x[rng.random((rows, n)) < 0.1] = -0.0
    x = x.astype(dtype)
    mask = rng.random((rows, n)) < 0.7 if masked else None
    total, squares, hist = continuous_rows(x, -1.0, 2.0, 50, mask=mask)
    y = x.astype(np.float64) * (mask if masked else 1)
    assert _same_bits(total, y.sum(axis=1)) and _same_bits(squares, (y * y).sum(axis=1))
    np.testing.assert_array_equal(hist, _bins_oracle(y, -1.0, 2.0, 50, False))


def test_continuous_rows_sums_are_pairwise_from_zero():
    """The sums are numpy's pairwise ones, not a running sum (which differs in the last
    bits over a block's 10,000 values: the test above can tell the two apart), and start
    from numpy's identity: negative values masked out (-0.0 each) sum to 0.0, not -0.0."""
    x = np.random.default_rng(3).standard_normal((2, 10_000))
    running = 0.0
    for v in x[0]:
        running += v
    x[1] = -1.0
    mask = np.zeros(x.shape, dtype=bool)
    mask[0] = True  # row 1 masked out: -1.0 * 0.0 = -0.0
    total = continuous_rows(x, 0.0, 1.0, 10, mask=mask)[0]
    assert total[0] == x[0].sum() and total[0] != running
    assert _same_bits(total[1:], np.array([0.0]))


@SETTINGS
@given(hnp.arrays(np.float64, st.integers(2, 300), elements=st.floats(-1e3, 1e3)))
def test_mean_and_its_error_equal_numpys(x):
    m, se = mean_se(x.sum(), (x * x).sum(), x.size)
    np.testing.assert_allclose(m, x.mean(), rtol=1e-9, atol=1e-9)
    want = x.std(ddof=1) / np.sqrt(x.size)
    np.testing.assert_allclose(se, want, rtol=1e-6, atol=1e-6 * (np.abs(x).max() + 1))


@SETTINGS
@given(st.integers(1, 10_000), st.data())
def test_probability_and_wilson_interval(n, data):
    k = data.draw(st.integers(0, n))
    p, se = proportion(k, n)
    assert p == k / n and se == np.sqrt(p * (1 - p) / n)
    lo, hi = wilson_interval(p, se, n)
    assert 0 <= lo <= p <= hi <= 1
    assert hi - lo > 0  # never the Wald interval's zero width, even at p = 0 or 1
    totals = {"n_sims": np.array(n), "n_x": np.array(k)}
    assert probability(totals, "n_x") == (p, se)


@SETTINGS
@given(st.integers(2, 30), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_cluster_robust_error_equals_the_between_cluster_formula(C, m, seed):
    """Var(p) = C/(C-1) * sum_c (S_c - m p)^2 / n^2 for C clusters of m rows (S_c counts)."""
    rng = np.random.default_rng(seed)
    hit = rng.random((C, m)) < rng.random((C, 1))  # correlated inside a cluster
    S = hit.sum(axis=1)
    n = C * m
    totals = {
        "n_sims": np.array(n),
        "n_x": np.array(S.sum()),
        "n_x_cluster_sumsq": np.array((S * S).sum()),
        "n_clusters": np.array(C),
    }
    p, se = probability(totals, "n_x")
    want = np.sqrt(max(C / (C - 1) * ((S - m * p) ** 2).sum() / n**2, 0.0))
    np.testing.assert_allclose(se, want, rtol=1e-9, atol=1e-12)
