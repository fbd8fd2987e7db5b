"""Drivers and scenario discovery: known answers first, then the alliance model; the report."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr
from store_helpers import BLOCK

from alliance_risk.models.sampling import saltelli_rows
from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.products.analysis import prim, publish_analysis, rank_importance
from alliance_risk.pipeline.store import StoreError, open_store


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
def coupled_runs(tmp_path_factory):
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
        executor="inprocess",
        progress=False,
    )
    on_run = run_forecast(sc, **kw)
    off_run = run_forecast(off, **kw)
    run_forecast("detente", **{**kw, "sims": BLOCK, "keep_samples": False})  # for the report
    fs = open_store(store, create=False)
    return fs, publish_analysis(fs, on_run.run_id), publish_analysis(fs, off_run.run_id)


@pytest.mark.slow
def test_a_switched_off_coupling_has_no_influence(coupled_runs):
    _, (_, on), (_, off) = coupled_runs
    n = on.attrs["sims"]
    sel = dict(outcome="any_withdrawal", parameter="sceptic_hazard_ratio")
    assert float(on["spearman_low"].sel(**sel)) > 0  # a driver when coupled
    assert int(on["importance_rank"].sel(**sel)) <= 3
    assert abs(float(off["spearman"].sel(**sel))) < 4 / np.sqrt(n - 3)  # nothing when not


@pytest.mark.slow
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


def test_analysis_needs_kept_samples(tmp_path):
    res = run_forecast(
        "detente",
        sims=BLOCK,
        block_size=BLOCK,
        store=tmp_path / "f.zarr",
        executor="inprocess",
        progress=False,
    )
    with pytest.raises(StoreError, match="--keep-samples"):
        publish_analysis(open_store(tmp_path / "f.zarr", create=False), res.run_id)


@pytest.mark.slow
def test_report_writes_non_trivial_figures_and_a_page(coupled_runs, tmp_path):
    fs, _, _ = coupled_runs
    out = tmp_path / "report"
    cmd = [
        sys.executable,
        "-m",
        "alliance_risk.pipeline.apps.cli",
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
        "map",
        "differences",
    ]
    for name in names:
        assert f'src="{name}.png"' in page
        img = mpimg.imread(out / f"{name}.png")
        assert img.shape[0] > 300 and img.shape[1] > 500
        ink = (img[..., :3] < 0.9).any(axis=2).mean()  # share of non-white pixels
        assert 0.02 < ink < 0.9, (name, ink)
        assert (out / f"{name}.svg").stat().st_size > 10_000
    assert 'id="headlines"' in page and "p_conflict" in page


ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def test_sobol_indices_of_the_ishigami_function():
    """The pipeline's Saltelli design and estimator recover the known indices."""
    from alliance_risk.models.sampling import saltelli_unit
    from alliance_risk.pipeline.products.analysis import sobol_indices

    x = -np.pi + 2 * np.pi * saltelli_unit(3, 5, 0, 4096)
    y = np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    r = sobol_indices(y, 3)
    # conf is a bootstrap 95% half-width (about 2 standard errors): allow 2 of them
    assert np.all(np.abs(r["S1"] - ISHIGAMI_S1) <= 2 * r["S1_conf"])
    assert np.all(np.abs(r["ST"] - ISHIGAMI_ST) <= 2 * r["ST_conf"])
    assert np.all(r["ST_conf"] < 0.05)


def test_sobol_estimators_and_bootstrap_equal_salibs_given_its_seed():
    """Our vectorised estimators are SALib's: the same indices, and with the same seed the
    same bootstrap resamples, so the same intervals (SALib is the test oracle only)."""
    from SALib.analyze import sobol

    from alliance_risk.models.sampling import saltelli_unit
    from alliance_risk.pipeline.products.analysis import sobol_indices

    x = saltelli_unit(5, 9, 0, 600)
    y = x[:, 0] + 2 * x[:, 1] * x[:, 2] + (x[:, 3] > 0.7) + 0.1 * x[:, 4] ** 2
    problem = {"num_vars": 5, "names": list("abcde"), "bounds": [[0, 1]] * 5}
    ref = sobol.analyze(problem, y, calc_second_order=False, num_resamples=50, seed=7)
    mine = sobol_indices(y, 5, num_resamples=50, seed=7)
    for key in ("S1", "ST", "S1_conf", "ST_conf"):
        np.testing.assert_allclose(mine[key], ref[key], rtol=1e-12, atol=1e-15)
    again = sobol_indices(y, 5, num_resamples=50, seed=0)
    assert np.array_equal(again["S1_conf"], sobol_indices(y, 5, num_resamples=50)["S1_conf"])


