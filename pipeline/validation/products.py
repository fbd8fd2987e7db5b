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


def _backtest_source(store, sims: int, seed: int, run: str | None, engine: dict):
    """(store, run id) of the back-test run to use: ``run`` if given, else a new one."""
    from alliance_risk.pipeline.api import run_forecast

    if run is not None:
        fs = open_store(store, create=False)
        return fs, backtest_run(fs, run)
    res = run_forecast(B.SCENARIO, sims=sims, seed=seed, store=store, keep_samples=True, **engine)
    return open_store(store, create=False), res.run_id


def run_backtest(
    store, sims: int = 20_000, seed: int = 0, run: str | None = None, **engine: Any
) -> tuple[str, xr.Dataset]:
    """Run (or reuse, ``run``) the back-test scenario through the engine, score it, store the
    scores beside the run; returns (validation id, Dataset)."""
    from alliance_risk.pipeline.api import run_scenario

    fs, rid = _backtest_source(store, sims, seed, run, engine)
    attrs = fs.run_attrs(rid)
    codes = run_scenario(attrs).codes
    final = read(open_samples(fs, rid), "final_burden")
    ds = B.score(codes, final, seed=seed)
    ds.attrs |= {"run_id": rid, "sims": int(attrs["sims"]), "seed": int(attrs["seed"])}
    vid = publish(fs, "backtest", ds, {"run_id": rid, "sims": int(attrs["sims"])})
    return vid, fs.open_product(KIND, vid)


def run_hindcast(
    store, origins=None, sims: int = 400, seed: int = 0, progress: bool = True
) -> tuple[str, xr.Dataset]:
    """Run the ATOP hindcast and store it beside the runs (``validations/hindcast-*``)."""
    from alliance_risk.pipeline.validation import hindcast as H

    origins = tuple(origins or H.ORIGINS)
    H.check_origins(origins)
    bar = _bar(len(origins), "hindcast origins", progress)
    ds = H.run_hindcast(origins, sims=sims, seed=seed, progress=lambda o: bar.update(1))
    bar.close()
    ds.attrs |= {"sims_per_pact": sims, "seed": seed, "origins": list(origins)}
    fs = open_store(store)
    vid = publish(fs, "hindcast", ds, {"origins": list(origins), "sims": sims, "seed": seed})
    return vid, fs.open_product(KIND, vid)


def run_calibration(
    store, sims: int = 20_000, seed: int = 0, run: str | None = None, **engine: Any
) -> tuple[str, xr.Dataset]:
    """Fit the partially pooled exit prior and run ABC of the burden priors on a back-test
    run (``run``, or a new one of ``sims`` simulations); store both."""
    import numpy as np

    from alliance_risk.pipeline.api import run_scenario
    from alliance_risk.pipeline.validation import calibrate as C

    fs, rid = _backtest_source(store, sims, seed, run, engine)
    attrs = fs.run_attrs(rid)
    sc = run_scenario(attrs)
    group = open_samples(fs, rid)
    out = C.abc(
        read(group, "parameters"), sc.parameter_names, read(group, "final_burden"), sc.codes
    )
    ep = C.fit_exit_prior()
    q = ["p05", "p50", "p95"]
    ds = xr.Dataset(
        {
            "prior": (("parameter", "q"), [out["priors"][n]["prior"] for n in C.CALIBRATED]),
            "posterior": (
                ("parameter", "q"),
                [out["priors"][n]["posterior"] for n in C.CALIBRATED],
            ),
            "implausibility": ("sim", out["implausibility"]),
            "accepted": ("sim", out["keep"]),
        },
        coords={"parameter": np.array(C.CALIBRATED, dtype=object), "q": np.array(q, dtype=object)},
    )
    lo, hi = ep.nato_interval()
    ds.attrs |= {
        "run_id": rid,
        "sims": int(attrs["sims"]),
        "seed": int(attrs["seed"]),
        "cutoff": C.CUTOFF,
        "accepted_draws": out["accepted"],
        "targets": {k: list(v) for k, v in C.targets().items()},
        "exit_population_gamma": [ep.shape, ep.rate],
        "exit_population_mean": ep.population_mean,
        "exit_groups": ep.groups,
        "exit_events": ep.exits,
        "exit_member_years": ep.exposure,
        "exit_nato_gamma": [ep.nato_shape, ep.nato_rate],
        "exit_nato_mean": ep.nato_mean,
        "exit_nato_90": [lo, hi],
        "acceptance_rate": float(np.mean(out["keep"])),
    }
    vid = publish(fs, "calibration", ds, {"run_id": rid, "sims": int(attrs["sims"])})
    return vid, fs.open_product(KIND, vid)


def _bar(total: int, desc: str, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not show, leave=False)
