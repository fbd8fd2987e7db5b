"""The random variates of one update, in a fixed layout.

Every update uses the same variates whatever the parameter values (Poisson counts are
obtained by inverse CDF from uniforms), so runs that differ only in parameters share
common random numbers, and the numpy and numba steps consume identical variates. The
per-step variates come from ``innovations`` (counter-based); the initial draws from numpy.
``draw_step`` draws a step's variates with numpy alone: the random-number floor of the
kernel benchmark (and random-number scheme 1's draws). Layout indices are in ``layout``
(ZM_*, UM_*, ZS_*, US_*).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class StepNoise(NamedTuple):
    zm: np.ndarray | None  # (4, S, N) standard normals per member
    um: np.ndarray | None  # (4, S, N) uniforms per member
    zs: np.ndarray | None  # (6, S) standard normals per simulation
    us: np.ndarray | None  # (6, S) uniforms per simulation


def empty_step(S: int, N: int, dtype=np.float32) -> StepNoise:
    """Arrays for one update's variates of S simulations of N members."""
    return StepNoise(
        zm=np.empty((4, S, N), dtype=dtype),
        um=np.empty((4, S, N), dtype=dtype),
        zs=np.empty((6, S), dtype=dtype),
        us=np.empty((6, S), dtype=dtype),
    )


def draw_step(
    rng: np.random.Generator, S: int, N: int, dtype=np.float32, out: StepNoise | None = None
) -> StepNoise:
    """Variates for one update of S simulations of N members, from numpy's ``rng``.

    ``out`` (a StepNoise of arrays of the right shapes) is refilled in place, which saves
    allocating and page-faulting fresh arrays every step; the values are the same.
    """
    if out is None:
        out = empty_step(S, N, dtype)
    rng.standard_normal(dtype=dtype, out=out.zm)
    rng.random(dtype=dtype, out=out.um)
    rng.standard_normal(dtype=dtype, out=out.zs)
    rng.random(dtype=dtype, out=out.us)
    return out


def draw_initial(rng: np.random.Generator, S: int, N: int, dtype=np.float32) -> StepNoise:
    """The draws made once per simulation, in a StepNoise so that hooks treat them alike:
    ``um[0]`` (S, N) uniforms of the initial government orientations, ``zm[0]`` (S, N)
    normals of the allies' Article 5 decisions and ``zs[0]`` (S,) their common factor."""
    um = rng.random((1, S, N), dtype=dtype)
    zm = rng.standard_normal((1, S, N), dtype=dtype)
    zs = rng.standard_normal((1, S), dtype=dtype)
    return StepNoise(zm, um, zs, None)
