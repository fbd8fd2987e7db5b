"""The counter-based innovations (models/innovations.py): SplitMix64's known outputs, the
distribution of the normals (ziggurat, tail included) and uniforms, independence, and the
property the kernel relies on: a simulation's variates depend only on (key, step, row).
Tolerances are multiples of the Monte Carlo standard error (4.5 s.e.: a false alarm about
once in 150,000 checks), with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from alliance_risk.models import innovations as inn
from alliance_risk.models.noise import empty_step

Z = 4.5
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _draws(seed: int, S: int, N: int, steps: int, dtype=np.float64):
    key = inn.innovations(np.random.default_rng(seed))
    out, zs, us = empty_step(S, N, dtype), [], []
    for k in range(steps):
        inn.fill_step(key, k, np.arange(S, dtype=np.int64), out)
        zs.append(np.concatenate([out.zm.ravel(), out.zs.ravel()]))
        us.append(np.concatenate([out.um.ravel(), out.us.ravel()]))
    return np.concatenate(zs), np.concatenate(us)


@pytest.fixture(scope="module")
def draws():
    return _draws(11, 20_000, 32, 4)  # 10.7 million normals and as many uniforms


def test_words_are_splitmix64s_known_outputs():
    """Seed 0 and the golden gamma make SplitMix64 from state 0 (Steele et al. 2014):
    its first outputs are published test values."""
    first = [int(inn.word(np.uint64(0), GOLDEN, np.uint64(i))) for i in range(2)]
    assert first == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]


def test_normals_follow_the_standard_normal_in_the_body_and_the_tails(draws):
    z, _ = draws
    n = z.size
    assert abs(z.mean()) < Z / np.sqrt(n)
    assert abs(z.var() - 1.0) < Z * np.sqrt(2.0 / n)
    for t in (-3.0, -2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 2.0, 3.0):  # the ziggurat's body
        p = stats.norm.cdf(t)
        assert abs((z <= t).mean() - p) < Z * np.sqrt(p * (1 - p) / n), t
    for t in (3.0, inn.ZIG_R, 4.0):  # beyond ZIG_R every draw comes from the tail algorithm
        p = stats.norm.sf(t)
        for side in (z > t, z < -t):
            assert abs(side.sum() - n * p) < Z * np.sqrt(n * p), t


def test_uniforms_are_24_bit_and_uniform(draws):
    _, u = draws
    n = u.size
    assert u.min() >= 0.0 and u.max() < 1.0
    assert np.all(u * 2**24 == np.floor(u * 2**24))  # exact in float32
    for t in (1e-3, 0.1, 0.25, 0.5, 0.9, 0.999):
        assert abs((u < t).mean() - t) < Z * np.sqrt(t * (1 - t) / n), t


def test_neighbouring_variates_are_uncorrelated():
    """Within a simulation (consecutive members and slots), across simulations, steps and
    blocks (keys): each correlation within Z / sqrt(n) of 0."""
    S, N = 20_000, 32
    a, b = empty_step(S, N, np.float64), empty_step(S, N, np.float64)
    rows = np.arange(S, dtype=np.int64)
    key, other = (inn.innovations(np.random.default_rng(s)) for s in (1, 2))
    inn.fill_step(key, 0, rows, a)
    inn.fill_step(key, 1, rows, b)
    pairs = {
        "members": (a.zm[0, :, :-1], a.zm[0, :, 1:]),
        "slots": (a.zm[0], a.zm[1]),
        "normal and uniform": (a.zm[0], a.um[0]),
        "simulations": (a.zm[:, :-1], a.zm[:, 1:]),
        "steps": (a.zm, b.zm),
    }
    inn.fill_step(other, 0, rows, b)
    pairs["blocks"] = (a.zm, b.zm)
    for name, (x, y) in pairs.items():
        r = np.corrcoef(x.ravel(), y.ravel())[0, 1]
        assert abs(r) < Z / np.sqrt(x.size), name


def test_a_simulations_variates_depend_only_on_key_step_and_row():
    """Row s gets simulation rows[s]'s variates whatever the block's size and other rows
    (the kernel steps a block in chunks; Saltelli's rows share their base point's); float32
    draws are the float64 ones rounded."""
    S, N = 64, 5
    key = inn.innovations(np.random.default_rng(3))
    full, part = empty_step(S, N, np.float64), empty_step(3, N, np.float64)
    inn.fill_step(key, 7, np.arange(S, dtype=np.int64), full)
    rows = np.array([40, 2, 40], dtype=np.int64)
    inn.fill_step(key, 7, rows, part)
    for a, b in zip(full, part, strict=True):
        np.testing.assert_array_equal(b, a[:, rows])
    single = empty_step(S, N, np.float32)
    inn.fill_step(key, 7, np.arange(S, dtype=np.int64), single)
    for a, b in zip(full, single, strict=True):
        np.testing.assert_array_equal(b, a.astype(np.float32))


def test_the_tail_draws_follow_the_normal_tail_beyond_zig_r():
    """A draw that lands in the base strip's tail (layer 0, beyond ZIG_R) stays in the tail
    until accepted, with the normal's conditional law there: P(|x| > 4 | |x| > R)."""
    key = inn.innovations(np.random.default_rng(8))
    n, m = 100_000, int(2**23 - inn.KN[0])
    out = np.empty(n)
    for v in range(n):
        j = int(inn.KN[0]) + v % m
        sign = 1 if v % 2 else -1
        h = np.uint64(((2**23 + sign * j) << 8) & 0xFFFFFFFF)
        out[v] = inn._normal_slow(h, key.seed, key.gamma, np.uint64(v))
        assert np.sign(out[v]) == sign
    assert np.abs(out).min() > inn.ZIG_R
    p = stats.norm.sf(4.0) / stats.norm.sf(inn.ZIG_R)
    assert abs((np.abs(out) > 4.0).mean() - p) < Z * np.sqrt(p * (1 - p) / n)


