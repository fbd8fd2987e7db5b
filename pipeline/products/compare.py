"""Scenario comparisons with common random numbers (CRN).

Runs with the same seed, size, sampler and block size draw the same uniforms for their
inputs and innovations, so their outcomes are strongly correlated and a difference of two
probabilities is far more precise than two independent runs would give. The paired standard
error needs per-simulation outcomes: comparisons read the runs' kept samples
(``--keep-samples``). Every headline probability is P(event time <= t) or its complement, so
the paired sums reduce to cumulative counts of event times (exact integers, one pass).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import xarray as xr

from alliance_risk.models.layout import NEVER
from alliance_risk.pipeline.api import run_scenario
from alliance_risk.pipeline.outputs import HEADLINES
from alliance_risk.pipeline.store import ForecastStore, StoreError
from alliance_risk.pipeline.store.samples import open_samples, read
from alliance_risk.pipeline.store.schema import SCHEMA_VERSION

# headline -> True when it is a survival probability P(time > t), False for P(time <= t)
SURVIVAL = {
    "p_intact": True,
    "p_intact_with_hegemon": True,
    "p_any_withdrawal": False,
    "p_hegemon_withdrawn": False,
    "p_conflict": False,
}
IDENTITY = ("seed", "sims", "sampler", "block_size", "n_blocks")


def _event_times(g, lo: int, hi: int, heg: int) -> dict[str, np.ndarray]:
    """Each headline's event time for simulations lo:hi (NEVER when it did not happen)."""
    diss = read(g, "dissolution_step", lo, hi).astype(np.int64)
    wd = read(g, "withdrawal_step", lo, hi).astype(np.int64)
    heg_wd = wd[:, heg] if heg >= 0 else np.full(hi - lo, NEVER, np.int64)
    return {
        "p_intact": diss,
        "p_intact_with_hegemon": np.minimum(diss, heg_wd),
        "p_any_withdrawal": wd.min(axis=1),
        "p_hegemon_withdrawn": heg_wd,
        "p_conflict": read(g, "onset_step", lo, hi).astype(np.int64),
    }


def _cum(times: np.ndarray, T: int) -> np.ndarray:
    """Number of simulations with event time <= t, t = 0..T."""
    return np.cumsum(np.bincount(times[times <= T], minlength=T + 1))


def _check_comparable(base: dict, other: dict, other_id: str) -> None:
    if not other.get("keep_samples"):
        raise StoreError(f"run {other_id} has no per-simulation samples (--keep-samples)")
    for key in IDENTITY:
        if base[key] != other[key]:
            raise StoreError(
                f"run {other_id}: {key} {other[key]!r} differs from the baseline's "
                f"{base[key]!r}; common random numbers need the same {', '.join(IDENTITY)}"
            )


def compare_runs(fs: ForecastStore, baseline: str, others: list[str]) -> xr.Dataset:
    """Differences (other - baseline) of the headline probabilities, with paired errors."""
    base_attrs = fs.run_attrs(baseline)
    if not base_attrs.get("keep_samples"):
        raise StoreError(f"baseline run {baseline} has no per-simulation samples")
    attrs = [fs.run_attrs(rid) for rid in others]
    for rid, other in zip(others, attrs, strict=True):
        _check_comparable(base_attrs, other, rid)
    base_ds = fs.open_run(baseline)
    T = base_ds.sizes["time"] - 1
    n = int(base_attrs["sims"])
    step = int(base_attrs["block_size"])
    sums = {h: np.zeros((len(others), 4, T + 1), np.int64) for h in HEADLINES}
    gb = open_samples(fs, baseline)
    groups = [open_samples(fs, rid) for rid in others]
    heg_b = run_scenario(base_attrs).hegemon_index
    heg = [run_scenario(a).hegemon_index for a in attrs]
    for lo in range(0, n, step):  # one chunk of every run at a time: memory stays bounded
        tb = _event_times(gb, lo, lo + step, heg_b)
        cb = {h: _cum(tb[h], T) for h in HEADLINES}
        for j, go in enumerate(groups):
            to = _event_times(go, lo, lo + step, heg[j])
            for h in HEADLINES:
                a, b = tb[h], to[h]
                acc = sums[h][j]
                acc[0] += cb[h]
                acc[1] += _cum(b, T)
                acc[2] += _cum(np.minimum(a, b), T)
                acc[3] += _cum(np.maximum(a, b), T)
    names = [a["scenario_name"] for a in attrs]
    return _dataset(base_ds, baseline, others, names, sums, n)


