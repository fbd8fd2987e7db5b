"""The kernel's normals: its ziggurat against a branch-free, vectorisable inverse CDF.

    python benchmarks/bench_normals.py [--sims 10240] [--rounds 5]

What a new random-number scheme would buy. The fused step turns each 32-bit half word into
a standard normal with Marsaglia & Tsang's ziggurat (``innovations.normal``): scalar, because
its table lookups and rare rejections do not vectorise. The alternative timed here has no
tables and no rejections: Wichura's AS241 (PPND16, Applied Statistics 37, 1988) evaluated
for both its central and tail rational functions and selected, with a polynomial logarithm
(exponent from a leading-zero count, atanh series of the mantissa), so LLVM may run it in
SIMD. It is first checked against ``scipy.special.ndtri`` on the same uniforms (edges and a
grid of 3 million half words); both then convert the same words, one simulation's 128 member
normals (nato-2025's 4 x 32) at a time, best of the rounds, in ns per normal.
"""

from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros
from scipy.special import ndtri

from alliance_risk.models import innovations as inn

_FAST = {"contract", "arcp", "reassoc", "nnan"}  # the fused step's flags (models/fused.py)
_M32 = np.uint64(0xFFFFFFFF)
# AS241 PPND16: central region (|q| <= 0.425) a/b, tail (r = sqrt(-log p) <= 5) c/d; the
# tail beyond r = 5 (p < 1.4e-11) is never reached from a 32-bit half word (p >= 2^-33)
A = (3.3871328727963666080, 1.3314166789178437745e2, 1.9715909503065514427e3,
     1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
     3.3430575583588128105e4, 2.5090809287301226727e3)  # fmt: skip
B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
     2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
     5.2264952788528545610e3)  # fmt: skip
C = (1.42343711074968357734, 4.63033784615654529590, 5.76949722146069140550,
     3.64784832476320460504, 1.27045825245236838258, 2.41780725177450611770e-1,
     2.27238449892691845833e-2, 7.74545014278341407640e-4)  # fmt: skip
D = (1.0, 2.05319162663775882187, 1.67638483018380384940, 6.89767334985100004550e-1,
     1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
     1.05075007164441684324e-9)  # fmt: skip
_LN2, _SQRT2 = math.log(2.0), math.sqrt(2.0)
_ATANH = tuple(1.0 / (2 * j + 1) for j in range(8))  # 1 + s^2/3 + ... + s^14/15


@numba.njit(inline="always", fastmath=_FAST, error_model="numpy")
def _horner(x, k):
    return (
        (((((k[7] * x + k[6]) * x + k[5]) * x + k[4]) * x + k[3]) * x + k[2]) * x + k[1]
    ) * x + k[0]


@numba.njit(inline="always", fastmath=_FAST, error_model="numpy")
def _log_p(h):
    """log(min(u, 1 - u)) for u = (h + 0.5) / 2^32: p = y / 2^33 with y odd, y = m 2^e."""
    y = np.uint64(2) * min(h, _M32 - h) + np.uint64(1)
    e = np.int64(63) - np.int64(leading_zeros(y))
    m = float(y) / float(np.uint64(1) << np.uint64(e))
    big = m > _SQRT2
    m = m * 0.5 if big else m
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    lg = 2.0 * s * _horner(s2, _ATANH)  # 2 atanh(s) = log(m); |s| < 0.172: error < 2e-14
    return lg + (e + (1.0 if big else 0.0) - 33.0) * _LN2


@numba.njit(inline="always", fastmath=_FAST, error_model="numpy")
def icdf(h):
    """The standard normal quantile of u = (h + 0.5) / 2^32, both branches computed."""
    q = (float(h) + 0.5) * (1.0 / 4294967296.0) - 0.5
    r = 0.180625 - q * q
    central = q * _horner(r, A) / _horner(r, B)
    t = math.sqrt(-_log_p(h)) - 1.6
    tail = _horner(t, C) / _horner(t, D)
    return central if abs(q) <= 0.425 else (-tail if q < 0 else tail)


@numba.njit(fastmath=_FAST, error_model="numpy")
def fill_icdf(words, out):
    for s in range(words.shape[0]):
        for p in range(words.shape[1]):
            w = words[s, p]
            out[s, 2 * p] = icdf(w & _M32)
            out[s, 2 * p + 1] = icdf(w >> np.uint64(32))


@numba.njit(error_model="numpy")
def fill_ziggurat(words, out):
    """As ``innovations.fill_sim`` converts a simulation's member normals (a rejected draw
    takes words of its own range from a fixed key)."""
    seed, gamma = np.uint64(1), np.uint64(3)
    for s in range(words.shape[0]):
        for p in range(words.shape[1]):
            w, v = words[s, p], np.uint64(s * 2 * words.shape[1] + 2 * p)
            out[s, 2 * p] = inn.normal(w & _M32, seed, gamma, v)
            out[s, 2 * p + 1] = inn.normal(w >> np.uint64(32), seed, gamma, v + np.uint64(1))


def accuracy() -> float:
    """Largest |icdf - ndtri| over the edges and a grid of half words."""
    edge = np.arange(100_000, dtype=np.uint64)
    grid = np.arange(0, 2**32, 2**32 // 3_000_017, dtype=np.uint64)
    h = np.concatenate([edge, _M32 - edge, grid])
    h = h[: len(h) // 2 * 2].reshape(-1, 2)
    out = np.empty(h.shape)
    fill_icdf((h[:, 0] | (h[:, 1] << np.uint64(32)))[:, None], out)
    ref = ndtri((h.astype(np.float64) + 0.5) / 2**32)
    return float(np.abs(out - ref).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=10_240)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"inverse CDF against scipy's ndtri: largest difference {accuracy():.1e}")
    words = np.random.default_rng(1).integers(0, 2**63, (args.sims, 64), dtype=np.uint64)
    out = np.empty((args.sims, 128))
    best = {}
    for _ in range(args.rounds):
        for fill in (fill_ziggurat, fill_icdf):
            fill(words, out)
            t = time.perf_counter()
            fill(words, out)
            ns = (time.perf_counter() - t) / out.size * 1e9
            best[fill.__name__] = min(best.get(fill.__name__, ns), ns)
    for name, ns in best.items():
        print(f"{name:<14} {ns:5.2f} ns per normal (best of {args.rounds})")
    print(f"inverse CDF / ziggurat: {best['fill_icdf'] / best['fill_ziggurat']:.2f}")


if __name__ == "__main__":
    main()
