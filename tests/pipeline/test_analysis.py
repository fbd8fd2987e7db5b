"""Drivers and scenario discovery: known answers first, then the alliance model; the report."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr
from store_helpers import BLOCK

from models.scenario import load_scenario
from pipeline.analysis import prim, publish_analysis, rank_importance
from pipeline.api import run_forecast
from pipeline.store import StoreError, open_store


def test_prim_finds_a_known_box():
    rng = np.random.default_rng(0)
    X = rng.random((20_000, 5))
    y = ((X[:, 0] > 0.8) & (X[:, 1] < 0.3)).astype(float)
    r = prim(X, y)
    assert r.lower[0] == pytest.approx(0.8, abs=0.02) and r.upper[1] == pytest.approx(0.3, abs=0.02)
    assert np.isinf(r.lower[1:]).all() and np.isinf(r.upper[[0, 2, 3, 4]]).all()
    assert r.coverage[r.chosen] > 0.9 and r.density[r.chosen] > 0.9


def test_rank_importance_of_a_linear_model():
    rng = np.random.default_rng(1)
    n = 20_000
    X = rng.random((n, 6))
    X[:, 5] = 0.5  # a fixed input
    y = 3 * X[:, 2] + X[:, 3] + rng.normal(0, 0.1, n)
    r = rank_importance(X, y)
    assert list(r["rank"][[2, 3]]) == [1, 2] and r["rank"][5] == -1 and np.isnan(r["rho"][5])
    # exact Spearman of 3U + U' with U is ~0.94; for U' ~0.31
    assert r["low"][2] < 0.95 and r["rho"][2] > 0.9 and 0.25 < r["rho"][3] < 0.37
    se = 1 / np.sqrt(n - 3)  # under independence
    assert np.all(np.abs(r["rho"][[0, 1, 4]]) < 4 * se)


@pytest.fixture(scope="module")
def coupled_runs(tmp_path_factory, client):
    """The same LHS design with the politics -> withdrawal coupling on and off."""
    store = tmp_path_factory.mktemp("an") / "f.zarr"
    sc = load_scenario("nato-2025")
    off = sc.replace(couplings=sc.couplings.model_copy(update={"politics_withdrawal": False}))
    kw = dict(
        sims=4 * BLOCK,
        seed=8,
        sampler="lhs",
        block_size=BLOCK,
        keep_samples=True,
        store=store,
        client=client,
        progress=False,
    )
    on_run = run_forecast(sc, **kw)
    off_run = run_forecast(off, **kw)
    run_forecast("detente", **{**kw, "sims": BLOCK, "keep_samples": False})  # for the report
    fs = open_store(store, create=False)
    return fs, publish_analysis(fs, on_run.run_id), publish_analysis(fs, off_run.run_id)


def test_a_switched_off_coupling_has_no_influence(coupled_runs):
    _, (_, on), (_, off) = coupled_runs
    n = on.attrs["sims"]
    sel = dict(outcome="any_withdrawal", parameter="sceptic_hazard_ratio")
    assert float(on["spearman_low"].sel(**sel)) > 0  # a driver when coupled
    assert int(on["importance_rank"].sel(**sel)) <= 3
    assert abs(float(off["spearman"].sel(**sel))) < 4 / np.sqrt(n - 3)  # nothing when not


def test_analyses_are_stored_listed_and_readable(coupled_runs):
    fs, (aid, _), _ = coupled_runs
    assert aid in [a["id"] for a in fs.products("analyses")]
    again = xr.open_zarr(str(fs.product_path("analyses", aid)))
    assert again["spearman"].dims == ("outcome", "parameter")
    assert again["spearman"].sizes["parameter"] == len(load_scenario("nato-2025").parameter_names)
    for name in ("prim_coverage", "prim_density", "prim_support"):
        assert again[name].dims == ("prim_outcome",)
    base_rate = float(fs.open_run(again.attrs["run_id"])["p_any_withdrawal"][-1])
    assert float(again["prim_density"].sel(prim_outcome="any_withdrawal")) > base_rate


def test_analysis_needs_kept_samples(tmp_path, client):
    res = run_forecast(
        "detente",
        sims=BLOCK,
        block_size=BLOCK,
        store=tmp_path / "f.zarr",
        client=client,
        progress=False,
    )
    with pytest.raises(StoreError, match="--keep-samples"):
        publish_analysis(open_store(tmp_path / "f.zarr", create=False), res.run_id)


def test_report_writes_non_trivial_figures_and_a_page(coupled_runs, tmp_path):
    fs, _, _ = coupled_runs
    out = tmp_path / "report"
    cmd = [
        sys.executable,
        "-m",
        "flows.cli",
        "report",
        str(fs.root),
        "nato-2025",
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    page = (out / "index.html").read_text()
    names = [
        "fan_cohesion_credibility",
        "survival",
        "conflict",
        "members_remaining",
        "burden",
        "sensitivity",
        "comparison",
    ]
    for name in names:
        assert f'src="{name}.png"' in page
        img = mpimg.imread(out / f"{name}.png")
        assert img.shape[0] > 300 and img.shape[1] > 500
        ink = (img[..., :3] < 0.9).any(axis=2).mean()  # share of non-white pixels
        assert 0.02 < ink < 0.9, (name, ink)
        assert (out / f"{name}.svg").stat().st_size > 10_000
    assert 'id="headlines"' in page and "p_conflict" in page