def _dataset(base_ds, baseline, others, names, sums, n) -> xr.Dataset:
    scen = base_ds.attrs["scenario_name"]
    coords = {"time": base_ds["time"].values, "scenario": np.array(names, dtype=object)}
    ds = xr.Dataset(coords=coords)
    ds["scenario"].attrs.update(long_name="compared scenario")
    ds["run_id"] = ("scenario", np.array(others, dtype=object), {"long_name": "its run id"})
    for h in HEADLINES:
        cb, co, cmin, cmax = (sums[h][:, k, :].astype(np.float64) for k in range(4))
        sign = -1.0 if SURVIVAL[h] else 1.0
        pb = (n - cb[0]) / n if SURVIVAL[h] else cb[0] / n
        po = (n - co) / n if SURVIVAL[h] else co / n
        mean_d = sign * (co - cb) / n
        second = (cmin - cmax) / n  # E[(I_o - I_b)^2]: exactly one of the two events by t
        se = np.sqrt(np.maximum(second - mean_d**2, 0.0) / n)
        se_ind = np.sqrt(po * (1 - po) / n + pb * (1 - pb) / n)
        long = h.removeprefix("p_").replace("_", " ")
        ds[f"{h}_baseline"] = ("time", pb, _attrs(f"P({long}) in the baseline"))
        ds[h] = (("scenario", "time"), po, _attrs(f"P({long}) in the compared scenario"))
        ds[f"d_{h}"] = (("scenario", "time"), mean_d, _attrs(f"difference of P({long})"))
        ds[f"d_{h}_se"] = (
            ("scenario", "time"),
            se,
            _attrs(f"paired (CRN) Monte Carlo standard error of d_{h}"),
        )
        ds[f"d_{h}_se_independent"] = (
            ("scenario", "time"),
            se_ind,
            _attrs(f"standard error d_{h} would have with independent runs (for reference)"),
        )
    ds.attrs.update(
        title=f"alliance-risk comparison against {scen}",
        baseline_run=baseline,
        baseline_scenario=scen,
        runs=list(others),
        sims=n,
        seed=int(base_ds.attrs["seed"]),
        sampler=base_ds.attrs["sampler"],
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        schema_version=SCHEMA_VERSION,
        description="d_X = X(compared) - X(baseline) per quarter; common random numbers",
    )
    return ds


def _attrs(long_name: str) -> dict:
    return {"units": "1", "long_name": long_name, "description": long_name}


def publish_comparison(
    fs: ForecastStore, baseline: str, others: list[str]
) -> tuple[str, xr.Dataset]:
    """Compare and store as ``comparisons/<id>`` (listed in the root attribute
    ``comparisons``); returns the id and the Dataset."""
    ds = compare_runs(fs, baseline, others)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    cid = f"{ds.attrs['baseline_scenario']}-vs-{len(others)}-{stamp}-{baseline[-6:]}"
    entry = {
        "id": cid,
        "baseline_run": baseline,
        "runs": list(others),
        "scenarios": [str(s) for s in ds["scenario"].values],
        "created": ds.attrs["created"],
        "sims": int(ds.attrs["sims"]),
    }
    fs.publish_product("comparisons", cid, ds, entry)
    return cid, fs.open_product("comparisons", cid)
