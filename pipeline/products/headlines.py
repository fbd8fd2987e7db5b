"""Headline tables and intervals read from a published run's Dataset (any schema version).

The rows are the outputs the registry marks for the "summary" table; the columns are
horizons in years, found on the run's time coordinate (so 3-, 6- and 12-month grids work).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from alliance_risk.pipeline.outputs import TABLE, horizon_index, horizon_label, years_ahead

HORIZONS = (1.0, 5.0, 10.0)  # years


def interval95(ds: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) 95% interval of a probability: its Wilson interval where the run stores
    one (schema 2), else p ± 1.96 se clipped to [0, 1] (runs of schema 1)."""
    if f"{name}_ci95" in ds:
        ci = ds[f"{name}_ci95"].values
        return ci[..., 0], ci[..., 1]
    return normal_interval95(ds[name].values, ds[f"{name}_se"].values)


def normal_interval95(p, se) -> tuple[np.ndarray, np.ndarray]:
    """p ± 1.96 se clipped to [0, 1]: the band of a probability from its s.e. alone."""
    return np.clip(p - 1.96 * se, 0, 1), np.clip(p + 1.96 * se, 0, 1)


def horizons(ds: xr.Dataset, years: tuple[float, ...] = HORIZONS) -> list[tuple[str, int]]:
    """(label, time index) of each horizon the run reaches, from its time coordinate (any
    step length); a horizon beyond the run's last date is left out."""
    t = years_ahead(ds["time"].values)
    reach = t[-1] + 0.5 * (t[-1] / max(len(t) - 1, 1))  # the last date, give or take a step
    return [(horizon_label(y), horizon_index(ds["time"].values, y)) for y in years if y <= reach]


def headline_table(
    ds: xr.Dataset, years: tuple[float, ...] = HORIZONS
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(column labels, rows (name, cells)) of the headline probabilities at the horizons: the
    estimate, its Monte Carlo error and 95% Wilson interval; medians of cohesion and
    credibility with their sampling error. Runs of an older schema show what they have."""
    cols = horizons(ds, years)
    idx = [i for _, i in cols]
    rows = []
    for name in TABLE:
        if name not in ds:
            continue
        cells = []
        for i in idx:
            cell = f"{float(ds[name][i]):.4f} ± {float(ds[name + '_se'][i]):.4f}"
            if f"{name}_ci95" in ds:
                lo, hi = ds[f"{name}_ci95"].values[i]
                cell += f" [{lo:.4f}, {hi:.4f}]"
            cells.append(cell)
        rows.append((name, cells))
    cells = [f"{float(ds['members_mean'][i]):.2f}" for i in idx]
    rows.append(("members_mean", cells))
    for name in ("cohesion", "credibility"):
        cells = []
        for i in idx:
            cell = f"{float(ds[name + '_quantile'][i, 2]):.3f}"
            if f"{name}_quantile_se" in ds:
                cell += f" ± {float(ds[name + '_quantile_se'][i, 2]):.3f}"
            cells.append(cell)
        rows.append((f"{name} (median)", cells))
    return [label for label, _ in cols], rows
