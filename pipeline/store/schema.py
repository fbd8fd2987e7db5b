"""From a run's folded statistics to the published xarray Dataset (the stored contract).

Every probability comes with its Monte Carlo standard error (``*_se``); continuous outputs
have means with errors and quantiles read from fixed-edge histograms (attribute
``quantile_error``: the bin width, the largest error of a histogram quantile). Names, dims,
units and attributes are documented in docs/store.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from alliance_risk.models.layout import CAUSE_NAMES
from alliance_risk.models.scenario import Scenario, quarter_index
from alliance_risk.pipeline.engine.stats import (
    hist_quantile_se,
    hist_quantiles,
    mean_se,
    probability,
    proportion,
    wilson_interval,
)
from alliance_risk.pipeline.outputs import HONOUR_BINS, OUTPUTS, QUANTILES, Output

SCHEMA_VERSION = 2  # 2: Wilson intervals, quantile errors, conflict while intact, disputes


def time_coordinate(scenario: Scenario) -> pd.DatetimeIndex:
    """Dates of the record steps: the start of the period after k steps, k = 0..T."""
    q0 = quarter_index(scenario.time.start)
    months = [
        (q0 // 4, (q0 % 4) * 3 + k * scenario.time.step_months)
        for k in range(scenario.time.steps + 1)
    ]
    return pd.DatetimeIndex(
        [pd.Timestamp(year=y + m // 12, month=m % 12 + 1, day=1) for y, m in months]
    )


def _var(ds, name, dims, data, units, long_name, description="", **attrs):
    ds[name] = (dims, np.asarray(data))
    ds[name].attrs.update(
        units=units, long_name=long_name, description=description or long_name, **attrs
    )


def _prob_vars(ds, name, dims, p, se, n, how, long_name, description=""):
    """A probability, its Monte Carlo standard error and its 95% Wilson interval (``n``:
    the number of rows behind p, used where the error is 0)."""
    _var(ds, name, dims, p, "1", long_name, description)
    _var(ds, f"{name}_se", dims, se, "1", f"Monte Carlo standard error of {name}", how)
    _var(
        ds,
        f"{name}_ci95",
        (*dims, "bound"),
        wilson_interval(p, se, n),
        "1",
        f"95% Wilson interval of {name}",
        "Wilson score interval with the effective size p(1-p)/se^2 (valid for rare events)",
    )


def _prob(ds, o: Output, p, se, n, clustered: bool = False) -> None:
    how = (
        "cluster-robust over Saltelli base points"
        if clustered
        else (f"sqrt(p(1-p)/n) over {n} simulations")
    )
    _prob_vars(ds, o.name, o.dims, p, se, n, how, o.long_name, o.description)


def _coords(scenario: Scenario) -> xr.Dataset:
    ds = xr.Dataset(
        coords={
            "time": time_coordinate(scenario),
            "member": np.array(scenario.codes, dtype=object),  # zarr "string" (vlen-utf8)
            "quantile": list(QUANTILES),
            "cause": np.array(CAUSE_NAMES[1:], dtype=object),
            "n_members": np.arange(len(scenario.members) + 1),
            "threshold": list(scenario.targets.report_thresholds),
            "bound": np.array(["lower", "upper"], dtype=object),  # zarr "string" (vlen-utf8)
        }
    )
    months = scenario.time.step_months
    period = "quarter" if months == 3 else f"{months}-month step"
    ds["time"].attrs.update(long_name=f"start of the {period} after k steps (k = 0 is the start)")
    ds["member"].attrs.update(long_name="member code (ISO 3166-1 alpha-3)")
    ds["member_name"] = ("member", np.array([m.name for m in scenario.members], dtype=object))
    ds.attrs["member_codes"] = list(scenario.codes)  # also as JSON, for any Zarr reader
    ds.attrs["causes"] = list(CAUSE_NAMES[1:])
    ds["threshold"].attrs.update(units="% of GDP", long_name="reported burden threshold")
    return ds


class _Variables(dict):
    """What the finalisers write into: ``out[name] = (dims, data)`` makes an
    ``xr.Variable`` (whose ``attrs`` they then fill); the Dataset is assembled once at the
    end (assigning ~120 variables to a Dataset one by one aligned each: 0.3 s a run)."""

    def __setitem__(self, name: str, value) -> None:
        dims, data = value
        super().__setitem__(name, xr.Variable(dims, np.asarray(data)))


def build_dataset(scenario: Scenario, totals: dict[str, np.ndarray]) -> xr.Dataset:
    """The per-run Dataset: every output of the registry, in its order, from the folded
    statistics (``totals``) by the finaliser of its kind."""
    ds = _coords(scenario)
    out = _Variables()
    n = int(totals["n_sims"])
    for o in OUTPUTS:
        FINALISERS[o.kind](out, o, totals, n, scenario)
    return ds.assign(out)


# ---- finalisers: totals -> stored variables, one per kind of output -------------------------


def _probability(ds, o: Output, totals, n, scenario) -> None:
    """``totals[total] / n`` with its error from ``stats.probability`` (binomial, or
    cluster-robust for the rows of Saltelli base points)."""
    p, se = probability(totals, o.total)
    _prob(ds, o, p, se, n, clustered=f"{o.total}_cluster_sumsq" in totals)


def _conditional(ds, o: Output, totals, n, scenario) -> None:
    """count / denominator at each date, binomial over the denominator's simulations."""
    n_den = np.maximum(totals[o.denominator], 1)
    p, se = proportion(totals[o.total], n_den)
    how = "sqrt(p(1-p)/n) over the simulations intact at each date"
    _prob_vars(ds, o.name, o.dims, p, se, n_den, how, o.long_name, o.description)


