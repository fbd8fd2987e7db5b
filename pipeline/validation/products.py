"""Running the validations and storing them as the store's ``validations/<id>`` groups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import xarray as xr

from alliance_risk.pipeline.store import ForecastStore, StoreError, open_store
from alliance_risk.pipeline.store.samples import open_samples, read
from alliance_risk.pipeline.validation import backtest as B

KIND = "validations"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def publish(fs: ForecastStore, kind: str, ds: xr.Dataset, entry: dict) -> str:
    """Store a validation Dataset as ``validations/<kind>-<stamp>`` and list it."""
    vid = f"{kind}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    ds.attrs |= {"kind": kind, "created": _now(), "validation_id": vid}
    fs.publish_product(
        KIND, vid, ds, {"id": vid, "kind": kind, "created": ds.attrs["created"]} | entry
    )
    return vid


def backtest_run(fs: ForecastStore, run: str) -> str:
    """A published back-test run with kept samples, or a one-line error."""
    rid = fs.resolve(run)
    attrs = fs.run_attrs(rid)
    if attrs.get("scenario_name") != B.SCENARIO or not attrs.get("keep_samples"):
        raise StoreError(
            f"run {rid} is not a back-test run with kept samples (scenario "
            f"{attrs.get('scenario_name')!r}); run: alliance-risk backtest --store {fs.root}"
        )
    return rid


def run_backtest(
    store, sims: int = 20_000, seed: int = 0, run: str | None = None, **engine: Any
) -> tuple[str, xr.Dataset]:
    """Run (or reuse, ``run``) the back-test scenario through the engine, score it, store the
    scores beside the run; returns (validation id, Dataset)."""
    from alliance_risk.pipeline.api import run_forecast, run_scenario

    if run is not None:
        fs = open_store(store, create=False)
        rid = backtest_run(fs, run)
    else:
        res = run_forecast(
            B.SCENARIO, sims=sims, seed=seed, store=store, keep_samples=True, **engine
        )
        fs, rid = open_store(store, create=False), res.run_id
    attrs = fs.run_attrs(rid)
    codes = run_scenario(attrs).codes
    final = read(open_samples(fs, rid), "final_burden")
    ds = B.score(codes, final, seed=seed)
    ds.attrs |= {"run_id": rid, "sims": int(attrs["sims"]), "seed": int(attrs["seed"])}
    vid = publish(fs, "backtest", ds, {"run_id": rid, "sims": int(attrs["sims"])})
    return vid, fs.open_product(KIND, vid)