def test_saltelli_rows_do_not_depend_on_how_base_points_are_split():
    from alliance_risk.models.sampling import saltelli_block

    sc = load_scenario("nato-2025")
    whole, src = saltelli_block(sc, 3, 0, 4)
    part, _ = saltelli_block(sc, 3, 2, 2)
    assert np.array_equal(whole[len(whole) // 2 :], part)
    d = len(sc.parameter_names) - sum(getattr(x, "dist", "") == "fixed" for x in sc.distributions)
    # A, AB_1..AB_d share A's innovations; B keeps its own; A' repeats A's inputs with B's
    assert src[1] == 0 and src[d] == 0 and src[d + 1] == d + 1 and src[d + 2] == d + 1
    assert np.array_equal(whole[d + 2], whole[0]) and src[d + 3] == d + 3


@pytest.mark.slow
def test_sobol_total_index_of_a_switched_off_coupling_is_zero(tmp_path):
    """Saltelli run distributed like any other; with politics -> withdrawal off, the
    sceptic hazard ratio cannot act: its total index is exactly 0 (shared innovations)."""
    sc = load_scenario("nato-2025")
    off = sc.replace(couplings=sc.couplings.model_copy(update={"politics_withdrawal": False}))
    res = run_forecast(
        off,
        sims=1,
        seed=2,
        sampler="saltelli",
        store=tmp_path / "f.zarr",
        executor="inprocess",
        progress=False,
    )
    rows = saltelli_rows(off)  # rows of one Saltelli base point
    assert res.dataset.attrs["keep_samples"] and res.dataset.attrs["block_size"] % rows == 0
    _, ds = publish_analysis(open_store(tmp_path / "f.zarr", create=False), res.run_id)
    for index in ("sobol_st", "sobol_s1"):  # f(AB_j) == f(A) row for row
        assert (ds[index].sel(parameter="sceptic_hazard_ratio").values == 0).all()
    # an input that does act has a positive total index (79 base points: wide intervals)
    assert (
        float(ds["sobol_st"].sel(outcome="any_withdrawal", parameter="withdrawal_base_hazard")) > 0
    )
    assert np.isnan(ds["sobol_st"].sel(parameter="pandemic_rate")).all()  # a fixed input
    share, conf = ds["explained_share"].values, ds["explained_share_conf"].values
    names = list(ds["outcome"].values)
    assert 0 < share[names.index("cohesion_final")] < 1  # neither pure noise nor deterministic
    assert conf[names.index("cohesion_final")] > 0
    # binary ones: ~0 at 79 points; a rare one (dissolution) may have no event among the 79
    # A rows, hence a covariance of exactly 0 in every bootstrap resample: 0 +- 0
    assert np.all(np.isfinite(share)) and np.all(conf >= 0)
    cm = ds["sobol_s1_conditional_mean"].sel(outcome="cohesion_final")
    s1 = ds["sobol_s1"].sel(outcome="cohesion_final")
    np.testing.assert_allclose(cm, s1 / share[names.index("cohesion_final")])


def test_explained_share_recovers_a_known_split_of_variance():
    """Y = x + e with Var x = Var e: the inputs explain half; no noise: all of it."""
    from alliance_risk.pipeline.products.analysis import explained_share

    rng = np.random.default_rng(4)
    n, d = 20_000, 3
    xa, xb = rng.uniform(size=n), rng.uniform(size=n)
    ea, eb = rng.normal(0, np.sqrt(1 / 12), (2, n))
    Y = np.zeros((n, d + 3))
    Y[:, : d + 1] = (xa + ea)[:, None]  # A and the AB rows (x_1 is the only active input)
    Y[:, d + 1] = xb + eb  # B
    Y[:, d + 2] = xa + eb  # A': A's inputs, B's innovations
    est, half = explained_share(Y.ravel(), d)
    assert abs(est - 0.5) <= max(2 * half, 0.02) and half < 0.05
    Y[:, d + 2] = Y[:, 0] = xa
    Y[:, d + 1] = xb
    assert explained_share(Y.ravel(), d)[0] == pytest.approx(1.0, abs=0.03)
