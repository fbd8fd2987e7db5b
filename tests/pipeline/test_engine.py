"""The distributed engine: bitwise reproducibility whatever the cluster; resume; extend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster
from store_helpers import BLOCK, FailingSink, dataset_digest, totals_digest

from alliance_risk.pipeline.api import extend_run, resume_run, run_forecast
from alliance_risk.pipeline.engine.plan import PlanError, RunSpec
from alliance_risk.pipeline.store import ForecastStore
from alliance_risk.pipeline.store.verify import verify

SIMS = 3 * BLOCK


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    store = tmp_path_factory.mktemp("ref") / "f.zarr"
    res = run_forecast(
        "nato-2025",
        sims=SIMS,
        seed=7,
        store=store,
        block_size=BLOCK,
        executor="inprocess",
        progress=False,
    )
    return res


@pytest.mark.cluster
@pytest.mark.parametrize(
    "workers, processes",
    [(1, True), (4, True), (2, False)],
    ids=["1-process", "4-processes", "2-threads"],
)
def test_results_are_bitwise_identical_whatever_the_cluster(
    tmp_path, reference, workers, processes
):
    """The reference ran in process; Dask on any cluster gives bitwise the same run."""
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",
            silence_logs=40,
        ) as cl,
        Client(cl) as c,
    ):
        res = run_forecast(
            "nato-2025",
            sims=SIMS,
            seed=7,
            store=tmp_path / "f.zarr",
            block_size=BLOCK,
            client=c,
            progress=False,
        )
    assert dataset_digest(res.dataset) == dataset_digest(reference.dataset)
    assert totals_digest(res.store) == totals_digest(reference.store)


def test_a_different_seed_gives_different_results(tmp_path, reference):
    res = run_forecast(
        "nato-2025",
        sims=SIMS,
        seed=8,
        store=tmp_path / "f.zarr",
        block_size=BLOCK,
        executor="inprocess",
        progress=False,
    )
    assert (
        dataset_digest(res.dataset)["p_conflict"] != dataset_digest(reference.dataset)["p_conflict"]
    )
    # the stage breakdown (benchmarks print it): every stage measured, the parts within the whole
    st = res.stages
    assert set(st) == {
        *("sample", "kernel", "kernel_cpu", "reduce", "samples", "block"),
        *("save", "fold", "fold_end", "publish"),
    }
    assert st["kernel"] == res.kernel_seconds > 0 and st["block"] == res.block_seconds
    assert 0 < st["kernel_cpu"] <= st["kernel"] * 1.05  # thread CPU within the wall (+ tick)
    parts = st["sample"] + st["kernel"] + st["reduce"] + st["samples"]
    assert 0 < parts <= st["block"] and st["fold"] > 0 and 0 < st["publish"] < res.seconds
    assert 0 <= st["fold_end"] < st["fold"]  # in order, in process: folded as each landed


@pytest.mark.slow
def test_killed_run_resumes_without_recomputing_blocks(tmp_path):
    """Kill a CLI run with SIGKILL after some blocks; resume it; compare with a clean run."""
    store = tmp_path / "f.zarr"
    blocks, block = 16, 1000
    sims = blocks * block
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alliance_risk.pipeline.apps.cli",
            "run",
            "nato-2025",
            "--sims",
            str(sims),
            "--seed",
            "11",
            "--store",
            str(store),
            "--block-size",
            str(block),
            "--executor",
            "inprocess",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    fs = None
    deadline = time.time() + 240
    while time.time() < deadline:
        if (store / "staging").exists() and (staged := ForecastStore(store).staged_runs()):
            fs = ForecastStore(store, create=False)
            if len(fs.done_blocks(staged[0])) >= 3:
                break
        if proc.poll() is not None:
            pytest.fail(f"run ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id = staged[0]
    done = len(fs.done_blocks(run_id))
    assert 3 <= done < blocks
    assert fs.catalog() == []  # the killed run was never published
    res = resume_run(store, run_id, executor="inprocess", progress=False)
    assert res.blocks_run == blocks - done
    clean = run_forecast(
        "nato-2025",
        sims=sims,
        seed=11,
        store=tmp_path / "g.zarr",
        block_size=block,
        executor="inprocess",
        progress=False,
    )
    assert dataset_digest(res.dataset) == dataset_digest(clean.dataset)
    assert [e["run_id"] for e in fs.catalog()] == [run_id]


def test_resume_with_a_different_scenario_is_refused(tmp_path):
    store = tmp_path / "f.zarr"
    fs = ForecastStore(store)
    fs.create_staging(
        "r1",
        {
            "run_id": "r1",
            "scenario_name": "nato-2025",
            "scenario_toml": open(
                __import__("alliance_risk.models.scenario", fromlist=["x"]).builtin_path(
                    "nato-2025"
                )
            ).read(),
            "scenario_sha256": "0" * 64,
            "spec": {},
            "keep_samples": False,
            "target_se": None,
            "max_sims": 1,
            "extends": None,
            "created": "",
        },
    )
    with pytest.raises(PlanError, match="differs"):
        resume_run(store, "r1", "detente", executor="inprocess")


def test_adaptive_sample_size_meets_the_target_se(tmp_path):
    res = run_forecast(
        "nato-2025",
        sims=BLOCK,
        seed=3,
        store=tmp_path / "f.zarr",
        block_size=BLOCK,
        target_se=0.006,
        executor="inprocess",
        progress=False,
    )
    ds = res.dataset
    for name in ("p_intact", "p_any_withdrawal", "p_conflict"):
        assert float(ds[f"{name}_se"][-1]) <= 0.006
    assert res.sims > BLOCK
    assert res.sims % BLOCK == 0


def test_keep_samples_stores_per_simulation_results(tmp_path):
    import zarr

    res = run_forecast(
        "nato-2025",
        sims=2 * BLOCK,
        seed=5,
        store=tmp_path / "f.zarr",
        block_size=BLOCK,
        keep_samples=True,
        executor="inprocess",
        progress=False,
    )
    g = zarr.open_group(str(res.store / "samples"), mode="r")
    params = g["parameters"][:]
    assert params.shape == (2 * BLOCK, len(g["parameter"][:]))
    assert np.isfinite(params).all()
    onset = g["onset_step"][:]
    p = float((onset <= 40).mean())
    assert p == pytest.approx(float(res.dataset["p_conflict"][-1]))
    wd = g["withdrawal_step"][:]
    assert wd.shape == (2 * BLOCK, 32)


@pytest.mark.parametrize(
    ("moment", "keep"),
    [
        ("samples moved in", True),
        ("group renamed into runs/", True),
        ("group renamed into runs/", False),
    ],
)
def test_a_publication_killed_before_its_listing_resumes(tmp_path, moment, keep):
    """Publication moves the kept samples into the run's group, renames the group into
    runs/, then lists it in the catalog: a run killed after either move is resumed, with
    its samples, the same as a run never interrupted. (The samples were deleted, or
    stranded in the unlisted group, and a fresh empty set was published; a run renamed into
    runs/ could not be resumed at all: the rename failed on the existing directory.)"""
    from alliance_risk.pipeline.store import local

    kw = dict(sims=2 * BLOCK, seed=5, block_size=BLOCK, keep_samples=keep, progress=False)
    clean = run_forecast("nato-2025", store=tmp_path / "clean.zarr", executor="inprocess", **kw)
    store = tmp_path / "f.zarr"
    name = "fsync_tree" if moment == "samples moved in" else "fsync_path"
    original = getattr(local, name)

    def killed(path):  # the process dies at this moment
        path = Path(path)
        renamed = path.name == "runs" and any(p.is_dir() for p in path.iterdir())
        if moment == "samples moved in" or renamed:
            raise KeyboardInterrupt
        original(path)

    setattr(local, name, killed)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_forecast("nato-2025", store=store, executor="inprocess", **kw)
    finally:
        setattr(local, name, original)
    fs = ForecastStore(store, create=False)
    (run_id,) = fs.staged_runs()
    assert fs.catalog_ids() == [] and not (fs.staging(run_id) / "samples").exists()
    res = resume_run(store, run_id, executor="inprocess", progress=False)
    if keep:
        assert _samples_digest(res.store / "samples") == _samples_digest(clean.store / "samples")
    assert dataset_digest(res.dataset) == dataset_digest(clean.dataset)
    assert fs.catalog_ids() == [run_id] and fs.staged_runs() == [] and verify(fs) == []


def _samples_digest(path) -> dict[str, str]:
    import hashlib

    import zarr

    g = zarr.open_group(str(path), mode="r")
    return {
        name: hashlib.sha256(np.ascontiguousarray(a[:]).tobytes()).hexdigest()
        for name, a in g.arrays()
        if name != "parameter"
    }


@pytest.mark.slow
def test_extending_a_run_with_samples_equals_a_larger_run(tmp_path):
    """Per-simulation samples of N extended to 2N equal those of a 2N run; the base is untouched."""
    store = tmp_path / "f.zarr"
    common = dict(seed=5, block_size=BLOCK, keep_samples=True, executor="inprocess", progress=False)
    base = run_forecast("nato-2025", sims=2 * BLOCK, store=store, **common)
    before = _samples_digest(base.store / "samples")
    ext = extend_run(store, base.run_id, 4 * BLOCK, executor="inprocess", progress=False)
    assert ext.blocks_run == 2
    full = run_forecast("nato-2025", sims=4 * BLOCK, store=tmp_path / "g.zarr", **common)
    assert _samples_digest(ext.store / "samples") == _samples_digest(full.store / "samples")
    assert dataset_digest(ext.dataset) == dataset_digest(full.dataset)
    assert _samples_digest(base.store / "samples") == before
    assert ext.dataset.attrs["extends"] == base.run_id
    with pytest.raises(PlanError, match="must exceed"):
        extend_run(store, base.run_id, 2 * BLOCK, executor="inprocess", progress=False)


@pytest.mark.parametrize("flaky", [False, True], ids=["same-error", "different-errors"])
def test_a_failing_block_is_retried_once_not_twelve_times(client, tmp_path, flaky):
    """The same error twice stops the run at once, naming the block, the reason and the
    resume command; errors that differ (a flaky node) are tried MAX_TRIES times."""
    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.engine.execute import MAX_TRIES, run_blocks
    from alliance_risk.pipeline.engine.progress import BlockError

    sc = load_scenario("nato-2025")
    spec = RunSpec(sc.name, 1, BLOCK, "mc", BLOCK)
    saved: list[int] = []
    log = tmp_path / "calls"
    how = f"failed {MAX_TRIES} times" if flaky else "failed twice with the same error"
    with pytest.raises(BlockError, match=rf"block 0 {how} \(ValueError: non-finite.*--resume r-x"):
        run_blocks(
            client, sc, spec, [0], lambda b, st: saved.append(b), run_key="r-x",
            sink=FailingSink(log, flaky), progress=False,
        )  # fmt: skip
    assert saved == []
    assert log.read_text().split() == ["0"] * (MAX_TRIES if flaky else 2)


@pytest.mark.slow
def test_a_retried_adaptive_run_resumes_after_it_grew(tmp_path):
    """With target_se a staged run grows past the sims first asked; retrying the same call
    (same run id) must resume it, while a different plan is still refused."""
    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.api import _manifest
    from alliance_risk.pipeline.engine.plan import RunSpec

    sc = load_scenario("nato-2025")
    grown = RunSpec(sc.name, 3, 2 * BLOCK, "mc", BLOCK)
    store = tmp_path / "f.zarr"
    fs = ForecastStore(store)
    fs.create_staging(
        "adaptive-1", _manifest("adaptive-1", sc, grown, target_se=0.5 - 1e-9, max_sims=2 * BLOCK)
    )
    kw = dict(seed=3, block_size=BLOCK, store=store, executor="inprocess", progress=False)
    with pytest.raises(PlanError, match="different scenario or plan"):
        run_forecast(sc, sims=BLOCK, run_id="adaptive-1", **{**kw, "seed": 4}, target_se=0.4)
    res = run_forecast(sc, sims=BLOCK, target_se=0.4, run_id="adaptive-1", **kw)
    assert res.sims == 2 * BLOCK and res.blocks_run == 2


def test_the_pipelines_worker_processes_run_without_the_profiler_and_with_warm_code():
    """A LocalCluster of processes as the pipeline starts it: distributed's statistical
    profiler off (it holds the GIL 100 times a second while the kernel waits for it); a fresh
    worker has not loaded the kernel, and after warm_workers it has, with glibc's malloc
    thresholds set (``mallopt``: the nanny's environment may carry MALLOC_TRIM_THRESHOLD_)."""
    import dask

    from alliance_risk.pipeline.engine.execute import local_cluster, warm_workers

    def facts(dask_worker):
        from alliance_risk.models import fused
        from alliance_risk.pipeline.engine import execute

        return (
            dask.config.get("distributed.worker.profile.enabled"),
            "profile" in dask_worker.periodic_callbacks,
            execute._malloc_tuned,
            len(fused._step.overloads) > 0,  # the compiled step, loaded from numba's cache
        )

    with local_cluster(1, processes=True) as cluster, Client(cluster) as c:
        ((enabled, profiling, tuned, loaded),) = c.run(facts).values()
        assert enabled is False and not profiling
        assert not tuned and not loaded
        warm_workers(c)
        ((_, _, tuned, loaded),) = c.run(facts).values()
        assert tuned and loaded


def test_the_local_default_runs_its_workers_as_threads_without_the_profiler(monkeypatch):
    """By default the local cluster's workers are threads of this process (the kernel runs
    without the GIL), one per requested worker, with the profiler off;
    ALLIANCE_RISK_LOCAL_PROCESSES=1 gives worker processes instead."""
    from alliance_risk.pipeline.engine.execute import PROCESSES_ENV, ClusterError, local_cluster

    def facts(dask_worker):
        return os.getpid(), dask_worker.state.nthreads, "profile" in dask_worker.periodic_callbacks

    monkeypatch.delenv(PROCESSES_ENV, raising=False)
    with local_cluster(2) as cluster, Client(cluster) as c:
        got = list(c.run(facts).values())
    assert got == [(os.getpid(), 1, False)] * 2
    monkeypatch.setenv(PROCESSES_ENV, "1")
    with local_cluster(1) as cluster, Client(cluster) as c:
        ((pid, nthreads, profiling),) = c.run(facts).values()
    assert pid != os.getpid() and nthreads == 1 and not profiling
    monkeypatch.setenv(PROCESSES_ENV, "maybe")
    with pytest.raises(ClusterError, match=r"ALLIANCE_RISK_LOCAL_PROCESSES must be 1 or 0.*maybe"):
        local_cluster(1)
