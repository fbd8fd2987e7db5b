"""The numbers behind every dashboard panel, as plain columns (dict of equal-length lists or
arrays): the Bokeh sources, the CSV exports and the report's figures all come from here, so
what a panel shows is what its CSV holds. Pure functions of published Datasets, except
``differences`` and ``history``, which read the store for comparisons and runs.

Probabilities stay fractions here (0..1); panels format them as percentages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import numpy as np
import xarray as xr

from alliance_risk.pipeline.products.headlines import interval95, normal_interval95
from alliance_risk.pipeline.store import ForecastStore
from alliance_risk.pipeline.store.arrays import read_run_arrays

Z95 = 1.96
HEADS = {
    "p_intact": "alliance intact",
    "p_any_withdrawal": "a member withdrawn",
    "p_hegemon_withdrawn": "hegemon withdrawn",
    "p_conflict": "conflict onset",
}
# per-member outputs the map can show: variable -> (label, unit)
MAP_VARIABLES = {
    "p_withdrawn": ("P(withdrawn)", "probability"),
    "p_meets_target": ("P(at target)", "probability"),
    "p_notice": ("P(notice given)", "probability"),
    "commitment_mean": ("commitment (P honour Article 5)", "probability"),
    "burden_mean": ("mean burden", "% of GDP"),
}
# fan charts: name -> (label, unit); "burden" is one member's burden
FANS = {
    "cohesion": ("cohesion", "index 0-1"),
    "credibility": ("credibility", "index 0-1"),
    "adversary_spending": ("adversary spending", "USD bn/yr"),
    "alliance_burden": ("alliance burden", "% of GDP"),
    "burden": ("member burden", "% of GDP"),
}
QUANTILE_COLUMNS = ("q05", "q25", "q50", "q75", "q95")
PRIM_STATS = ("density", "coverage", "support")


def dates(ds: xr.Dataset) -> np.ndarray:
    return np.asarray(ds["time"].values, dtype="datetime64[ms]")


def date_label(value) -> str:
    """ "2030-01-01": how the dashboard names a date (the start of a quarter)."""
    return str(np.datetime64(value, "D"))


def headlines(ds: xr.Dataset) -> dict:
    """The headline probabilities over time with their 95% intervals."""
    out: dict = {"date": dates(ds)}
    for h in HEADS:
        if h in ds:
            lo, hi = interval95(ds, h)
            out |= {h: ds[h].values, f"{h}_lo": lo, f"{h}_hi": hi}
    return out


def summary(ds: xr.Dataset, t: int) -> list[dict]:
    """Each headline at date index ``t``: value, 95% interval and s.e."""
    rows = []
    for h, label in HEADS.items():
        if h in ds:
            lo, hi = interval95(ds, h)
            p, se = float(ds[h].values[t]), float(ds[f"{h}_se"].values[t])
            rows.append(
                {
                    "name": h,
                    "label": label,
                    "p": p,
                    "lo": float(lo[t]),
                    "hi": float(hi[t]),
                    "se": se,
                }
            )
    return rows


def members_at(ds: xr.Dataset, t: int, var: str) -> dict:
    """One per-member output at date index ``t``, with its 95% interval, members sorted by
    value (highest first)."""
    if var not in MAP_VARIABLES or var not in ds:
        raise KeyError(f"unknown member output {var!r}; one of {', '.join(MAP_VARIABLES)}")
    value = ds[var].values[t]
    if f"{var}_ci95" in ds or var.startswith("p_"):
        lo, hi = (a[t] for a in interval95(ds, var))
    else:
        se = ds[f"{var}_se"].values[t]
        lo, hi = value - Z95 * se, value + Z95 * se
    order = np.argsort(-value, kind="stable")
    names = ds["member_name"].values if "member_name" in ds else ds["member"].values
    return {
        "code": [str(c) for c in ds["member"].values[order]],
        "name": [str(n) for n in np.asarray(names)[order]],
        "value": value[order],
        "lo": lo[order],
        "hi": hi[order],
    }


def member_path(ds: xr.Dataset, code: str) -> dict:
    """One member over time: P(still a member) with its interval; burden quantiles and the
    spending target, in % of GDP."""
    m = ds.sel(member=code)
    lo, hi = interval95(m, "p_withdrawn")
    q = m["burden_quantile"].values
    return {
        "date": dates(ds),
        "p_member": 1 - m["p_withdrawn"].values,
        "p_member_lo": 1 - hi,
        "p_member_hi": 1 - lo,
        **{c: q[:, i] for i, c in enumerate(QUANTILE_COLUMNS)},
        "burden_mean": m["burden_mean"].values,
        "target": m["target"].values,
    }


def fan(ds: xr.Dataset, name: str, code: str | None = None) -> dict:
    """Quantile bands (5, 25, 50, 75, 95 %) and the mean of a continuous output over time."""
    if name not in FANS:
        raise KeyError(f"unknown fan chart {name!r}; one of {', '.join(FANS)}")
    sub = ds.sel(member=code) if name == "burden" else ds
    q = sub[f"{name}_quantile"].values
    return {
        "date": dates(ds),
        **{c: q[:, i] for i, c in enumerate(QUANTILE_COLUMNS)},
        "mean": sub[f"{name}_mean"].values,
    }


def index_at(ds_or_dates, when: np.datetime64) -> int | None:
    """Index of ``when`` on a time axis, None if the axis does not reach it."""
    d = ds_or_dates if isinstance(ds_or_dates, np.ndarray) else dates(ds_or_dates)
    hit = np.flatnonzero(d == np.asarray(when, dtype="datetime64[ms]"))
    return int(hit[0]) if hit.size else None


def read_headlines(fs: ForecastStore, run_ids: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """run -> the headline probabilities, their s.e. and ``date`` of each run, read as plain
    Zarr arrays (store.arrays): what ``differences`` and ``history`` read."""
    names = ["time", *(f"{h}{s}" for h in HEADS for s in ("", "_se"))]
    out = read_run_arrays(fs, run_ids, names)
    for arrays in out.values():
        arrays.pop("time", None)
    return out


def comparison_entry(entries: list[dict], base: str, other: str) -> tuple[str, str] | None:
    """(comparison id, compared scenario name) of the newest stored comparison of run
    ``other`` against run ``base`` among the store's ``comparisons`` entries, if any."""
    for entry in reversed(entries):
        if entry.get("baseline_run") == base and other in entry.get("runs", []):
            return entry["id"], entry["scenarios"][entry["runs"].index(other)]
    return None


