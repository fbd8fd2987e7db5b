"""The Zarr store contract: readers, documented variables, catalog, atomic publication."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr
import zarr
from store_helpers import BLOCK, publish_concurrently, run_cli, tree_digest

from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.outputs import HEADLINES
from alliance_risk.pipeline.store import STORE_FORMAT, ForecastStore, StoreError

ALLIANCE_VARS = {
    "p_intact": ("time",),
    "p_intact_with_hegemon": ("time",),
    "p_any_withdrawal": ("time",),
    "p_hegemon_withdrawn": ("time",),
    "p_conflict": ("time",),
    "p_pandemic": ("time",),
    "p_arms_race": ("time",),
    "p_dissolved_by_cause": ("time", "cause"),
    "members_pmf": ("time", "n_members"),
    "members_mean": ("time",),
    "n_meeting_mean": ("time", "threshold"),
    "cohesion_quantile": ("time", "quantile"),
    "cohesion_mean": ("time",),
    "cohesion_given_intact_mean": ("time",),
    "credibility_quantile": ("time", "quantile"),
    "local_balance_quantile": ("time", "quantile"),
    "conflict_hazard_mean": ("time",),
    "art5_honour_rate_mean": (),
    "p_hegemon_honours": (),
    # model 2, schema 2
    "p_conflict_given_intact": ("time",),
    "conflict_after_dissolution_share": ("time",),
    "p_intra_dispute": ("time",),
    "p_art5_fewer_than_half": (),
    "p_conflict_ci95": ("time", "bound"),
    "cohesion_quantile_se": ("time", "quantile"),
}
MEMBER_VARS = {
    "p_withdrawn": ("time", "member"),
    "p_notice": ("time", "member"),
    "p_disengaged": ("time", "member"),
    "p_meets_target": ("time", "member"),
    "p_sceptical_government": ("time", "member"),
    "commitment_mean": ("time", "member"),
    "burden_mean": ("time", "member"),
    "burden_quantile": ("time", "member", "quantile"),
}
RUN_ATTRS = (
    "run_id",
    "scenario",
    "scenario_sha256",
    "scenario_name",
    "seed",
    "sims",
    "sampler",
    "block_size",
    "package_version",
    "model_version",
    "schema_version",
    "created",
    "run_status",
)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    store = tmp_path_factory.mktemp("s") / "f.zarr"
    res = run_forecast(
        "nato-2025",
        sims=2 * BLOCK,
        seed=1,
        store=store,
        block_size=BLOCK,
        executor="inprocess",
        progress=False,
    )
    return store, res


def test_documented_variables_dims_units_and_attributes(published):
    _store, res = published
    ds = xr.open_zarr(str(res.store))
    for name, dims in {**ALLIANCE_VARS, **MEMBER_VARS}.items():
        assert ds[name].dims == dims, name
        for key in ("units", "long_name", "description"):
            assert ds[name].attrs.get(key), (name, key)
        if name.startswith("p_") and not name.endswith(("_se", "_ci95")):
            assert f"{name}_se" in ds, name
            assert f"{name}_ci95" in ds, name
    for name in HEADLINES:
        p = ds[name].values
        assert np.all((p >= 0) & (p <= 1))
    assert ds["p_intact"][0] == 1.0
    np.testing.assert_allclose(ds["members_pmf"].sum("n_members"), 1.0)
    for key in RUN_ATTRS:
        assert key in ds.attrs, key
    assert ds.attrs["sims"] == 2 * BLOCK and ds.attrs["run_status"] == "complete"
    assert list(ds["member"].values[:3]) == ["ALB", "BEL", "BGR"]
    assert ds["time"].values[0] == np.datetime64("2025-01-01")
    assert ds["time"].values[-1] == np.datetime64("2035-01-01")
    assert ds["cohesion_quantile"].attrs["quantile_error"] == pytest.approx(1 / 200)


def test_store_opens_with_plain_zarr_and_datatree(published):
    store, res = published
    root = zarr.open_group(str(store), mode="r")
    assert root.attrs["schema_version"] == STORE_FORMAT == 2
    run = root[f"runs/{res.run_id}"]
    assert run["p_conflict"].shape == (41,)
    assert run["p_conflict"].metadata.zarr_format == 3
    np.testing.assert_array_equal(run["p_conflict"][:], res.dataset["p_conflict"].values)
    tree = xr.open_datatree(str(store), engine="zarr", group="runs")
    assert f"/{res.run_id}" in tree.groups
    np.testing.assert_array_equal(
        tree[res.run_id]["p_conflict"].values, res.dataset["p_conflict"].values
    )


def test_the_store_root_is_pure_zarr_while_runs_are_in_progress(tmp_path):
    """A published run (with samples, statistics, checksums), a product, and a run in
    progress (blocks, samples): the root opens in zarr and in xarray's datatree with no
    warning, every node is a Zarr group or array, and no other file is in the hierarchy."""
    import warnings

    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.api import _manifest
    from alliance_risk.pipeline.engine.block import simulate_block
    from alliance_risk.pipeline.engine.plan import RunSpec

    store = tmp_path / "f.zarr"
    kw = dict(block_size=BLOCK, executor="inprocess", progress=False, keep_samples=True)
    res = run_forecast("nato-2025", sims=BLOCK, seed=1, store=store, **kw)
    fs = ForecastStore(store)
    fs.publish_product("validations", "v1", res.dataset[["p_intact"]], {"id": "v1"})
    sc = load_scenario("nato-2025")
    spec = RunSpec(sc.name, 2, 2 * BLOCK, "mc", BLOCK)
    fs.create_staging("half", _manifest("half", sc, spec, keep_samples=True, max_sims=2 * BLOCK))
    fs.save_block("half", 0, simulate_block(sc, spec, 0)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        root = zarr.open_group(str(store), mode="r")
        members = dict(root.members(max_depth=None))
        tree = xr.open_datatree(str(store), engine="zarr", consolidated=False)
    assert {f"runs/{res.run_id}/stats", f"runs/{res.run_id}/integrity", "staging/half",
            "staging/half/blocks/000000", "validations/v1"} <= set(members)  # fmt: skip
    assert f"/runs/{res.run_id}/samples" in tree.groups
    known = {f"{k}/zarr.json" for k in members} | {"zarr.json"}
    chunks = {f.relative_to(store).as_posix() for f in store.rglob("*") if f.is_file()}
    strays = {c for c in chunks - known if "/c/" not in c and not c.startswith(
        tuple(f"{k}/c" for k in members))}  # fmt: skip
    assert strays == set(), strays


def test_catalog_lists_complete_runs_only(published, tmp_path):
    store, res = published
    fs = ForecastStore(store, create=False)
    assert fs.catalog_ids() == [res.run_id]
    assert fs.latest("nato-2025") == res.run_id
    entry = fs.catalog()[0]
    assert entry["status"] == "complete" and entry["sims"] == 2 * BLOCK
    fs.create_staging("in-progress", {"run_id": "in-progress"})
    fs.save_block("in-progress", 0, {"n_sims": np.array(1)})
    assert fs.catalog_ids() == [res.run_id]
    assert "in-progress" in fs.staged_runs()
    fs.discard("in-progress")
    assert fs.staged_runs() == []


def cli(*args):
    return run_cli(*args)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope", "--sims", "2000"], "no such file and no built-in scenario"),
        (["run", "--sims", "0"], "sims must be a positive integer, got 0"),
        (["run", "--sims", "-5"], "sims must be a positive integer, got -5"),
        pytest.param(
            ["run", "--sims", "2000", "--scheduler", "tcp://127.0.0.1:1"],
            "cannot reach the Dask scheduler",
            marks=[pytest.mark.cluster, pytest.mark.slow],  # waits for the connect timeout
        ),
        (["run", "--resume", "no-such-run"], "is not in staging"),
        (["run", "--extend", "no-such-run", "--sims", "4000"], "no published run 'no-such-run'"),
        (["show", "{store}", "no-such-run"], "no published run 'no-such-run'"),
        (["run", "detente", "--resume", "{staged}"], "differs"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(published, args, message):
    """Exit 2 for the input, 3 for the environment (an unreachable scheduler)."""
    store, _ = published
    fs = ForecastStore(store, create=False)
    if "staged" not in fs.staged_runs():
        from alliance_risk.models.scenario import builtin_path

        text = builtin_path("nato-2025").read_text()
        fs.create_staging(
            "staged",
            {
                "run_id": "staged",
                "scenario_name": "nato-2025",
                "scenario_toml": text,
                "scenario_sha256": "x" * 64,
                "spec": {
                    "scenario": "nato-2025",
                    "seed": 1,
                    "sims": 2000,
                    "sampler": "mc",
                    "block_size": 2000,
                },
                "keep_samples": False,
                "target_se": None,
                "max_sims": 1,
                "extends": None,
                "created": "",
            },
        )
    before = tree_digest(store)
    args = [a.format(store=store, staged="staged") for a in args]
    if args[0] == "run":
        args += ["--store", str(store), "--no-progress"]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):  # an unreachable one
        out = cli(*args)
    assert out.returncode == (3 if "--scheduler" in args else 2), out.stderr
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert tree_digest(store) == before


def test_store_path_that_is_a_file_or_not_a_store(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        ForecastStore(f)
    d = tmp_path / "dir"
    d.mkdir()
    (d / "something").write_text("x")
    with pytest.raises(StoreError, match="not empty and not a store"):
        ForecastStore(d)
    with pytest.raises(StoreError, match="cannot create"):
        ForecastStore(f / "sub")
    out = cli("run", "--sims", "2000", "--store", str(f), "--no-progress")
    assert out.returncode == 2 and "is a file" in out.stderr


@pytest.mark.slow
def test_concurrent_publishers_on_a_local_store_lose_no_entry(tmp_path):
    store = tmp_path / "f.zarr"
    ForecastStore(store)
    ids = publish_concurrently(str(store), {}, 4, tmp_path / "barrier")
    fs = ForecastStore(store, create=False)
    assert sorted(fs.catalog_ids()) == sorted(ids) and len(set(ids)) == 4
    for rid in ids:
        assert float(fs.open_run(rid)["p_intact"][-1]) > 0


def test_a_store_being_created_is_never_seen_without_its_marker(tmp_path):
    """The root metadata appears at once, with the store's marker: a reader polling while
    stores are created never finds a root that is not an alliance-risk store (the race a
    monitoring process, or the fault test's probe, ran into). An interrupted creation
    (groups, no root yet) is completed on the next open."""
    import threading

    roots = [tmp_path / f"s{i}.zarr" for i in range(150)]
    seen, errors = 0, []

    def create():
        for root in roots:
            ForecastStore(root)

    maker = threading.Thread(target=create)
    maker.start()
    while maker.is_alive():
        for root in roots:
            if (root / "zarr.json").exists():
                try:
                    ForecastStore(root, create=False)
                    seen += 1
                except StoreError as exc:
                    errors.append(str(exc))
    maker.join()
    assert seen > 0 and errors == []
    (roots[0] / "zarr.json").unlink()  # as a creation killed before its last write
    assert ForecastStore(roots[0]).catalog() == []


def test_a_run_built_in_memory_is_written_byte_for_byte_as_zarr_writes_it(published, tmp_path):
    """``write_result`` builds a run's group in memory, then writes its files: the tree is
    byte for byte what xarray and zarr write to disk, and it returns every file's sha256."""
    import hashlib

    from alliance_risk.pipeline.store.local import STATS, quiet_consolidated, write_result
    from alliance_risk.pipeline.store.nodes import write_totals

    store, res = published
    fs = ForecastStore(store, create=False)
    ds, totals = fs.open_run(res.run_id).load(), fs.load_totals(res.run_id)
    sums = write_result(tmp_path / "memory", ds, totals)
    with quiet_consolidated():
        ds.to_zarr(tmp_path / "disk", mode="w", zarr_format=3, consolidated=True)
    write_totals(tmp_path / "disk" / STATS, totals)
    files = sorted(p.relative_to(tmp_path / "disk") for p in (tmp_path / "disk").rglob("*"))
    assert (
        sorted(p.relative_to(tmp_path / "memory") for p in (tmp_path / "memory").rglob("*"))
        == files
    )
    assert tree_digest(tmp_path / "memory") == tree_digest(tmp_path / "disk")
    assert len(sums) > 200 and sums == {
        p.as_posix(): hashlib.sha256((tmp_path / "disk" / p).read_bytes()).hexdigest()
        for p in files
        if (tmp_path / "disk" / p).is_file()
    }


def test_a_run_sealed_in_memory_is_the_run_sealed_on_disk(published, tmp_path):
    """Publication seals a run (its checksums, then its metadata consolidated once) in
    memory, kept samples' metadata included; the tree is byte for byte what sealing the
    written files on disk gives (``record_checksums``, as the object store still does)."""
    import shutil

    from alliance_risk.pipeline.store.local import record_checksums, write_result
    from alliance_risk.pipeline.store.verify import verify

    store, res = published
    fs = ForecastStore(store, create=False)
    ds, totals = fs.open_run(res.run_id).load(), fs.load_totals(res.run_id)
    kept = tmp_path / "kept"  # a kept-samples group, as a run with --keep-samples stages it
    zarr.open_group(kept, mode="w", zarr_format=3).create_array("x", data=np.arange(40.0))
    for with_samples in (False, True):
        disk, memory = tmp_path / f"disk{with_samples}", tmp_path / f"memory{with_samples}"
        sums = write_result(disk, ds, totals)
        moved = {}
        if with_samples:
            shutil.copytree(kept, disk / "samples")
            moved = {f"samples/{p.relative_to(kept).as_posix()}": p for p in kept.rglob("*")}
            moved = {k: p for k, p in moved.items() if p.is_file()}
        record_checksums(disk, sums)
        write_result(memory, ds, totals, seal=moved)
        if with_samples:
            shutil.copytree(kept, memory / "samples")
        assert tree_digest(memory) == tree_digest(disk)
        group = zarr.open_group(memory, mode="r")
        assert ("samples" in group) is with_samples
    shutil.copytree(store, tmp_path / "copy")  # the shared store stays as it is
    fs = ForecastStore(tmp_path / "copy", create=False)
    shutil.rmtree(fs.run_path(res.run_id))
    shutil.copytree(tmp_path / "memoryTrue", fs.run_path(res.run_id))
    assert verify(fs, res.run_id) == []  # every file's checksum, the samples' included
    (fs.run_path(res.run_id) / "samples" / "x" / "c" / "0").write_bytes(b"corrupt")
    assert verify(fs, res.run_id) != []


def test_a_published_run_opens_lazily_without_dask(published):
    """A run is a few MB: it opens lazily (read on first use), not as dask arrays (a graph
    per read made the flows' headline tables 3-4 times slower)."""
    store, res = published
    ds = ForecastStore(store, create=False).open_run(res.run_id)
    assert all(ds[v].chunks is None for v in ds.variables)
    assert not any(ds[v].variable._in_memory for v in ds.data_vars)
    assert float(ds["p_intact"][-1]) == float(res.dataset["p_intact"][-1])
