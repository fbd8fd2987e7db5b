"""Sampling of the uncertain inputs: unit-cube designs mapped through inverse CDFs.

``sample_parameters`` returns an (S x P) float64 table whose columns follow
``Scenario.parameter_names`` (a stable order that becomes a coordinate of the stored
data). Three designs: plain Monte Carlo, Latin hypercube and scrambled Sobol'
(``scipy.stats.qmc``); all draw only from the ``numpy.random.Generator`` they are given.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.stats import qmc

from models.scenario import Scenario

Sampler = Literal["mc", "lhs", "sobol"]
SAMPLERS: tuple[str, ...] = ("mc", "lhs", "sobol")
EDGE = 1e-12  # keep unit-cube points off 0 and 1, where unbounded inverse CDFs are infinite


def unit_design(n: int, d: int, method: Sampler, rng: np.random.Generator) -> np.ndarray:
    """An (n x d) design in the open unit cube.

    Sobol' points are balanced only for n a power of two; scipy warns otherwise.
    """
    if n <= 0 or d <= 0:
        raise ValueError(f"need n > 0 and d > 0, got n={n}, d={d}")
    if method == "mc":
        u = rng.random((n, d))
    elif method == "lhs":
        u = qmc.LatinHypercube(d, rng=rng).random(n)
    elif method == "sobol":
        u = qmc.Sobol(d, scramble=True, rng=rng).random(n)
    else:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {method!r}")
    return np.clip(u, EDGE, 1.0 - EDGE)


def map_design(scenario: Scenario, u: np.ndarray) -> np.ndarray:
    """Map an (n x P) unit-cube design to parameter values through each inverse CDF."""
    dists = scenario.distributions
    if u.shape[1] != len(dists):
        raise ValueError(f"design has {u.shape[1]} columns, scenario has {len(dists)} parameters")
    out = np.empty_like(u, dtype=np.float64)
    for j, dist in enumerate(dists):
        out[:, j] = dist.ppf(u[:, j])
    return out


def sample_parameters(
    scenario: Scenario, n: int, rng: np.random.Generator, method: Sampler = "mc"
) -> np.ndarray:
    """Draw an (n x P) table of parameter values for n simulations."""
    return map_design(scenario, unit_design(n, len(scenario.parameter_names), method, rng))