def stored_comparison(fs: ForecastStore, base: str, other: str) -> xr.Dataset | None:
    """The newest stored comparison of run ``other`` against run ``base``, if any."""
    found = comparison_entry(fs.products("comparisons"), base, other)
    return fs.open_product("comparisons", found[0]).sel(scenario=found[1]) if found else None


def differences(
    base_id: str,
    others: dict[str, str],
    when: np.datetime64,
    arrays: Callable[[str], dict],
    paired: Callable[[str, str], xr.Dataset | None],
) -> dict:
    """Each headline of each other scenario's run minus the baseline run at ``when``, with
    the paired (common random numbers) standard error where a stored comparison has it
    (``paired(base, other)``), else the independent one (labelled); sorted by difference;
    ``within_noise`` when the 95% interval covers 0. ``arrays(run)``: see ``read_headlines``."""
    base = arrays(base_id)
    tb = index_at(base["date"], when)
    keys = ("scenario", "run_id", "headline", "label", "d", "se", "lo", "hi", "errors")
    rows: dict[str, list] = {k: [] for k in keys}
    for scen, rid in others.items():
        if rid == base_id or tb is None:
            continue
        other = arrays(rid)
        to = index_at(other["date"], when)
        if to is None:
            continue
        cmp = paired(base_id, rid)
        tc = (
            index_at(np.asarray(cmp["time"].values, "datetime64[ms]"), when)
            if cmp is not None
            else None
        )
        for h, label in HEADS.items():
            if h not in other or h not in base:
                continue
            if cmp is not None and f"d_{h}" in cmp:
                d, se = float(cmp[f"d_{h}"].values[tc]), float(cmp[f"d_{h}_se"].values[tc])
                kind = "paired"
            else:
                d = float(other[h][to] - base[h][tb])
                se = float(np.hypot(other[f"{h}_se"][to], base[f"{h}_se"][tb]))
                kind = "independent"
            row = (scen, rid, h, f"{scen}: {label}", d, se, d - Z95 * se, d + Z95 * se, kind)
            for k, v in zip(keys, row, strict=True):
                rows[k].append(v)
    rows["within_noise"] = [lo <= 0 <= hi for lo, hi in zip(rows["lo"], rows["hi"], strict=True)]
    order = np.argsort(rows["d"], kind="stable")
    return {k: [v[i] for i in order] for k, v in rows.items()}