def _share(ds, o: Output, totals, n, scenario) -> None:
    share = totals[o.total] / np.maximum(totals[o.denominator], 1)
    value = np.where(totals[o.denominator] > 0, share, np.nan)
    _var(ds, o.name, o.dims, value, o.units, o.long_name, o.description)


def _pmf(ds, o: Output, totals, n, scenario) -> None:
    _var(ds, o.name, o.dims, totals[o.total] / n, o.units, o.long_name)


def _pmf_mean(ds, o: Output, totals, n, scenario) -> None:
    pmf = totals[o.total] / n
    _var(ds, o.name, o.dims, pmf @ np.arange(pmf.shape[1]), o.units, o.long_name)


def _mean_count(ds, o: Output, totals, n, scenario) -> None:
    _var(ds, o.name, o.dims, totals[o.total] / n, o.units, o.long_name)


def _continuous(ds, o: Output, totals, n, scenario) -> None:
    """Mean with its error; histogram quantiles with their resolution and sampling error."""
    name, units, edges = o.name, o.units, o.histogram.edges
    m, se = mean_se(totals[f"{name}_sum"], totals[f"{name}_sumsq"], n)
    _var(ds, f"{name}_mean", o.dims, m, units, f"mean {o.long_name}")
    _var(ds, f"{name}_mean_se", o.dims, se, units, f"Monte Carlo standard error of {name}_mean")
    hist = totals[f"{name}_hist"]
    q = hist_quantiles(hist, edges)
    _var(
        ds,
        f"{name}_quantile_se",
        ("time", "quantile"),
        hist_quantile_se(hist, edges, q),
        units,
        f"sampling standard error of {name}_quantile",
        "sqrt(q(1-q)/n) / density at the quantile (asymptotic, independent rows); "
        "the histogram's resolution is quantile_error",
    )
    _var(
        ds,
        f"{name}_quantile",
        ("time", "quantile"),
        q,
        units,
        f"quantiles of {o.long_name}",
        quantile_error=float(np.diff(edges).max()),
        histogram_scale="log" if o.histogram.log else "linear",
        histogram_range=[o.histogram.low, o.histogram.high],
    )


def _intact_mean(ds, o: Output, totals, n, scenario) -> None:
    value = totals[o.total] / np.maximum(totals[o.denominator], 1)
    _var(ds, o.name, o.dims, value, o.units, o.long_name)


def _mean(ds, o: Output, totals, n, scenario) -> None:
    m, se = mean_se(totals[f"{o.total}_sum"], totals[f"{o.total}_sumsq"], n)
    _var(ds, f"{o.name}_mean", o.dims, m, o.units, f"mean {o.long_name}")
    se_name = f"Monte Carlo standard error of {o.name}_mean"
    _var(ds, f"{o.name}_mean_se", o.dims, se, o.units, se_name)


def _member_quantile(ds, o: Output, totals, n, scenario) -> None:
    h = o.histogram
    q = hist_quantiles(totals[o.total], h.edges)
    _var(ds, o.name, o.dims, q, o.units, o.long_name, quantile_error=(h.high - h.low) / h.bins)


def _target(ds, o: Output, totals, n, scenario) -> None:
    path = scenario.target_path()
    ds[o.name] = (o.dims, np.vstack([path, path[-1:]]))
    ds[o.name].attrs.update(units=o.units, long_name=o.long_name)


def _onset_mean(ds, o: Output, totals, n, scenario) -> None:
    n5 = int(totals["n_art5"])
    m, se = mean_se(totals[f"{o.total}_sum"], totals[f"{o.total}_sumsq"], n5)
    _var(ds, f"{o.name}_mean", (), m if n5 else np.nan, o.units, o.long_name, n_onsets=n5)
    se_name = f"Monte Carlo standard error of {o.name}_mean"
    _var(ds, f"{o.name}_mean_se", (), se if n5 else np.nan, o.units, se_name)


def _onset_hist(ds, o: Output, totals, n, scenario) -> None:
    ds["honour_bin"] = ("honour_bin", (np.arange(HONOUR_BINS) + 0.5) / HONOUR_BINS)
    _var(ds, o.name, o.dims, totals[o.total], o.units, o.long_name)


def _onset_probability(ds, o: Output, totals, n, scenario) -> None:
    """A probability among the onsets: of an honour-rate histogram, the lower half."""
    if o.total.endswith("_hist"):
        count = totals[o.total][: HONOUR_BINS // 2].sum()
    else:
        count = totals[o.total]
    onsets = int(totals[o.denominator])
    p, se = proportion(count, max(onsets, 1))
    _prob(ds, o, p, se, max(onsets, 1))
    ds[o.name].attrs["n_onsets"] = onsets


FINALISERS = {
    "probability": _probability,
    "conditional": _conditional,
    "share": _share,
    "pmf": _pmf,
    "pmf_mean": _pmf_mean,
    "mean_count": _mean_count,
    "continuous": _continuous,
    "intact_mean": _intact_mean,
    "mean": _mean,
    "member_quantile": _member_quantile,
    "target": _target,
    "onset_mean": _onset_mean,
    "onset_hist": _onset_hist,
    "onset_probability": _onset_probability,
}
