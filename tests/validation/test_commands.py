"""The validation commands end to end: stored beside the runs, reproducible, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from store_helpers import run_cli

from alliance_risk.pipeline.store import open_store
from alliance_risk.pipeline.validation import atop
from alliance_risk.pipeline.validation import calibrate as C
from alliance_risk.pipeline.validation.products import (
    KIND,
    run_backtest,
    run_calibration,
    run_hindcast,
)
from alliance_risk.pipeline.validation.report import write_report


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    store = tmp_path_factory.mktemp("v") / "v.zarr"
    vb, bt = run_backtest(store, sims=4000, seed=3, executor="inprocess", progress=False)
    vh, hc = run_hindcast(store, origins=(1970, 1990), sims=100, seed=3, progress=False)
    vc, cal = run_calibration(store, run=bt.attrs["run_id"])
    return store, (vb, bt), (vh, hc), (vc, cal)


def test_backtest_is_stored_beside_its_run_and_meets_its_targets(validated):
    store, (vb, bt), *_ = validated
    fs = open_store(store, create=False)
    assert next(e["id"] for e in fs.products(KIND)) == vb
    assert bt.attrs["run_id"] in fs.catalog_ids()
    a = bt.attrs
    # the start state reproduces the 3 allies at >= 2% of 2014 exactly
    assert int((bt["burden_2014"] >= 2.0).sum()) == 3
    # the targets: the 2024 count inside the central 90% band, CRPS below
    # persistence (its whole bootstrap interval), both coefficients covered
    assert a["count_covers_observed"] and a["gap_coef_covers"] and a["frontline_coef_covers"]
    assert a["crps_ratio_persistence"][2] < 1
    assert bt.sizes["ally"] == 31 and "ISL" not in bt["ally"].values


def test_scores_are_reproducible_from_the_seed(validated, tmp_path):
    _, (_vb, bt), *_ = validated
    _, again = run_backtest(
        tmp_path / "w.zarr", sims=4000, seed=3, executor="inprocess", progress=False
    )
    np.testing.assert_array_equal(again["crps"].values, bt["crps"].values)
    assert again.attrs["mean_crps"] == bt.attrs["mean_crps"]


def test_calibration_narrows_the_priors_it_can_see(validated):
    *_, (_vc, cal) = validated
    assert 0 < cal.attrs["accepted_draws"] < cal.attrs["sims"]
    assert set(cal["parameter"].values) == set(C.CALIBRATED)
    width = lambda v: float(v.sel(q="p95") - v.sel(q="p05"))  # noqa: E731
    narrower = [
        width(cal["posterior"].sel(parameter=p)) <= width(cal["prior"].sel(parameter=p))
        for p in C.CALIBRATED
    ]
    assert sum(narrower) >= 3
    # NATO's 0 exits pull its posterior mean below the population's
    assert cal.attrs["exit_nato_mean"] < cal.attrs["exit_population_mean"]


def test_exit_prior_is_the_negative_binomial_maximum():
    from scipy.stats import nbinom

    x, e = C.exit_groups(atop.load())
    ep = C.fit_exit_prior()

    def ll(a, b):
        return nbinom.logpmf(x, a, b / (b + e)).sum()

    best = ll(ep.shape, ep.rate)
    for da, db in ((1.05, 1), (0.95, 1), (1, 1.05), (1, 0.95)):
        assert ll(ep.shape * da, ep.rate * db) < best
    assert ep.nato_shape == pytest.approx(ep.shape) and ep.nato_rate == pytest.approx(
        ep.rate + 1444
    )


def test_report_writes_every_section_and_figure(validated, tmp_path):
    _, (_, bt), (_, hc), (_, cal) = validated
    path = write_report(bt, hc, cal, tmp_path)
    text = path.read_text()
    for heading in ("NATO burden back-test", "ATOP hindcast", "Calibration"):
        assert f"## {heading}" in text
    assert (tmp_path / "img" / "validation-backtest.png").stat().st_size > 10_000
    assert (tmp_path / "img" / "validation-reliability.png").stat().st_size > 10_000
    assert f"{bt.attrs['mean_crps'][0]:.3f}" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hindcast", "--origins", "1930"], "origin 1930 is outside the data"),
        (["hindcast", "--origins", "2015"], "origin 2015 is outside the data"),
        (["calibrate", "--run", "nato-2025"], "no such store"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, argv, message):
    store = tmp_path / "new.zarr"
    r = run_cli(*argv, "--store", str(store))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not store.exists()


def test_a_run_that_is_not_a_backtest_is_refused(validated, tmp_path):
    store, *_ = validated
    r = run_cli("backtest", "--store", str(store), "--run", "nope")
    assert r.returncode == 2 and "nope" in r.stderr
