"""Sampling of the uncertain inputs: unit-cube designs mapped through inverse CDFs.

``sample_parameters`` returns an (S x P) float64 table whose columns follow
``Scenario.parameter_names`` (a stable order that becomes a coordinate of the stored
data). Three designs: plain Monte Carlo, Latin hypercube and scrambled Sobol'
(``scipy.stats.qmc``); all draw only from the ``numpy.random.Generator`` they are given.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from alliance_risk.models.distributions import EDGE
from alliance_risk.models.scenario import Scenario

Sampler = Literal["mc", "lhs", "sobol"]
SAMPLERS: tuple[str, ...] = ("mc", "lhs", "sobol")


def _qmc():
    """scipy.stats.qmc, imported when a quasi-random design is asked for: importing
    scipy.stats costs about 0.5 s, paid otherwise by every Dask worker's first block."""
    from scipy.stats import qmc

    return qmc


def unit_design(n: int, d: int, method: Sampler, rng: np.random.Generator) -> np.ndarray:
    """An (n x d) design in the open unit cube.

    Sobol' points are balanced only for n a power of two; scipy warns otherwise.
    """
    if n <= 0 or d <= 0:
        raise ValueError(f"need n > 0 and d > 0, got n={n}, d={d}")
    if method == "mc":
        u = rng.random((n, d))
    elif method == "lhs":
        u = _qmc().LatinHypercube(d, rng=rng).random(n)
    elif method == "sobol":
        u = _qmc().Sobol(d, scramble=True, rng=rng).random(n)
    else:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {method!r}")
    return np.clip(u, EDGE, 1.0 - EDGE)


def map_design(scenario: Scenario, u: np.ndarray) -> np.ndarray:
    """Map an (n x P) unit-cube design to parameter values through each inverse CDF.

    Column by column on a transposed copy, so that every column read and written is
    contiguous (strided columns of a 10,000 x 135 table cost 6-8 ms of the 37 ms a block's
    sampling took); the same values, bit for bit, in a C-ordered (n x P) table."""
    dists = scenario.distributions
    if u.shape[1] != len(dists):
        raise ValueError(f"design has {u.shape[1]} columns, scenario has {len(dists)} parameters")
    ut = np.ascontiguousarray(u.T)
    out = np.empty(ut.shape, dtype=np.float64)
    for j, dist in enumerate(dists):
        out[j] = dist.ppf(ut[j])
    return np.ascontiguousarray(out.T)


def sample_parameters(
    scenario: Scenario, n: int, rng: np.random.Generator, method: Sampler = "mc"
) -> np.ndarray:
    """Draw an (n x P) table of parameter values for n simulations."""
    return map_design(scenario, unit_design(n, len(scenario.parameter_names), method, rng))


# ---- Saltelli designs for variance-based (Sobol') sensitivity -------------------------------
SALTELLI_STREAM = 2**20  # SeedSequence spawn key of the base-point sequence (not a block)


def varying_columns(scenario: Scenario) -> list[int]:
    """Columns of the parameter table that are uncertain (not ``fixed``)."""
    return [j for j, d in enumerate(scenario.distributions) if getattr(d, "dist", "") != "fixed"]


def saltelli_unit(d: int, seed: int, first: int, count: int) -> np.ndarray:
    """Unit-cube rows of a Saltelli design for base points ``first .. first+count-1``.

    Base point i is point i of a scrambled Sobol' sequence in 2d dimensions (seeded by
    ``seed``): A_i = its first d coordinates, B_i the last d. Each base point gives d + 2
    rows in the order SALib expects without second-order terms: A_i, AB_i^(1..d) (A_i with
    column j taken from B_i), B_i. Any range of base points can be produced on its own.
    """
    ss = np.random.SeedSequence(seed, spawn_key=(SALTELLI_STREAM,))
    engine = _qmc().Sobol(d=2 * d, scramble=True, seed=np.random.default_rng(ss))
    if first:
        engine.fast_forward(first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # balance needs powers of two: noted
        pts = np.clip(engine.random(count), EDGE, 1.0 - EDGE)
    a, b = pts[:, :d], pts[:, d:]
    rows = np.repeat(a[:, None, :], d + 2, axis=1)  # (count, d + 2, d)
    idx = np.arange(d)
    rows[:, 1 + idx, idx] = b[:, idx]
    rows[:, d + 1] = b
    return rows.reshape(count * (d + 2), d)


def saltelli_rows(scenario: Scenario) -> int:
    """Rows of one Saltelli base point: A, AB_1..AB_d, B (SALib's order) and A' (A's inputs
    with B's innovations), for d uncertain inputs."""
    return len(varying_columns(scenario)) + 3


def saltelli_block(
    scenario: Scenario, seed: int, first: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Parameter rows for base points ``first..first+count-1`` and, for each row, the row
    (within these) whose innovations it must reuse.

    The A and AB rows of a base point share the A row's innovations and the B row keeps its
    own: the aleatory noise is then one more input that belongs to A, so the estimators stay
    valid for a stochastic model, and an input with no effect has a total index of exactly 0.
    The last row, A', repeats A's inputs with B's innovations: A and A' differ only in the
    noise, so Cov(Y_A, Y_A') estimates Var E[Y | inputs], the variance the inputs can explain.
    """
    cols = varying_columns(scenario)
    d = len(cols)
    m = d + 3
    unit = np.full((count, m, len(scenario.parameter_names)), 0.5)
    unit[:, : d + 2, cols] = saltelli_unit(d, seed, first, count).reshape(count, d + 2, d)
    unit[:, d + 2] = unit[:, 0]
    rows = np.arange(count * m)
    k = rows % m
    src = np.where(k <= d, rows - k, np.where(k == d + 1, rows, rows - 1))
    return map_design(scenario, unit.reshape(count * m, -1)), src