def history(
    runs: list[dict], when: np.datetime64 | None, load_headlines: Callable[[str], dict]
) -> dict:
    """The headlines of each catalogued run of a scenario (``runs``: catalog entries,
    oldest first) at the date ``when`` (each run's last date if None), with 95% bands."""
    out: dict[str, list] = {"run_id": [], "created": [], "sims": []}
    for h in HEADS:
        out |= {h: [], f"{h}_lo": [], f"{h}_hi": []}
    for e in runs:
        arrays = load_headlines(e["run_id"])
        t = len(arrays["date"]) - 1 if when is None else index_at(arrays["date"], when)
        if t is None:
            continue
        out["run_id"].append(e["run_id"])
        out["created"].append(np.datetime64(e["created"].replace("+00:00", ""), "ms"))
        out["sims"].append(int(e["sims"]))
        for h in HEADS:
            p = float(arrays[h][t]) if h in arrays else np.nan
            lo, hi = normal_interval95(p, float(arrays[f"{h}_se"][t]) if h in arrays else np.nan)
            out[h].append(p)
            out[f"{h}_lo"].append(float(lo))
            out[f"{h}_hi"].append(float(hi))
    return out


def drivers(an: xr.Dataset, outcome: str, top: int = 12) -> dict:
    """The inputs ranked by |Spearman| for one outcome, with their intervals and (Saltelli
    runs) Sobol' S1 and ST with their bootstrap half-widths."""
    a = an.sel(outcome=outcome)
    rank = a["importance_rank"].values
    keep = np.flatnonzero(rank > 0)
    keep = keep[np.argsort(rank[keep])][:top]
    out = {
        "parameter": [str(p) for p in an["parameter"].values[keep]],
        "rank": rank[keep],
        "spearman": a["spearman"].values[keep],
        "spearman_low": a["spearman_low"].values[keep],
        "spearman_high": a["spearman_high"].values[keep],
    }
    for k in ("sobol_s1", "sobol_s1_conf", "sobol_st", "sobol_st_conf"):
        if k in an:
            out[k] = a[k].values[keep]
    return out


def prim_sentences(an: xr.Dataset) -> list[str]:
    """PRIM boxes in words: "conflict within 5 years is concentrated where x > 0.3 and ..."."""
    if "prim_outcome" not in an.coords:
        return []
    lines = []
    described = dict(zip(an["outcome"].values, an["outcome_description"].values, strict=True))
    for o in an["prim_outcome"].values:
        box = an.sel(prim_outcome=o)
        if not np.isfinite(float(box["prim_density"])):
            continue
        parts = []
        for p, lo, hi in zip(
            an["parameter"].values, box["prim_lower"].values, box["prim_upper"].values, strict=True
        ):
            if np.isfinite(lo) and np.isfinite(hi):
                parts.append(f"{lo:.3g} ≤ {p} ≤ {hi:.3g}")
            elif np.isfinite(lo):
                parts.append(f"{p} ≥ {lo:.3g}")
            elif np.isfinite(hi):
                parts.append(f"{p} ≤ {hi:.3g}")
        where = " and ".join(parts) or "anywhere (no box found)"
        density, coverage, support = (float(box[f"prim_{k}"]) for k in PRIM_STATS)
        lines.append(
            f"{described.get(o, o)}: {density:.0%} of simulations where {where} "
            f"(covers {coverage:.0%} of the cases, {support:.0%} of the inputs)"
        )
    return lines


def to_csv(columns: dict) -> str:
    """CSV text of a panel's columns (dates as ISO 8601, floats in full precision)."""
    names = list(columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    n = len(next(iter(columns.values()))) if columns else 0
    for i in range(n):
        w.writerow([_cell(columns[k][i]) for k in names])
    return buf.getvalue()


def _cell(v) -> str:
    if isinstance(v, np.datetime64):
        return date_label(v) if v == v.astype("datetime64[D]") else str(v.astype("datetime64[s]"))
    if isinstance(v, float | np.floating):
        return "" if np.isnan(v) else repr(float(v))
    if isinstance(v, np.bool_ | bool):
        return str(bool(v)).lower()
    return str(v.item() if isinstance(v, np.generic) else v)
