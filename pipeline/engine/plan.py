"""Run planning (pure): which blocks a run has, and the random streams of each block.

A run is (scenario, seed, number of simulations, sampler). It is cut into blocks of a fixed
``block_size``, a constant of the stored run (not of the cluster), so results depend only on
the run, never on workers, threads or the order in which blocks finish. Block b draws its
parameters from ``SeedSequence(seed, spawn_key=(b, 0))`` and its per-step variates from
``SeedSequence(seed, spawn_key=(b, 1))``: changing the horizon does not change parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alliance_risk.models.errors import InputError
from alliance_risk.models.sampling import SAMPLERS

DEFAULT_BLOCK_SIZE = 10_000
# "saltelli": a Saltelli design for Sobol' indices (models.sampling.saltelli_block); a block
# holds whole base points, so its size is a multiple of (uncertain inputs + 2)
RUN_SAMPLERS = (*SAMPLERS, "saltelli")
PARAMS_STREAM, INNOVATIONS_STREAM = 0, 1


class PlanError(InputError):
    """A run cannot be planned as asked (message worded for the user)."""


@dataclass(frozen=True)
class RunSpec:
    scenario: str  # scenario name (for display) — the scenario itself travels as an object
    seed: int
    sims: int
    sampler: str = "mc"
    block_size: int = DEFAULT_BLOCK_SIZE

    def __post_init__(self):
        if not isinstance(self.sims, int) or self.sims <= 0:
            raise PlanError(f"sims must be a positive integer, got {self.sims!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise PlanError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.sampler not in RUN_SAMPLERS:
            raise PlanError(
                f"sampler must be one of {', '.join(RUN_SAMPLERS)}, got {self.sampler!r}"
            )
        if self.block_size <= 0:
            raise PlanError(f"block size must be > 0, got {self.block_size}")
        if self.sampler == "sobol" and self.block_size & (self.block_size - 1):
            raise PlanError(
                f"the sobol sampler needs a power-of-two block size, got "
                f"{self.block_size} (try --block-size 8192)"
            )

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.sims / self.block_size)

    @property
    def total_sims(self) -> int:
        """Simulations actually run: sims rounded up to whole blocks."""
        return self.n_blocks * self.block_size


def block_rngs(seed: int, block: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(parameter Generator, innovation Generator) of one block."""
    return (
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, PARAMS_STREAM))),
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, INNOVATIONS_STREAM))),
    )
