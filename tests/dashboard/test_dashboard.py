"""The dashboard as a person sees it: headless Chromium on the served page (127.0.0.1).

The store holds two runs of nato-2025 and one of detente, kept with samples, with an
analysis of the latest nato-2025 run and a stored (paired) comparison against detente. Every
panel is checked to render, to react to its controls, and to show the stored numbers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from browser import CHROMIUM, Browser, _free_port
from store_helpers import BLOCK

from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.products.analysis import publish_analysis
from alliance_risk.pipeline.products.compare import publish_comparison
from alliance_risk.pipeline.store import open_store

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)"
)
READY = (
    "window.Bokeh && Bokeh.documents.length > 0 && "
    "Bokeh.documents[0].get_model_by_name('summary').text.includes('simulations')"
)
MODEL = "Bokeh.documents[0].get_model_by_name"
TIMINGS: dict[str, float] = {}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def _runs(url: str) -> dict:
    return json.loads(_get(f"{url}/api/runs"))


def _column(b: Browser, source: str, column: str) -> list:
    return b.evaluate(f"Array.from({MODEL}('src_{source}').data['{column}'] || [])")


def _serve(store, *extra: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "alliance_risk.pipeline.apps.cli", "dashboard", str(store)]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ,
    )
    prefix = extra[extra.index("--prefix") + 1] if "--prefix" in extra else ""
    url = f"http://127.0.0.1:{port}{prefix}"
    deadline = time.time() + 60
    while True:
        try:
            _runs(url)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"dashboard did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)


def _forecast(store, name: str, seed: int = 1, keep_samples: bool = True):
    return run_forecast(
        name,
        sims=BLOCK,
        seed=seed,
        block_size=BLOCK,
        store=store,
        executor="inprocess",
        progress=False,
        keep_samples=keep_samples,
    )


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    store = tmp_path_factory.mktemp("dash") / "f.zarr"
    _forecast(store, "nato-2025", seed=2)
    nato = _forecast(store, "nato-2025").run_id
    detente = _forecast(store, "detente").run_id
    fs = open_store(store, create=False)
    publish_analysis(fs, nato)
    publish_comparison(fs, nato, [detente])
    proc, url = _serve(store)
    browser = Browser(width=1400, height=2400)
    TIMINGS["first paint (s)"] = browser.navigate_timed(url, READY)
    yield store, url, browser
    browser.close()
    proc.terminate()
    proc.wait(10)
    print(f"\ndashboard timings on the test store: {json.dumps(TIMINGS)}")


def _timed(b: Browser, action: str, done: str, label: str) -> None:
    TIMINGS[label] = b.timed(action, done, timeout=30)


def test_every_panel_renders_with_the_stored_numbers(dashboard):
    store, _, b = dashboard
    fs = open_store(store, create=False)
    rid = fs.latest("nato-2025")
    ds = fs.open_run(rid).load()
    b.wait(f"{MODEL}('summary').text.includes('{rid}')")
    assert b.evaluate(f"{MODEL}('scenario').options") == ["detente", "nato-2025"]
    for name in ("headlines", "map", "members", "member_plot", "fan", "differences", "history"):
        assert b.evaluate(f"{MODEL}('{name}') !== null"), name
    # the summary cards: percentages with their 95% bands, at the last date
    card = b.evaluate(f"{MODEL}('summary').text")
    p = float(ds["p_conflict"][-1])
    lo, hi = ds["p_conflict_ci95"].values[-1]
    assert f"{100 * p:.1f}%" in card and f"{100 * lo:.1f}% – {100 * hi:.1f}%" in card
    assert "by 2035-01-01" in card
    np.testing.assert_allclose(_column(b, "headlines", "p_intact"), ds["p_intact"].values)
    # members: sorted, the stored values; the map colours the same values
    shown = dict(zip(_column(b, "members", "code"), _column(b, "members", "value"), strict=True))
    stored = dict(zip(ds["member"].values, ds["p_withdrawn"].values[-1], strict=True))
    assert shown == pytest.approx(stored)
    assert _column(b, "members", "value") == sorted(shown.values(), reverse=True)
    assert len(_column(b, "map", "code")) == 32
    # the member panel: P(still a member) and burden quantiles in % of GDP
    usa = ds.sel(member="USA")
    np.testing.assert_allclose(_column(b, "member", "p_member"), 1 - usa["p_withdrawn"].values)
    np.testing.assert_allclose(_column(b, "member", "q50"), usa["burden_quantile"].values[:, 2])
    assert b.evaluate(f"{MODEL}('member_plot').extra_y_ranges.burden !== undefined")
    # fan chart of cohesion by default
    np.testing.assert_allclose(_column(b, "fan", "q95"), ds["cohesion_quantile"].values[:, 4])
    # what is on screen is not blank and is drawn in colour
    png = b.screenshot()
    if os.environ.get("DASHBOARD_SCREENSHOT"):  # the README's picture
        Path(os.environ["DASHBOARD_SCREENSHOT"]).write_bytes(png)
    img = mpimg.imread(io.BytesIO(png))[..., :3]
    ink = (img < 0.9).any(axis=2).mean()
    colours = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert ink > 0.05 and colours > 50, (ink, colours)
    assert b.evaluate("document.title") == "alliance-risk dashboard"


def test_differences_use_paired_errors_when_a_comparison_is_stored(dashboard):
    store, _, b = dashboard
    fs = open_store(store, create=False)
    cmp = fs.open_product("comparisons").sel(scenario="detente")
    b.wait(f"{MODEL}('src_differences').data['d'].length == 4")
    rows = list(
        zip(
            _column(b, "differences", "headline"),
            _column(b, "differences", "d"),
            _column(b, "differences", "se"),
            _column(b, "differences", "errors"),
            _column(b, "differences", "within_noise"),
            strict=True,
        )
    )
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    for h, d, se, errors, noise in rows:
        assert errors == "paired"
        assert d == pytest.approx(float(cmp[f"d_{h}"][-1]))
        assert se == pytest.approx(float(cmp[f"d_{h}_se"][-1]))
        assert noise == (abs(d) <= 1.96 * se)


def test_controls_change_every_panel(dashboard):
    store, _, b = dashboard
    fs = open_store(store, create=False)
    ds = fs.open_run(fs.latest("nato-2025")).load()
    _timed(
        b,
        f"{MODEL}('time').value = 20",
        f"{MODEL}('summary').text.includes('by 2030-01-01')",
        "change date (s)",
    )
    assert b.evaluate(f"{MODEL}('map').title.text").endswith("2030-01-01")
    shown = dict(zip(_column(b, "members", "code"), _column(b, "members", "value"), strict=True))
    assert shown == pytest.approx(
        dict(zip(ds["member"].values, ds["p_withdrawn"].values[20], strict=True))
    )
    assert b.evaluate(f"{MODEL}('headlines').renderers.length") > 0
    cursor = f"{MODEL}('headlines').center.find(m => m.dimension == 'height').location"
    assert b.evaluate(cursor) == ds["time"].values[20].astype("datetime64[ms]").astype(int)
    b.evaluate(f"{MODEL}('map_var').value = 'burden_mean'")
    b.wait(f"{MODEL}('map').title.text.startsWith('mean burden')")
    shown = dict(zip(_column(b, "map", "code"), _column(b, "map", "value"), strict=True))
    assert shown == pytest.approx(
        dict(zip(ds["member"].values, ds["burden_mean"].values[20], strict=True))
    )
    b.evaluate(f"{MODEL}('member').value = 'DEU'")
    b.wait(f"{MODEL}('member_plot').title.text.startsWith('DEU')")
    np.testing.assert_allclose(
        _column(b, "member", "target"), ds["target"].sel(member="DEU").values
    )
    b.evaluate(f"{MODEL}('fan_var').value = 'burden'")
    b.wait(f"{MODEL}('fan').title.text.includes('DEU')")
    np.testing.assert_allclose(
        _column(b, "fan", "q50"), ds["burden_quantile"].sel(member="DEU").values[:, 2]
    )
    b.evaluate(f"{MODEL}('fan_var').value = 'adversary_spending'")
    b.wait(f"{MODEL}('fan').title.text.startsWith('adversary spending')")
    np.testing.assert_allclose(_column(b, "fan", "mean"), ds["adversary_spending_mean"].values)
    # drivers: the stored ranking, and PRIM boxes in words
    an = fs.open_product("analyses").load()
    b.evaluate(f"{MODEL}('outcome').value = 'any_withdrawal'")
    b.wait(f"{MODEL}('drivers').title.text.includes('a member withdraws')")
    top = an.sel(outcome="any_withdrawal")
    first = str(
        top["parameter"].values[
            int(np.argmin(np.where(top["importance_rank"] > 0, top["importance_rank"], 999)))
        ]
    )
    assert _column(b, "drivers", "parameter")[0] == first
    assert "of simulations where" in b.evaluate(f"{MODEL}('prim').text")
    # another scenario: no stored comparison with it as the baseline, so independent errors
    _timed(
        b,
        f"{MODEL}('scenario').value = 'detente'",
        f"{MODEL}('summary').text.includes('detente')",
        "change scenario (s)",
    )
    b.wait(f"{MODEL}('src_differences').data['errors'].length == 4")
    assert set(_column(b, "differences", "errors")) == {"independent"}
    assert "independent s.e." in " ".join(_column(b, "differences", "note"))
    assert "No analysis of this run" in b.evaluate(f"{MODEL}('prim').text")
    assert "first run" in b.evaluate(f"{MODEL}('changes').text")
    b.evaluate(f"{MODEL}('scenario').value = 'nato-2025'")
    b.wait(f"{MODEL}('summary').text.includes('nato-2025')")


def test_history_and_what_changed(dashboard):
    store, _, b = dashboard
    fs = open_store(store, create=False)
    runs = [e["run_id"] for e in fs.catalog() if e["scenario"] == "nato-2025"]
    b.wait(f"{MODEL}('src_history').data['run_id'].length == 2")
    assert _column(b, "history", "run_id") == runs
    at = int(b.evaluate(f"{MODEL}('time').value"))
    for rid, p in zip(runs, _column(b, "history", "p_conflict"), strict=True):
        assert p == pytest.approx(float(fs.open_run(rid)["p_conflict"][at]))
    text = b.evaluate(f"{MODEL}('changes').text")
    assert f"from {runs[0]} to {runs[1]}" in text and "Monte Carlo noise" in text


def test_every_panel_downloads_its_data_as_csv(dashboard):
    store, url, b = dashboard
    fs = open_store(store, create=False)
    rid = fs.latest("nato-2025")
    ds = fs.open_run(rid)
    links = b.evaluate(f"{MODEL}('csv').text")
    hrefs = dict(
        re.findall(r'href="([^"]*/api/csv/(\w+)\?[^"]*)"', links)[i][::-1] for i in range(7)
    )
    assert set(hrefs) == {
        "headlines",
        "members",
        "member",
        "fan",
        "differences",
        "history",
        "drivers",
    }
    href = hrefs["members"]
    assert f"/api/csv/members?run={rid}" in href
    rows = list(csv.DictReader(io.StringIO(_get(f"{url}{href}").decode())))
    at = list(np.asarray(ds["time"].values, "datetime64[D]").astype(str)).index(
        href.split("date=")[1][:10]
    )
    stored = dict(
        zip(
            ds["member"].values, ds[b.evaluate(f"{MODEL}('map_var').value")].values[at], strict=True
        )
    )
    assert {r["code"]: float(r["value"]) for r in rows} == pytest.approx(stored)
    for panel in ("headlines", "member", "fan", "differences", "history", "drivers"):
        text = _get(f"{url}/api/csv/{panel}?run={rid}").decode()
        assert len(text.splitlines()) > 1, panel
    head = list(csv.DictReader(io.StringIO(_get(f"{url}/api/csv/headlines?run={rid}").decode())))
    assert head[-1]["date"] == "2035-01-01"
    assert float(head[-1]["p_conflict"]) == float(ds["p_conflict"][-1])
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(f"{url}/api/csv/nonsense?run={rid}")
    assert err.value.code == 404
    page = _get(f"{url}/report/{rid}/index.html").decode()
    assert rid in page and "<img" in page
    assert f"/report/{rid}/index.html" in b.evaluate(f"{MODEL}('report_link').text")


def test_new_runs_appear_and_incomplete_ones_do_not(dashboard):
    store, url, b = dashboard
    fs = open_store(store, create=False)
    fs.create_staging("half-written", {"run_id": "half-written"})
    res = _forecast(store, "us-pivot", keep_samples=False)
    b.wait(f"{MODEL}('scenario').options.includes('us-pivot')", timeout=30)
    seen = _runs(url)
    assert res.run_id in [r["run_id"] for r in seen["runs"]]
    assert "half-written" not in json.dumps(seen)
    assert "half-written" not in b.evaluate(f"{MODEL}('run').options.join(' ')")
    b.wait(f"{MODEL}('src_differences').data['scenario'].includes('us-pivot')", timeout=30)
    again = _forecast(store, "nato-2025", seed=3)
    b.wait(f"{MODEL}('src_history').data['run_id'].includes('{again.run_id}')", timeout=30)
    b.wait(f"{MODEL}('summary').text.includes('{again.run_id}')", timeout=30)
    # a second visit is a new session with its own document (no model shared with the first)
    b.navigate_timed(url, READY)
    assert again.run_id in b.evaluate(f"{MODEL}('summary').text")


@pytest.mark.browser
def test_behind_a_proxy_prefix_and_origin(tmp_path):
    store = tmp_path / "f.zarr"
    _forecast(store, "nato-2025", keep_samples=False)
    proc, url = _serve(store, "--prefix", "/alliance", "--allow-origin", "risk.example.org")
    b = Browser(width=1000, height=900)
    try:
        assert url.endswith("/alliance") and _runs(url)["latest"]
        b.open(f"{url}/", READY)
        assert "/alliance/api/csv/headlines?" in b.evaluate(f"{MODEL}('csv').text")
        with pytest.raises(urllib.error.HTTPError):
            _get(url.removesuffix("/alliance") + "/api/runs")
    finally:
        b.close()
        proc.terminate()
        proc.wait(10)
