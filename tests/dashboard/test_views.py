"""The numbers behind the dashboard's panels (views.py), without a browser: they are what
the panels draw and the CSV exports hold, so they are checked against the stored runs."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from store_helpers import BLOCK

from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.apps import views
from alliance_risk.pipeline.apps.dashboard import Catalog, _nice_ceiling
from alliance_risk.pipeline.apps.geo import countries


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    store = tmp_path_factory.mktemp("views") / "f.zarr"
    kw = dict(sims=BLOCK, block_size=BLOCK, store=store, executor="inprocess", progress=False)
    run_forecast("nato-2025", seed=1, **kw)
    run_forecast("detente", seed=1, **kw)
    run_forecast("nato-2025", seed=2, **kw)
    return Catalog(str(store))


def test_members_are_sorted_with_their_intervals(catalog):
    ds = catalog.run(catalog.latest()["nato-2025"])
    m = views.members_at(ds, 20, "p_withdrawn")
    assert list(m["value"]) == sorted(m["value"], reverse=True)
    k = list(ds["member"].values).index(m["code"][0])
    assert m["value"][0] == ds["p_withdrawn"].values[20, k]
    assert (m["lo"][0], m["hi"][0]) == tuple(ds["p_withdrawn_ci95"].values[20, k])
    b = views.members_at(ds, 20, "burden_mean")  # a mean: +- 1.96 s.e.
    k = list(ds["member"].values).index(b["code"][0])
    se = ds["burden_mean_se"].values[20, k]
    assert b["hi"][0] - b["lo"][0] == pytest.approx(2 * 1.96 * se)
    with pytest.raises(KeyError, match="unknown member output"):
        views.members_at(ds, 20, "gdp")


def test_independent_differences_and_noise(catalog):
    latest = catalog.latest()
    base = catalog.run(latest["nato-2025"])
    other = catalog.run(latest["detente"])
    when = views.dates(base)[-1]
    d = views.differences(
        latest["nato-2025"], latest, when, catalog.headline_arrays, catalog.paired
    )
    assert set(d["scenario"]) == {"detente"} and set(d["errors"]) == {"independent"}
    assert d["d"] == sorted(d["d"])
    row = d["headline"].index("p_conflict")
    expect = float(other["p_conflict"][-1] - base["p_conflict"][-1])
    se = float(np.hypot(other["p_conflict_se"][-1], base["p_conflict_se"][-1]))
    assert d["d"][row] == pytest.approx(expect) and d["se"][row] == pytest.approx(se)
    assert d["within_noise"][row] == (abs(expect) <= 1.96 * se)


def test_history_at_a_date_and_runs_that_do_not_reach_it(catalog):
    runs = catalog.runs_of("nato-2025")
    when = np.datetime64("2030-01-01", "ms")
    h = views.history(runs, when, catalog.headline_arrays)
    assert h["run_id"] == [e["run_id"] for e in runs]
    for rid, p in zip(h["run_id"], h["p_intact"], strict=True):
        ds = catalog.run(rid)
        assert p == float(ds["p_intact"].sel(time="2030-01-01"))
    late = views.history(runs, np.datetime64("2040-01-01", "ms"), catalog.headline_arrays)
    assert late["run_id"] == []


def test_csv_is_the_panel_columns(catalog):
    rid = catalog.latest()["nato-2025"]
    cols = catalog.columns("member", {"run": rid, "member": "POL"})
    rows = list(csv.DictReader(io.StringIO(views.to_csv(cols))))
    assert [r["date"] for r in rows][:2] == ["2025-01-01", "2025-04-01"]
    assert [float(r["target"]) for r in rows] == list(cols["target"])
    diffs = views.to_csv(catalog.columns("differences", {"run": rid}))
    assert diffs.splitlines()[0].startswith("scenario,run_id,headline")
    assert ",true" in diffs or ",false" in diffs
    with pytest.raises(KeyError, match="no analysis"):
        catalog.columns("drivers", {"run": rid})
    with pytest.raises(KeyError, match="no date"):
        catalog.columns("members", {"run": rid, "date": "2025-02-01"})


def test_map_geometry_covers_every_member(catalog):
    ds = catalog.run(catalog.latest()["nato-2025"])
    geo = countries()
    assert all(str(c) in geo for c in ds["member"].values)
    assert "RUS" in geo and geo["DEU"]["name"] == "Germany"


def test_colour_scale_tops():
    assert [_nice_ceiling(v) for v in (0.0143, 0.97, 1.0, 3.4, 0.0, 0.02)] == [
        0.02,
        1.0,
        1.0,
        5.0,
        1.0,
        0.02,
    ]
