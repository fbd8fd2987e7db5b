"""Runs of an earlier model version stay readable, are labelled, and are not mixed with the
current model's equations (extend, compare and analyse refuse them with one line); runs of an
earlier random-number scheme likewise are labelled and not extended or resumed."""

from __future__ import annotations

import pytest
import xarray as xr
import zarr
from store_helpers import BLOCK, run_cli

from alliance_risk.models import MODEL_VERSION
from alliance_risk.models.innovations import SCHEME as RNG_SCHEME
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


@pytest.fixture
def scheme1_store(tmp_path):
    """A published run labelled as random-number scheme 1 (numpy arrays per step, before
    the counter-based innovations), as runs written before scheme 2 carry no rng_scheme."""
    store = tmp_path / "f.zarr"
    res = run_forecast(
        "nato-2025", sims=BLOCK, seed=5, store=store, executor="inprocess", block_size=BLOCK,
        progress=False,
    )  # fmt: skip
    run = zarr.open_group(str(store / "runs" / res.run_id), mode="r+")
    del run.attrs["rng_scheme"]
    root = zarr.open_group(str(store), mode="r+")
    root.attrs["catalog"] = [
        {k: v for k, v in e.items() if k != "rng_scheme"} for e in root.attrs["catalog"]
    ]
    return store, res.run_id


def test_a_run_of_the_old_random_numbers_is_labelled_and_not_extended(scheme1_store):
    store, rid = scheme1_store
    done = run_cli("runs", str(store))
    row = next(x for x in done.stdout.splitlines() if x.startswith(rid)).split()
    assert row[4] == "1"  # the rng column
    with pytest.raises(PlanError, match=rf"run {rid} was drawn under random-number scheme 1"):
        extend_run(store, rid, sims=2 * BLOCK, executor="inprocess", progress=False)
    new = run_forecast(
        "nato-2025", sims=BLOCK, seed=6, store=store, executor="inprocess", block_size=BLOCK,
        progress=False,
    )  # fmt: skip
    assert (
        new.dataset.attrs["rng_scheme"]
        == RNG_SCHEME
        == open_store(store).catalog()[-1]["rng_scheme"]
    )


def test_a_staged_run_of_the_old_random_numbers_is_not_resumed(tmp_path):
    """Its finished blocks were drawn differently: resuming would mix two schemes in one run."""
    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.api import _manifest, resume_run
    from alliance_risk.pipeline.engine.plan import RunSpec

    store = tmp_path / "f.zarr"
    sc = load_scenario("nato-2025")
    manifest = _manifest(
        "old-run", sc, RunSpec(sc.name, 1, 2 * BLOCK, "mc", BLOCK), max_sims=2 * BLOCK
    )
    del manifest["rng_scheme"]
    open_store(store).create_staging("old-run", manifest)
    with pytest.raises(PlanError, match=r"staged run old-run was drawn under random-number sch"):
        resume_run(store, "old-run", executor="inprocess", progress=False)
    assert open_store(store).staged_runs() == ["old-run"]  # nothing was discarded for the user
