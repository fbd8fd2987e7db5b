"""Counter-based random variates: the per-step innovations of a block, drawn anywhere.

Every 64-bit word is a pure function of its index: word(i) = mix64(seed + (i + 1) * gamma),
SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators",
OOPSLA; java.util.SplittableRandom) with the block's (seed, gamma) taken from the block's
``numpy.random.Generator`` (itself ``SeedSequence(seed, spawn_key=(block, 1))``). Streams
with different gammas are SplitMix's independent "splits". Because a word depends only on
(block, step, simulation, slot), the fused step computes each simulation's variates in its
own loop (no arrays written and read back), the numpy reference fills the same values into
arrays, and results stay bitwise independent of workers, order, resume and extension.

Layout of one simulation's update (``layout``'s ZM_*, UM_*, ZS_*, US_*): words
[0, 2N + 3) hold 4N + 6 normals (two per word, low half first: zm[j, i] is normal
j·N + i, zs[j] is normal 4N + j), words [2N + 3, 4N + 6) the 4N + 6 uniforms in the same
order. Word index of (simulation row r, step k, word j) is (r·2^16 + k)·(4N + 6) + j: a
simulation's variates do not depend on the size of its block or of the chunk it is stepped in.
Normals: Marsaglia & Tsang's ziggurat (2000; 256 layers, 32-bit draws); a rejected draw
takes fresh words from its own range (2^62 + variate·256 + attempt), so every variate
consumes the same main word whatever happens. Uniforms: the top 24 bits of a half word
(exact in float32, in [0, 1)).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from alliance_risk.models import layout as L

SCHEME = "2"  # stored with every run; scheme 1 was numpy PCG64 arrays drawn per step
DESCRIPTION = (
    "counter-based SplitMix64 (word i = mix64(seed + (i+1)*gamma)) keyed per block by "
    "SeedSequence(seed, spawn_key=(block, 1)); ziggurat normals; parameters from numpy "
    "PCG64 SeedSequence(seed, spawn_key=(block, 0))"
)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_M32 = np.uint64(0xFFFFFFFF)
_REJECT = np.uint64(1 << 62)  # start of the rejection words' range
MAX_STEPS = 1 << 16  # updates per simulation the word index has room for
_STEPS = np.uint64(MAX_STEPS)


class Innovations(NamedTuple):
    """The key of a block's innovations: SplitMix64's seed and (odd) gamma."""

    seed: np.uint64
    gamma: np.uint64


class Draw(NamedTuple):
    """What the fused step needs to compute a block's variates in its loop: the key and
    ``rows`` (S,) int64, the simulation whose variates each row takes (Saltelli's A and AB
    rows share the A row's)."""

    seed: np.uint64
    gamma: np.uint64
    rows: np.ndarray


def _mix_gamma(z: int) -> int:
    """SplittableRandom.mixGamma: an odd gamma with enough bit transitions."""
    m = (1 << 64) - 1
    z = ((z ^ (z >> 33)) * 0xFF51AFD7ED558CCD) & m
    z = ((z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53) & m
    z = (z ^ (z >> 33)) | 1
    if bin(z ^ (z >> 1)).count("1") < 24:
        z ^= 0xAAAAAAAAAAAAAAAA
    return z


def innovations(rng: np.random.Generator) -> Innovations:
    """The block's key, from the next two words of ``rng``'s bit generator."""
    seed, g = (int(x) for x in rng.bit_generator.random_raw(2))
    return Innovations(np.uint64(seed), np.uint64(_mix_gamma(g)))


def _tables(n: int = 256, r: float = 3.6541528853610088, v: float = 4.92867323399e-3):
    """Ziggurat tables for 24-bit signed draws (Marsaglia & Tsang 2000, their zigset with
    256 layers): kn acceptance bounds, wn layer widths per unit draw, fn densities."""
    m1 = float(2**23)
    kn, wn, fn = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    dn = tn = r
    q = v / math.exp(-0.5 * dn * dn)
    kn[0], kn[1] = int(dn / q * m1), 0
    wn[0], wn[n - 1] = q / m1, dn / m1
    fn[0], fn[n - 1] = 1.0, math.exp(-0.5 * dn * dn)
    for i in range(n - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(v / dn + math.exp(-0.5 * dn * dn)))
        kn[i + 1] = int(dn / tn * m1)
        tn = dn
        fn[i], wn[i] = math.exp(-0.5 * dn * dn), dn / m1
    return kn, wn, fn


KN, WN, FN = _tables()
ZIG_R = 3.6541528853610088

_njit = numba.njit(cache=True, nogil=True, error_model="numpy")
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


@_inline
def word(key_seed, key_gamma, i):
    """SplitMix64's output for index i (uint64 arithmetic wraps)."""
    z = key_seed + (i + np.uint64(1)) * key_gamma
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@_inline
def uniform24(h):
    """[0, 1) from the top 24 bits of a 32-bit half word."""
    return float(h >> np.uint64(8)) * (1.0 / 16777216.0)


@_njit
def _normal_slow(h, key_seed, key_gamma, variate):
    """The ziggurat's rejection loop for a draw ``h`` outside its layer's core."""
    base = _REJECT + np.uint64(variate) * np.uint64(256)
    a = np.uint64(0)
    while True:
        idx = h & np.uint64(0xFF)
        j = np.int64(h >> np.uint64(8)) - np.int64(1 << 23)
        if abs(j) < KN[idx]:
            return j * WN[idx]
        w = word(key_seed, key_gamma, base + (a & np.uint64(255)))
        a += np.uint64(1)
        u1 = (float(w & np.uint64(0xFFFFFFFF)) + 0.5) * (1.0 / 4294967296.0)
        u2 = (float(w >> np.uint64(32)) + 0.5) * (1.0 / 4294967296.0)
        if idx == 0:  # the tail beyond ZIG_R: Marsaglia's exponential method, until accepted
            while True:
                x = -math.log(u1) / ZIG_R
                if -2.0 * math.log(u2) > x * x:
                    return ZIG_R + x if j >= 0 else -ZIG_R - x
                w = word(key_seed, key_gamma, base + (a & np.uint64(255)))
                a += np.uint64(1)
                u1 = (float(w & np.uint64(0xFFFFFFFF)) + 0.5) * (1.0 / 4294967296.0)
                u2 = (float(w >> np.uint64(32)) + 0.5) * (1.0 / 4294967296.0)
        else:
            x = j * WN[idx]
            if FN[idx] + u1 * (FN[idx - 1] - FN[idx]) < math.exp(-0.5 * x * x):
                return x
        h = word(key_seed, key_gamma, base + (a & np.uint64(255))) & np.uint64(0xFFFFFFFF)
        a += np.uint64(1)


@_inline
def normal(h, key_seed, key_gamma, variate):
    """A standard normal from the 32-bit half word ``h`` (ziggurat; about 1% of draws
    take the rejection loop, with fresh words of the variate's own range)."""
    idx = h & np.uint64(0xFF)
    j = np.int64(h >> np.uint64(8)) - np.int64(1 << 23)
    if abs(j) < KN[idx]:
        return j * WN[idx]
    return _normal_slow(h, key_seed, key_gamma, variate)


@_inline
def half_word(wb, first, n):
    """Half word n of the words from ``wb[first]`` on (the low half of a word first)."""
    return (wb[first + (n >> 1)] >> np.uint64(32 * (n & 1))) & _M32


@_inline
def fill_sim(key_seed, key_gamma, k, row, zm, um, zs, us, wb):
    """The variates of simulation ``row`` at update k into zm (4, N), um (4, N),
    zs (6,), us (6,) (C-contiguous), in the module's layout; ``wb`` is a (4N + 6,) uint64
    scratch for the words (hashed in one vectorisable loop, then converted)."""
    N = zm.shape[1]
    nz = 4 * N + 6
    base = (np.uint64(row) * _STEPS + np.uint64(k)) * np.uint64(nz)
    for j in range(nz):
        wb[j] = word(key_seed, key_gamma, base + np.uint64(j))
    m, half = 4 * N, nz // 2
    # variate n = r·N + i of row r (no reshape to a flat view: numba calls a helper for it,
    # per simulation); half word n & 1 of word n >> 1 (normals), half + (n >> 1) (uniforms)
    if N % 2 == 0:  # each row starts on a whole word: its variates come in pairs
        for r in range(4):
            w0, v0 = r * N >> 1, base + np.uint64(r * N)
            for p in range(N >> 1):
                w, v = wb[w0 + p], v0 + np.uint64(2 * p)
                zm[r, 2 * p] = normal(w & _M32, key_seed, key_gamma, v)
                zm[r, 2 * p + 1] = normal(w >> np.uint64(32), key_seed, key_gamma, v + np.uint64(1))
    else:
        for r in range(4):
            for i in range(N):
                n = r * N + i
                zm[r, i] = normal(half_word(wb, 0, n), key_seed, key_gamma, base + np.uint64(n))
    for n in range(m, nz):
        zs[n - m] = normal(half_word(wb, 0, n), key_seed, key_gamma, base + np.uint64(n))
    if N % 2 == 0:
        for r in range(4):
            w0 = half + (r * N >> 1)
            for p in range(N >> 1):
                w = wb[w0 + p]
                um[r, 2 * p], um[r, 2 * p + 1] = uniform24(w & _M32), uniform24(w >> np.uint64(32))
    else:
        for r in range(4):
            for i in range(N):
                um[r, i] = uniform24(half_word(wb, half, r * N + i))
    for n in range(m, nz):
        us[n - m] = uniform24(half_word(wb, half, n))


@_njit
def _fill_step(key_seed, key_gamma, k, rows, zm, um, zs, us):
    S, N = rows.shape[0], zm.shape[2]
    wb = np.empty(4 * N + 6, np.uint64)
    one_zm, one_um = np.empty((4, N), zm.dtype), np.empty((4, N), um.dtype)
    one_zs, one_us = np.empty(6, zs.dtype), np.empty(6, us.dtype)
    for s in range(S):
        fill_sim(key_seed, key_gamma, k, rows[s], one_zm, one_um, one_zs, one_us, wb)
        zm[:, s, :] = one_zm
        um[:, s, :] = one_um
        zs[:, s] = one_zs
        us[:, s] = one_us


def fill_step(inn: Innovations | Draw, k: int, rows: np.ndarray, out) -> None:
    """Update k's variates of every simulation into ``out`` (a noise.StepNoise of arrays
    (4, S, N), (4, S, N), (6, S), (6, S)): row s gets simulation ``rows[s]``'s variates."""
    _fill_step(inn.seed, inn.gamma, k, rows, out.zm, out.um, out.zs, out.us)


class SimNoise(NamedTuple):
    """One simulation's variates of one update: zm (4, N), um (4, N), zs (6,), us (6,)."""

    zm: np.ndarray
    um: np.ndarray
    zs: np.ndarray
    us: np.ndarray
    words: np.ndarray  # (4N + 6,) uint64 scratch


def sim_noise(n_members: int, dtype) -> SimNoise:
    """Scratch for one simulation's variates (and the words they come from)."""
    return SimNoise(
        np.empty((L.N_ZM, n_members), dtype),
        np.empty((L.N_UM, n_members), dtype),
        np.empty(L.N_ZS, dtype),
        np.empty(L.N_US, dtype),
        np.empty(4 * n_members + 6, np.uint64),
    )
