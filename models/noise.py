"""The random variates of one update, drawn in a fixed layout.

Every update draws the same arrays whatever the parameter values (Poisson counts are
obtained by inverse CDF from uniforms), so runs that differ only in parameters share
common random numbers, and the numpy and numba steps consume identical variates.
Layout indices are in ``models.layout`` (ZM_*, UM_*, ZS_*, US_*, UI_*).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class StepNoise(NamedTuple):
    zm: np.ndarray | None  # (4, S, N) standard normals per member
    um: np.ndarray | None  # (4, S, N) uniforms per member (or (2, S, N) initial draws)
    zs: np.ndarray | None  # (5, S) standard normals per simulation
    us: np.ndarray | None  # (5, S) uniforms per simulation


def draw_step(
    rng: np.random.Generator, S: int, N: int, dtype=np.float32, out: StepNoise | None = None
) -> StepNoise:
    """Variates for one update of S simulations of N members.

    ``out`` (a StepNoise of arrays of the right shapes) is refilled in place, which saves
    allocating and page-faulting fresh arrays every step; the values are the same.
    """
    if out is None:
        out = StepNoise(
            zm=np.empty((4, S, N), dtype=dtype),
            um=np.empty((4, S, N), dtype=dtype),
            zs=np.empty((5, S), dtype=dtype),
            us=np.empty((5, S), dtype=dtype),
        )
    rng.standard_normal(dtype=dtype, out=out.zm)
    rng.random(dtype=dtype, out=out.um)
    rng.standard_normal(dtype=dtype, out=out.zs)
    rng.random(dtype=dtype, out=out.us)
    return out


def draw_initial(rng: np.random.Generator, S: int, N: int, dtype=np.float32) -> np.ndarray:
    """(2, S, N) uniforms: initial government orientation, Article 5 honour draws."""
    return rng.random((2, S, N), dtype=dtype)


def poisson_inverse(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson(lam) counts by inverse CDF: the number of k with F(k) < u."""
    lam = np.asarray(lam, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    count = np.zeros(u.shape, dtype=np.float64)
    k = 0
    while True:
        above = u > cdf
        if not above.any():
            return count
        count += above
        k += 1
        pmf = pmf * lam / k
        cdf = cdf + pmf
