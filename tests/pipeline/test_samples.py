"""Kept samples' staging: the group appears only complete, and a resumed run finds it right.

A resumed run trusts a staged samples group whose ``zarr.json`` exists, so that file must be
the group's last write (object stores, here fsspec's in-memory filesystem, which stamps
every file with the time it was written) or the group must appear at once (a local store:
built beside, renamed into place).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import zarr
from fsspec.implementations.memory import MemoryFileSystem
from store_helpers import BLOCK

from alliance_risk.models.kernel import simulate
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.store import ForecastStore, open_store
from alliance_risk.pipeline.store import samples as smp


@pytest.fixture
def memory_store():
    """An object store in fsspec's memory filesystem; yields (url, its key prefix)."""
    name = f"samples-{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}/f.zarr", f"/{name}/f.zarr"
    MemoryFileSystem().rm(f"/{name}", recursive=True)


def _written(prefix: str) -> list[str]:
    """The keys under ``prefix``, in the order they were last written (a rewrite replaces
    the file, and the store keeps its keys in the order they were first written)."""
    files = [
        (f.modified, k) for k, f in MemoryFileSystem.store.items() if k.startswith(prefix + "/")
    ]
    return [k[len(prefix) + 1 :] for _, k in sorted(files, key=lambda mk: mk[0])]


def _metadata_keys(sc) -> set[str]:
    names = [n for n in smp.ARRAYS if n != "event_occurred" or sc.events] + ["parameter"]
    return {"zarr.json"} | {f"{n}/zarr.json" for n in names}


def test_a_new_samples_group_is_written_with_its_zarr_json_last(memory_store):
    url, key = memory_store
    sc = load_scenario("nato-2025")
    fs = open_store(url)
    sink = smp.prepare(fs, "r-1", sc, 4 * BLOCK, BLOCK)
    written = _written(f"{key}/staging/r-1/samples")
    assert written[-1] == "zarr.json"
    assert _metadata_keys(sc) <= set(written)
    g = zarr.open_group(sink.location, mode="r")
    assert g["withdrawal_step"].shape == (4 * BLOCK, len(sc.members))
    assert list(g["parameter"][:]) == list(sc.parameter_names)


def test_an_extensions_samples_group_is_written_with_its_zarr_json_last(memory_store):
    url, key = memory_store
    sc = load_scenario("nato-2025")
    kw = dict(seed=3, block_size=BLOCK, keep_samples=True, executor="inprocess", progress=False)
    base = run_forecast(sc.name, sims=2 * BLOCK, store=url, **kw)
    fs = open_store(url, create=False)
    smp.prepare(fs, "r-2", sc, 3 * BLOCK, BLOCK, extends=base.run_id)
    written = _written(f"{key}/staging/r-2/samples")
    assert written[-1] == "zarr.json"
    assert {"onset_step/c/0", "onset_step/c/1"} <= set(written)  # the base's chunks, shared
    g = zarr.open_group(f"{url}/staging/r-2/samples", mode="r")
    was = zarr.open_group(f"{base.store}/samples", mode="r")
    assert g["onset_step"].shape == (3 * BLOCK,)
    np.testing.assert_array_equal(g["onset_step"][: 2 * BLOCK], was["onset_step"][:])
    assert (g["onset_step"][2 * BLOCK :] == -1).all()  # not yet run: the fill value
    assert was["onset_step"].shape == (2 * BLOCK,)  # the base run is untouched


def test_a_killed_creation_leaves_no_group_and_is_redone(tmp_path, monkeypatch):
    """Killed after a few files, a local creation leaves no ``samples`` group (the resumed
    run creates it whole), only a partial folder that the next creation replaces."""
    sc = load_scenario("nato-2025")
    fs = ForecastStore(tmp_path / "f.zarr")
    where = fs.staging("r-3") / "samples"
    write_bytes, calls = Path.write_bytes, []

    def killed(self, data):
        calls.append(self)
        if len(calls) == 5:
            raise KeyboardInterrupt  # the process dies here
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        smp.prepare(fs, "r-3", sc, 2 * BLOCK, BLOCK)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    assert not where.exists() and len(calls) == 5
    smp.prepare(fs, "r-3", sc, 2 * BLOCK, BLOCK)
    assert sorted(p.name for p in where.parent.iterdir()) == ["samples"]
    g = zarr.open_group(str(where), mode="r")
    assert {n for n, _ in g.arrays()} >= set(smp.ARRAYS) - {"event_occurred"}


def test_a_resumed_run_grows_samples_an_adaptive_step_left_short(tmp_path):
    """An adaptive run records its larger plan, then grows its samples: killed in between,
    the resumed run (prepared for the larger plan) grows them, keeping the rows written."""
    sc = load_scenario("nato-2025")
    fs = ForecastStore(tmp_path / "f.zarr")
    params = sample_parameters(sc, BLOCK, np.random.default_rng(1))
    res = simulate(sc, params, np.random.default_rng(2))
    sink = smp.prepare(fs, "r-4", sc, 2 * BLOCK, BLOCK)
    sink(1, params, res)
    sink = smp.prepare(fs, "r-4", sc, 4 * BLOCK, BLOCK)  # the resumed run's plan
    sink(3, params, res)
    g = zarr.open_group(sink.location, mode="r")
    assert g["parameters"].shape == (4 * BLOCK, len(sc.parameter_names))
    assert g["parameter"].shape == (len(sc.parameter_names),)  # names are not per simulation
    for b in (1, 3):
        rows = slice(b * BLOCK, (b + 1) * BLOCK)
        np.testing.assert_array_equal(g["parameters"][rows], params)
        np.testing.assert_array_equal(g["onset_step"][rows], res.events["onset_step"])
    assert (g["onset_step"][:BLOCK] == -1).all() and (
        g["onset_step"][2 * BLOCK : 3 * BLOCK] == -1
    ).all()


def test_dask_workers_write_the_samples_a_run_in_process_writes(tmp_path, client):
    """The sink runs on the workers (processes of the module's LocalCluster), each block's
    rows written through zarr's asynchronous API there: the same samples, bit for bit."""
    kw = dict(sims=3 * BLOCK, seed=4, block_size=BLOCK, keep_samples=True, progress=False)
    there = run_forecast("nato-2025", store=tmp_path / "a.zarr", client=client, **kw)
    here = run_forecast("nato-2025", store=tmp_path / "b.zarr", executor="inprocess", **kw)
    a = zarr.open_group(str(there.store / "samples"), mode="r")
    b = zarr.open_group(str(here.store / "samples"), mode="r")
    names = {n for n, _ in b.arrays()}
    assert {n for n, _ in a.arrays()} == names and "withdrawal_step" in names
    for name in names:
        np.testing.assert_array_equal(a[name][:], b[name][:], err_msg=name)
    assert (a["onset_step"][:] >= 0).all()  # every block written: no fill value left
