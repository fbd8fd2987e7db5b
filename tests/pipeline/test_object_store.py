"""The store on an object store (S3 API, served by moto on 127.0.0.1): same results, same rules.

Object stores have no rename: a run is written under runs/<id>/ and becomes visible when the
root zarr.json lists it. These tests run the real s3fs client against moto's S3 server.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import xarray as xr
from store_helpers import BLOCK, dataset_digest, publish_concurrently

from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.api import _manifest, extend_run, resume_run, run_forecast
from alliance_risk.pipeline.engine.execute import run_blocks
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.products.history import history
from alliance_risk.pipeline.store import ObjectForecastStore, StoreError, open_store

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_server():
    """A local S3 server (moto); yields (server, storage options)."""

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "test", "secret": "test"}
    yield server, options
    server.stop()


@pytest.fixture
def s3(s3_server, request):
    """A fresh bucket per test (moto lists a bucket in time linear in its keys); yields
    (url prefix, storage options)."""
    import s3fs

    _, options = s3_server
    bucket = "t-" + request.node.name.lower().replace("_", "-")[:50].strip("-")
    s3fs.S3FileSystem(**options).mkdir(bucket)
    return f"s3://{bucket}", options


def test_run_on_s3_equals_a_local_run_and_is_listed_last(s3, tmp_path):
    prefix, options = s3
    url = f"{prefix}/a.zarr"
    common = dict(seed=9, block_size=BLOCK, keep_samples=True, executor="inprocess", progress=False)
    res = run_forecast("nato-2025", sims=2 * BLOCK, store=url, storage_options=options, **common)
    local = run_forecast("nato-2025", sims=2 * BLOCK, store=tmp_path / "f.zarr", **common)
    assert res.store == f"{url}/runs/{res.run_id}"
    assert dataset_digest(res.dataset) == dataset_digest(local.dataset)
    fs = open_store(url, create=False, storage_options=options)
    assert fs.catalog_ids() == [res.run_id]
    assert fs.latest("nato-2025") == res.run_id
    assert fs.staged_runs() == []
    ds = xr.open_zarr(res.store, storage_options=options)  # what a dashboard does
    assert float(ds["p_intact"][-1]) == float(local.dataset["p_intact"][-1])
    samples = xr.open_zarr(f"{res.store}/samples", storage_options=options, consolidated=False)
    local_samples = xr.open_zarr(local.store / "samples", consolidated=False)
    assert (samples["onset_step"].values == local_samples["onset_step"].values).all()

    ext = extend_run(
        url, res.run_id, 3 * BLOCK, executor="inprocess", progress=False, storage_options=options
    )
    big = run_forecast("nato-2025", sims=3 * BLOCK, store=tmp_path / "g.zarr", **common)
    assert ext.blocks_run == 1
    assert dataset_digest(ext.dataset) == dataset_digest(big.dataset)
    assert fs.catalog_ids() == [res.run_id, ext.run_id]
    # a history reads only each run's headline arrays, from the object store too
    h = history(fs, "nato-2025", (5.0,))
    assert list(h["run"].values) == [res.run_id, ext.run_id]
    for run in (res, ext):
        at = float(run.dataset["p_conflict"].sel(time="2030-01-01"))
        assert float(h["p_conflict"].sel(run=run.run_id, horizon="5 yr")) == at


def test_cli_reads_storage_options_from_the_environment(s3):
    prefix, options = s3
    url = f"{prefix}/c.zarr"
    env = {"ALLIANCE_RISK_STORAGE_OPTIONS": json.dumps(options), "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "alliance_risk.pipeline.apps.cli",
            "run",
            "detente",
            "--sims",
            str(BLOCK),
            "--block-size",
            str(BLOCK),
            "--store",
            url,
            "--executor",
            "inprocess",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    assert open_store(url, create=False, storage_options=options).catalog_ids() == [run_id]
    bad = subprocess.run(
        [sys.executable, "-m", "alliance_risk.pipeline.apps.cli", "show", f"{prefix}/none.zarr"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "no such store" in bad.stderr


def test_object_store_errors_are_one_line(s3):
    prefix, options = s3
    with pytest.raises(StoreError, match="no such store"):
        open_store(f"{prefix}/missing.zarr", create=False, storage_options=options)
    with pytest.raises(StoreError, match="cannot open this filesystem"):
        open_store("nosuchprotocol://x/y.zarr")


def test_a_new_s3_store_has_its_root_last_and_an_interrupted_one_is_completed(s3):
    """The root zarr.json is written last, in one PUT with the store's marker; a location
    holding only what an interrupted creation leaves (staging's metadata) is completed."""
    import s3fs

    prefix, options = s3
    url = f"{prefix}/new.zarr"
    open_store(url, storage_options=options)
    fs = s3fs.S3FileSystem(**options)
    key = url.removeprefix("s3://")
    assert json.loads(fs.cat(f"{key}/zarr.json"))["attributes"]["alliance_risk_store"] > 0
    fs.rm(f"{key}/zarr.json")  # as a creation killed before its last write
    fs.invalidate_cache()
    assert open_store(url, storage_options=options).catalog() == []
    fs.pipe(f"{prefix.removeprefix('s3://')}/other.zarr/x", b"1")
    with pytest.raises(StoreError, match="location is not empty and not a store"):
        open_store(f"{prefix}/other.zarr", storage_options=options)


@pytest.mark.slow
def test_concurrent_publishers_on_s3_lose_no_entry(s3, tmp_path):
    """4 processes commit runs into one S3 store at the same moment: all are catalogued and
    readable (each commits its own record: no read-modify-write of a shared object)."""
    prefix, options = s3
    url = f"{prefix}/concurrent.zarr"
    open_store(url, storage_options=options)
    ids = publish_concurrently(url, options, 4, tmp_path / "barrier")
    fs = open_store(url, create=False, storage_options=options)
    assert sorted(fs.catalog_ids()) == sorted(ids) and len(set(ids)) == 4
    for rid in ids:
        assert float(fs.open_run(rid)["p_intact"][-1]) > 0
    assert fs.latest("nato-2025") in ids
    from alliance_risk.pipeline.store.verify import verify

    assert verify(fs, ids[0]) == []  # its files match their checksums
    assert fs.run_groups() == sorted(ids)  # every group is catalogued
    import warnings

    import zarr

    with warnings.catch_warnings():  # the root, commit records included, is pure Zarr
        warnings.simplefilter("error")
        nodes = dict(zarr.open_group(url, mode="r", storage_options=options).members(max_depth=2))
    assert {"catalog", "catalog/runs", "runs", "staging"} <= set(nodes)


# last in the module: it starts the module's LocalCluster, which slows the S3 server's
# requests in this process while it idles
def test_interrupted_run_on_s3_is_unlisted_then_resumes_exactly(s3, tmp_path, client):
    prefix, options = s3
    url = f"{prefix}/b.zarr"
    sc = load_scenario("nato-2025")
    spec = RunSpec(sc.name, 4, 4 * BLOCK, "mc", BLOCK)
    fs = open_store(url, storage_options=options)
    assert isinstance(fs, ObjectForecastStore)
    manifest = _manifest("r-s3", sc, spec, max_sims=spec.total_sims)
    fs.create_staging("r-s3", manifest)
    run_blocks(
        client,
        sc,
        spec,
        [0, 2],
        lambda b, st: fs.save_block("r-s3", b, st),
        run_key="r-s3",
        progress=False,
    )  # a run that died after two blocks
    assert fs.catalog() == [] and fs.staged_runs() == ["r-s3"]
    assert fs.done_blocks("r-s3") == {0, 2}
    res = resume_run(url, "r-s3", executor="inprocess", progress=False, storage_options=options)
    assert res.blocks_run == 2
    here = dict(block_size=BLOCK, executor="inprocess", progress=False)
    clean = run_forecast(sc, sims=spec.sims, seed=4, store=tmp_path / "c.zarr", **here)
    assert dataset_digest(res.dataset) == dataset_digest(clean.dataset)
    assert fs.staged_runs() == [] and fs.catalog_ids() == ["r-s3"]
    assert dataclasses.asdict(spec) == json.loads(json.dumps(manifest["spec"]))
