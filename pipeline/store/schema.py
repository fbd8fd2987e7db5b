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
    BURDEN_BINS,
    CONTINUOUS,
    EDGES,
    HONOUR_BINS,
    QUANTILES,
    hist_quantile_se,
    hist_quantiles,
    mean_se,
    probability,
    proportion,
    wilson_interval,
)

SCHEMA_VERSION = 2  # 2: Wilson intervals, quantile errors, conflict while intact, disputes


def time_coordinate(scenario: Scenario) -> pd.DatetimeIndex:
    """Dates of the record steps: the start of the quarter after k steps, k = 0..T."""
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


def _prob(ds, name, dims, count, n, long_name, description="", totals=None, key=None):
    """``count / n`` with its error; with ``totals`` and ``key`` the error comes from
    ``stats.probability`` (cluster-robust for the rows of Saltelli base points)."""
    if key is not None:
        p, se = probability(totals, key)
        clustered = f"{key}_cluster_sumsq" in totals
    else:
        (p, se), clustered = proportion(count, n), False
    how = (
        "cluster-robust over Saltelli base points"
        if clustered
        else f"sqrt(p(1-p)/n) over {n} simulations"
    )
    _prob_vars(ds, name, dims, p, se, n, how, long_name, description)


def build_dataset(scenario: Scenario, totals: dict[str, np.ndarray]) -> xr.Dataset:
    """The per-run Dataset: alliance-level and member-level probabilities and distributions."""
    n = int(totals["n_sims"])
    T = ("time",)
    TM = ("time", "member")
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
    ds["time"].attrs.update(long_name="start of the quarter after k steps (k = 0 is the start)")
    ds["member"].attrs.update(long_name="member code (ISO 3166-1 alpha-3)")
    ds["member_name"] = ("member", np.array([m.name for m in scenario.members], dtype=object))
    ds.attrs["member_codes"] = list(scenario.codes)  # also as JSON, for any Zarr reader
    ds.attrs["causes"] = list(CAUSE_NAMES[1:])
    ds["threshold"].attrs.update(units="% of GDP", long_name="reported burden threshold")
    tk = dict(totals=totals)
    _prob(ds, "p_intact", T, None, n, "probability the alliance is intact", key="n_intact", **tk)
    _prob(
        ds,
        "p_intact_with_hegemon",
        T,
        None,
        n,
        "probability the alliance is intact and the hegemon a member",
        key="n_intact_with_hegemon",
        **tk,
    )
    _prob(
        ds,
        "p_any_withdrawal",
        T,
        None,
        n,
        "probability at least one member has withdrawn",
        "cumulative, effective exits",
        key="n_any_withdrawal",
        **tk,
    )
    _prob(
        ds,
        "p_hegemon_withdrawn",
        T,
        None,
        n,
        "probability the hegemon has withdrawn",
        key="n_hegemon_withdrawn",
        **tk,
    )
    _prob(
        ds,
        "p_conflict",
        T,
        None,
        n,
        "probability of conflict onset by this date",
        "first attack on the alliance, cumulative",
        key="n_conflict",
        **tk,
    )
    n_int = np.maximum(totals["n_intact"], 1)
    p, se = proportion(totals["n_conflict_intact"], n_int)
    _prob_vars(
        ds,
        "p_conflict_given_intact",
        T,
        p,
        se,
        n_int,
        "sqrt(p(1-p)/n) over the simulations intact at each date",
        "probability of conflict onset by this date, given the alliance is intact then",
        "P(onset by t | intact at t): onsets while the alliance stands; p_conflict also "
        "counts onsets after a dissolution (docs/model.md)",
    )
    share = totals["n_conflict_after_dissolution"] / np.maximum(totals["n_conflict"], 1)
    _var(
        ds,
        "conflict_after_dissolution_share",
        T,
        np.where(totals["n_conflict"] > 0, share, np.nan),
        "1",
        "share of onsets by this date that came after the alliance dissolved",
        "rests on two uncalibrated assumptions: Q = 0 and R from the target's own capability",
    )
    _prob(
        ds,
        "p_intra_dispute",
        T,
        None,
        n,
        "probability of a militarised dispute within a designated member dyad by this date",
        "E15b, cumulative; dyads in the run's scenario (alliance.dyads)",
        key="n_dispute",
        **tk,
    )
    _prob(ds, "p_pandemic", T, totals["n_pandemic"], n, "probability of at least one pandemic")
    _prob(
        ds,
        "p_arms_race",
        T,
        totals["n_arms_race"],
        n,
        "probability of a mutual arms build-up in the last year",
    )
    _prob(
        ds,
        "p_dissolved_by_cause",
        ("time", "cause"),
        totals["n_dissolved_by_cause"],
        n,
        "probability the alliance has dissolved, by cause",
        "cumulative",
    )
    pmf = totals["members_pmf_count"] / n
    _var(ds, "members_pmf", ("time", "n_members"), pmf, "1", "distribution of members remaining")
    _var(ds, "members_mean", T, pmf @ np.arange(pmf.shape[1]), "1", "expected members remaining")
    _var(
        ds,
        "n_meeting_mean",
        ("time", "threshold"),
        totals["n_meeting_sum"] / n,
        "1",
        "expected number of active members at or above the threshold",
    )
    for spec in CONTINUOUS:
        name = spec.name
        m, se = mean_se(totals[f"{name}_sum"], totals[f"{name}_sumsq"], n)
        _var(ds, f"{name}_mean", T, m, spec.units, f"mean {spec.long_name}")
        _var(ds, f"{name}_mean_se", T, se, spec.units, f"Monte Carlo standard error of {name}_mean")
        width = np.diff(EDGES[name])
        q = hist_quantiles(totals[f"{name}_hist"], EDGES[name])
        _var(
            ds,
            f"{name}_quantile_se",
            ("time", "quantile"),
            hist_quantile_se(totals[f"{name}_hist"], EDGES[name], q),
            spec.units,
            f"sampling standard error of {name}_quantile",
            "sqrt(q(1-q)/n) / density at the quantile (asymptotic, independent rows); "
            "the histogram's resolution is quantile_error",
        )
        _var(
            ds,
            f"{name}_quantile",
            ("time", "quantile"),
            q,
            spec.units,
            f"quantiles of {spec.long_name}",
            quantile_error=float(width.max()),
            histogram_scale="log" if spec.log else "linear",
            histogram_range=[spec.low, spec.high],
        )
    for name in ("cohesion", "credibility"):
        n_int = np.maximum(totals["n_intact"], 1)
        _var(
            ds,
            f"{name}_given_intact_mean",
            T,
            totals[f"{name}_given_intact_sum"] / n_int,
            "1",
            f"mean {name} among simulations where the alliance is intact",
        )
    # member level
    _prob(ds, "p_withdrawn", TM, totals["n_withdrawn"], n, "probability the member has withdrawn")
    _prob(
        ds,
        "p_notice",
        TM,
        totals["n_notice"],
        n,
        "probability the member has given notice of withdrawal",
        "cumulative, Article 13",
    )
    _prob(
        ds,
        "p_disengaged",
        TM,
        totals["n_disengaged"],
        n,
        "probability the member is partially disengaged",
    )
    _prob(
        ds,
        "p_sceptical_government",
        TM,
        totals["n_sceptical"],
        n,
        "probability the member has a sceptical government",
    )
    _prob(
        ds,
        "p_meets_target",
        TM,
        totals["n_meets_target"],
        n,
        "probability the member is active and at or above its spending target",
    )
    for name, units, long_name in (
        ("commitment", "1", "probability of honouring Article 5"),
        ("burden", "% of GDP", "defence burden"),
    ):
        m, se = mean_se(totals[f"{name}_sum"], totals[f"{name}_sumsq"], n)
        _var(ds, f"{name}_mean", TM, m, units, f"mean {long_name}")
        _var(ds, f"{name}_mean_se", TM, se, units, f"Monte Carlo standard error of {name}_mean")
    lo, hi, nb = BURDEN_BINS
    edges = np.linspace(lo, hi, nb + 1)
    _var(
        ds,
        "burden_quantile",
        ("time", "member", "quantile"),
        hist_quantiles(totals["burden_hist"], edges),
        "% of GDP",
        "quantiles of member burden",
        quantile_error=(hi - lo) / nb,
    )
    ds["target"] = (TM, np.vstack([scenario.target_path(), scenario.target_path()[-1:]]))
    ds["target"].attrs.update(units="% of GDP", long_name="spending target of the member")
    # conflict onset: Article 5
    n5 = int(totals["n_art5"])
    m, se = mean_se(totals["honour_sum"], totals["honour_sumsq"], n5)
    _var(
        ds,
        "art5_honour_rate_mean",
        (),
        m if n5 else np.nan,
        "1",
        "mean share of allies honouring Article 5 at conflict onset",
        n_onsets=n5,
    )
    _var(
        ds,
        "art5_honour_rate_mean_se",
        (),
        se if n5 else np.nan,
        "1",
        "Monte Carlo standard error of art5_honour_rate_mean",
    )
    ds["honour_bin"] = ("honour_bin", (np.arange(HONOUR_BINS) + 0.5) / HONOUR_BINS)
    _var(
        ds,
        "art5_honour_rate_hist",
        ("honour_bin",),
        totals["honour_hist"],
        "1",
        "number of onsets by share of allies honouring Article 5",
    )
    low = totals["honour_hist"][: HONOUR_BINS // 2].sum()
    _prob(
        ds,
        "p_art5_fewer_than_half",
        (),
        low,
        max(n5, 1),
        "probability that fewer than half of the allies honour Article 5, given an onset",
        "joint abandonment: the allies' decisions share a common factor (E15)",
    )
    ds["p_art5_fewer_than_half"].attrs["n_onsets"] = n5
    na = max(int(totals["n_hegemon_asked"]), 1)
    _prob(
        ds,
        "p_hegemon_honours",
        (),
        totals["n_hegemon_honours"],
        na,
        "probability the hegemon honours Article 5 at onset",
    )
    ds["p_hegemon_honours"].attrs["n_onsets"] = int(totals["n_hegemon_asked"])
    return ds


def interval95(ds: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) 95% interval of a probability: its Wilson interval where the run stores
    one (schema 2), else p ± 1.96 se clipped to [0, 1] (runs of schema 1)."""
    if f"{name}_ci95" in ds:
        ci = ds[f"{name}_ci95"].values
        return ci[..., 0], ci[..., 1]
    p, se = ds[name].values, ds[f"{name}_se"].values
    return np.clip(p - 1.96 * se, 0, 1), np.clip(p + 1.96 * se, 0, 1)


HEADLINES = (
    "p_intact",
    "p_intact_with_hegemon",
    "p_any_withdrawal",
    "p_hegemon_withdrawn",
    "p_conflict",
)
TABLE = (*HEADLINES, "p_conflict_given_intact")  # the rows of ``headline_table``


def headline_table(ds: xr.Dataset, years=(1, 5, 10)) -> list[tuple[str, list[str]]]:
    """Rows (name, cells) of the headline probabilities at given horizons: the estimate, its
    Monte Carlo error and 95% Wilson interval; medians of cohesion and credibility with their
    sampling error. Runs of an older schema show what they have."""
    start = ds["time"].values[0]
    rows = []
    idx = []
    for y in years:
        target = start + np.timedelta64(round(365.25 * y), "D")
        idx.append(int(np.argmin(np.abs(ds["time"].values - target))))
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
    return rows