def test_chunked_stepping_changes_no_result():
    """simulate steps a block in chunks of kernel.CHUNK simulations: any chunk size gives
    bitwise the same series, events and final burdens."""
    from alliance_risk.models import kernel
    from alliance_risk.models.sampling import sample_parameters
    from alliance_risk.models.scenario import load_scenario

    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, 300, np.random.default_rng(1))
    runs = []
    for chunk in (300, 128, 7):
        kernel.CHUNK, before = chunk, kernel.CHUNK
        try:
            runs.append(kernel.simulate(sc, params, np.random.default_rng(2)))
        finally:
            kernel.CHUNK = before
    for r in runs[1:]:
        for name, x in runs[0].series.items():
            np.testing.assert_array_equal(r.series[name], x, err_msg=name)
        for name, x in runs[0].events.items():
            np.testing.assert_array_equal(r.events[name], x, err_msg=name)
        np.testing.assert_array_equal(r.member_events["withdrawal_step"],
                                      runs[0].member_events["withdrawal_step"])  # fmt: skip
        np.testing.assert_array_equal(r.final_burden, runs[0].final_burden)


def _words_numpy(key: inn.Innovations, index: np.ndarray) -> np.ndarray:
    """SplitMix64 word(i) = mix64(seed + (i + 1) gamma), in numpy's wrapping uint64."""
    with np.errstate(over="ignore"):
        z = key.seed + (index + np.uint64(1)) * key.gamma
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@pytest.mark.parametrize("N", [7, 8])  # odd: rows start mid-word; even: uniforms in pairs
def test_the_layout_is_the_documented_one(N):
    """Scheme 2's layout, recomputed in numpy from the module docstring: word index
    (row * 2^16 + k) * (4N + 6) + j; normal n from half word n of the first 2N + 3 words
    (low half first), uniform n from half word n of the rest, the top 24 bits over 2^24;
    a normal whose draw lies in its ziggurat layer's core is j * WN[idx]. Pins the stored
    variates of every scheme-2 run: a change to the kernel's loops that moved a variate
    fails here."""
    S, k = 257, 39
    nz = 4 * N + 6
    key = inn.innovations(np.random.default_rng(5))
    rows = np.arange(S, dtype=np.int64) * 3 + 1
    out = empty_step(S, N, np.float64)
    inn.fill_step(key, k, rows, out)
    base = (rows.astype(np.uint64) * np.uint64(inn.MAX_STEPS) + np.uint64(k)) * np.uint64(nz)
    words = _words_numpy(key, base[:, None] + np.arange(nz, dtype=np.uint64)[None, :])
    halves = np.stack([words & np.uint64(0xFFFFFFFF), words >> np.uint64(32)], axis=-1)
    halves = halves.reshape(S, 2 * nz)  # half word n of a simulation's update
    u = (halves[:, nz:] >> np.uint64(8)).astype(np.float64) / 2**24
    h = halves[:, :nz]
    idx = (h & np.uint64(0xFF)).astype(np.int64)
    j = (h >> np.uint64(8)).astype(np.int64) - (1 << 23)
    core = np.abs(j) < inn.KN[idx]
    z = np.where(core, j * inn.WN[idx], np.nan)
    got_z = np.concatenate([out.zm.transpose(1, 0, 2).reshape(S, 4 * N), out.zs.T], axis=1)
    got_u = np.concatenate([out.um.transpose(1, 0, 2).reshape(S, 4 * N), out.us.T], axis=1)
    np.testing.assert_array_equal(got_u, u)
    np.testing.assert_array_equal(got_z[core], z[core])
    assert 0.005 < 1 - core.mean() < 0.03  # the rejection loop decides the rest (about 1.4%)
    assert np.all(np.isfinite(got_z))
