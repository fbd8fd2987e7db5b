"""Runs of an earlier model version stay readable, are labelled, and are not mixed with the
current model's equations (extend, compare and analyse refuse them with one line)."""

from __future__ import annotations

import pytest
import xarray as xr
import zarr
from store_helpers import BLOCK, run_cli

from alliance_risk.models import MODEL_VERSION
from alliance_risk.pipeline.api import extend_run, run_forecast
from alliance_risk.pipeline.engine.plan import PlanError
from alliance_risk.pipeline.products.headlines import headline_table
from alliance_risk.pipeline.store import open_store

NEW_IN_SCHEMA_2 = (
    "p_conflict_given_intact",
    "conflict_after_dissolution_share",
    "p_intra_dispute",
    "p_art5_fewer_than_half",
)


def _as_model1(store, run_id):
    """Rewrite a published run as model 1 wrote it: no schema-2 variables, model_version 1,
    a catalog entry without model_version."""
    run = zarr.open_group(str(store / "runs" / run_id), mode="r+")
    for name in list(run.array_keys()):
        if name in NEW_IN_SCHEMA_2 or name.endswith(("_ci95", "_quantile_se")) or name == "bound":
            del run[name]
    run.attrs.update(model_version="1", schema_version=1)
    root = zarr.open_group(str(store), mode="r+")
    root.attrs["catalog"] = [
        {k: v for k, v in e.items() if k != "model_version"} for e in root.attrs["catalog"]
    ]


def _listed_model(store, run_id) -> str:
    """The model column of ``alliance-risk runs STORE`` for one run."""
    done = run_cli("runs", str(store))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    return next(x for x in out.splitlines() if x.startswith(run_id)).split()[3]


@pytest.fixture(scope="module")
def old_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("versions") / "f.zarr"
    res = run_forecast(
        "nato-2025",
        sims=BLOCK,
        seed=3,
        store=store,
        executor="inprocess",
        block_size=BLOCK,
        progress=False,
    )
    _as_model1(store, res.run_id)
    return store, res.run_id


def test_an_old_run_is_read_and_its_headlines_shown(old_store):
    store, rid = old_store
    ds = xr.open_zarr(store / "runs" / rid)
    assert ds.attrs["model_version"] == "1" and "p_conflict_given_intact" not in ds
    rows = dict(headline_table(ds)[1])
    assert "p_conflict" in rows and "p_conflict_given_intact" not in rows
    assert "[" not in rows["p_conflict"][0]  # no interval stored, none printed


def test_runs_lists_the_model_version(old_store):
    store, rid = old_store
    assert _listed_model(store, rid) == "1"
    new = run_forecast(
        "nato-2025",
        sims=BLOCK,
        seed=4,
        store=store,
        executor="inprocess",
        block_size=BLOCK,
        progress=False,
    )
    assert open_store(store).catalog()[-1]["model_version"] == MODEL_VERSION
    assert _listed_model(store, new.run_id) == MODEL_VERSION


def test_an_old_run_is_not_extended_with_the_new_model(old_store):
    store, rid = old_store
    with pytest.raises(PlanError, match=rf"run {rid} was made by model 1, this is model 2"):
        extend_run(store, rid, sims=2 * BLOCK, executor="inprocess", progress=False)
