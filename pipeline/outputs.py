"""The registry of stored outputs, and the run's time axis.

Every output a run stores is declared here once (``OUTPUTS``); the engine's block reduction,
the published Dataset (``store.schema``), the headline tables and docs/store.md all read it.
Horizons in years come from the time coordinate, so any step length (3, 6, 12 months) works.
"""

from __future__ import annotations

import numpy as np

DAYS_PER_YEAR = 365.25


def years_ahead(time: np.ndarray) -> np.ndarray:
    """Years from the first date of a time coordinate (datetime64) to each date."""
    t = np.asarray(time, dtype="datetime64[D]")
    return (t - t[0]).astype(np.float64) / DAYS_PER_YEAR


def horizon_index(time: np.ndarray, years: float) -> int:
    """Index of the date nearest ``years`` after the start (the last date at most)."""
    return int(np.argmin(np.abs(years_ahead(time) - years)))


def horizon_label(years: float) -> str:
    """ "1 yr", "2.5 yr": a column heading for a horizon."""
    return f"{years:g} yr"
