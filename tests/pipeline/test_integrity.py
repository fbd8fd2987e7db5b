"""Integrity of the store: checksummed blocks that resume recomputes when damaged, checksums
of published runs that ``alliance-risk verify`` checks, a full disk that stops a run cleanly."""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import zarr
from store_helpers import BLOCK, dataset_digest, run_cli, totals_digest

from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.api import _manifest, resume_run, run_forecast
from alliance_risk.pipeline.engine.block import simulate_block
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.store import ForecastStore

SEED = 11
N = 4  # blocks of the reference run
KW = dict(seed=SEED, block_size=BLOCK, executor="inprocess", progress=False)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A clean 4-block run: what every repaired or resumed run must equal bitwise."""
    store = tmp_path_factory.mktemp("ref") / "f.zarr"
    return run_forecast("nato-2025", sims=N * BLOCK, store=store, **KW)


def _staged_with_blocks(store, run_id: str) -> list:
    sc = load_scenario("nato-2025")
    spec = RunSpec(sc.name, SEED, N * BLOCK, "mc", BLOCK)
    fs = ForecastStore(store)
    fs.create_staging(run_id, _manifest(run_id, sc, spec, max_sims=N * BLOCK))
    for b in range(N):
        fs.save_block(run_id, b, simulate_block(sc, spec, b)[0])
    return sorted((fs.staging(run_id) / "blocks").glob("*/c/0"))  # each block's bytes


def _flip_byte(path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def test_damaged_blocks_are_recomputed_on_resume_with_identical_results(
    tmp_path, reference, caplog
):
    ref = reference
    store = tmp_path / "f.zarr"
    blocks = _staged_with_blocks(store, "hurt")
    blocks[0].write_bytes(blocks[0].read_bytes()[:100])  # truncated by a crash (head -c 100)
    _flip_byte(blocks[1])  # bit rot inside the data
    shutil.rmtree(blocks[2].parent.parent)  # missing: the whole block node
    with caplog.at_level(logging.WARNING, logger="alliance_risk"):  # block 3 stays intact
        res = resume_run(store, "hurt", executor="inprocess", progress=False)
    assert res.blocks_run == 3  # the intact block is kept
    damaged = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(damaged) == 2 and all("\n" not in m for m in damaged)
    assert "block 0 of hurt is damaged" in damaged[0] and "cannot be read" in damaged[0]
    assert "block 1 of hurt is damaged" in damaged[1]
    assert dataset_digest(res.dataset) == dataset_digest(ref.dataset)
    assert totals_digest(res.store) == totals_digest(ref.store)


def test_verify_finds_a_flipped_chunk_byte_and_a_catalog_entry_without_a_run(tmp_path, reference):
    store = tmp_path / "f.zarr"
    a = run_forecast("nato-2025", sims=BLOCK, store=store, **KW)
    b = run_forecast("detente", sims=BLOCK, store=store, **KW)
    out = run_cli("verify", str(store))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    chunk = a.store / "burden_quantile" / "c" / "0" / "0" / "0"
    _flip_byte(chunk)
    os.rename(b.store, tmp_path / "moved")  # the run is gone, its catalog entry stays
    out = run_cli("verify", str(store))
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 1
    assert any(a.run_id in ln and "burden_quantile/c/0/0/0" in ln and "checksum" in ln
               for ln in lines), lines  # fmt: skip
    assert any(b.run_id in ln and "missing" in ln for ln in lines), lines
    assert len(lines) == 2, lines
    # one run only, and the repair: the dangling entry goes, no data is touched
    assert run_cli("verify", str(store), b.run_id).returncode == 1
    before = sorted(p.name for p in (store / "runs").iterdir())
    out = run_cli("verify", str(store), "--repair")
    assert out.returncode == 1 and "dropped" in out.stdout
    assert ForecastStore(store).catalog_ids() == [a.run_id]
    assert sorted(p.name for p in (store / "runs").iterdir()) == before
    _flip_byte(chunk)  # flipped back: only the repaired store is left, and it is whole
    assert run_cli("verify", str(store)).stdout.strip() == "ok"


def _limited(max_bytes: int):
    def preexec():  # writes past the limit fail with EFBIG (as a full disk fails them)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return preexec


@pytest.mark.slow
def test_a_full_disk_stops_the_run_cleanly_and_it_resumes(tmp_path, reference):
    store = tmp_path / "f.zarr"
    cmd = [sys.executable, "-m", "alliance_risk.pipeline.apps.cli", "run", "nato-2025",
           "--sims", str(N * BLOCK), "--block-size", str(BLOCK), "--seed", str(SEED),
           "--executor", "inprocess", "--no-progress", "--store", str(store)]  # fmt: skip
    out = subprocess.run(
        cmd, capture_output=True, text=True, preexec_fn=_limited(1_000_000), timeout=300
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 3, out.stderr
    assert len(lines) == 1 and "no space left" in lines[0] and "--resume" in lines[0], lines
    fs = ForecastStore(store, create=False)
    assert fs.catalog_ids() == [] and len(fs.staged_runs()) == 1
    staged = fs.staged_runs()[0]
    assert not list(fs.staging(staged).rglob("*.tmp"))  # no partial file left behind
    assert fs.read_manifest(staged)["run_id"] == staged
    res = resume_run(store, staged, executor="inprocess", progress=False)
    assert dataset_digest(res.dataset) == dataset_digest(reference.dataset)
    assert np.isfinite(res.dataset["p_intact"]).all()


def _main_with(argv: list[str]):
    """``main`` with one extra command, ``boom``, that fails as a bug would."""
    import io
    from contextlib import redirect_stderr

    from alliance_risk.pipeline.apps.cli import main

    def extend(sub):
        p = sub.add_parser("boom")
        p.set_defaults(func=lambda args: {}["missing"])

    err = io.StringIO()
    with redirect_stderr(err):
        rc = main(argv, extend=extend)
    return rc, err.getvalue()


def test_exit_status_says_whose_problem_it_is(tmp_path):
    """0 success, 2 the input (here an unknown store), one line."""
    assert run_cli("scenarios").returncode == 0
    bad = run_cli("show", str(tmp_path / "nowhere.zarr"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such store" in bad.stderr
    # exit 3 (the environment): test_a_full_disk_stops_the_run_cleanly_and_it_resumes and,
    # for an unreachable scheduler, tests/pipeline/test_store.py


def test_an_unexpected_error_is_one_line_exit_1_and_a_traceback_only_with_debug():
    rc, err = _main_with(["boom"])
    assert rc == 1 and err.count("\n") == 1
    assert "unexpected error: KeyError: 'missing'" in err and "--debug" in err
    assert "Traceback" not in err
    rc, err = _main_with(["--debug", "boom"])
    assert rc == 1 and "Traceback (most recent call last)" in err


def _as_format_1(store, run_id: str, staged: str) -> None:
    """Rewrite a current store the way format 1 laid it out: statistics as stats/<id>.npz,
    a staged run's manifest as run.json and its blocks as blocks/<b>.npz, a .lock file, no
    checksums (they came with format 2)."""
    fs = ForecastStore(store, create=False)
    totals = fs.load_totals(run_id)
    (store / "stats").mkdir()
    np.savez(store / "stats" / f"{run_id}.npz", **totals)
    shutil.rmtree(fs.run_path(run_id) / "stats")
    shutil.rmtree(fs.run_path(run_id) / "integrity")
    zarr.consolidate_metadata(str(fs.run_path(run_id)))
    folder = fs.staging(staged)
    (folder / "run.json").write_text(json.dumps(fs.read_manifest(staged)))
    for b in sorted(fs.done_blocks(staged)):
        np.savez(folder / "blocks" / f"{b:06d}.npz", **fs.load_block(staged, b))
        shutil.rmtree(folder / "blocks" / f"{b:06d}")
    for doc in (
        folder / "zarr.json",
        folder / "blocks" / "zarr.json",
        store / "staging" / "zarr.json",
    ):
        doc.unlink()
    (store / ".lock").touch()
    g = fs.open_group(store, mode="r+")
    g.attrs.update(alliance_risk_store=1, schema_version=1)


@pytest.mark.slow
def test_a_format_1_store_is_readable_and_one_command_migrates_it(tmp_path, reference):
    import warnings

    import xarray as xr

    store = tmp_path / "old.zarr"
    base = run_forecast("nato-2025", sims=BLOCK, store=store, **KW)
    (store / "staging").mkdir(exist_ok=True)
    _staged_with_blocks(store, "half")  # 4 blocks staged ...
    shutil.rmtree(ForecastStore(store).staging("half") / "blocks" / "000002")  # ... 3 done
    _as_format_1(store, base.run_id, "half")
    old = ForecastStore(store, create=False)
    assert old.format == 1 and old.catalog_ids() == [base.run_id]  # readable as it is
    assert dataset_digest(old.open_run(base.run_id)) == dataset_digest(base.dataset)
    assert set(old.load_totals(base.run_id)) == set(
        ForecastStore(reference.store.parent.parent).load_totals(reference.run_id)
    )
    out = run_cli("run", "--sims", str(BLOCK), "--executor", "inprocess", "--store", str(store))
    assert out.returncode == 2 and "alliance-risk migrate" in out.stderr  # no write into it
    out = run_cli("migrate", str(store))
    assert out.returncode == 0 and "now store format 2" in out.stdout, out.stderr
    assert "half: staged run with 3 blocks" in out.stdout
    res = resume_run(store, "half", executor="inprocess", progress=False)
    assert res.blocks_run == 1
    assert dataset_digest(res.dataset) == dataset_digest(reference.dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dict(zarr.open_group(str(store), mode="r").members(max_depth=None))
        xr.open_datatree(str(store), engine="zarr", consolidated=False)
    assert not (store / ".lock").exists() and not (store / "stats").exists()
