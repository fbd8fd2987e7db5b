"""The dashboard as a person sees it: headless Chromium on the served page (127.0.0.1)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request

import matplotlib.image as mpimg
import numpy as np
import pytest
from browser import CHROMIUM, Browser, _free_port
from store_helpers import BLOCK

from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.store import open_store

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)"
)
READY = "window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].roots().length > 0"
MODEL = "Bokeh.documents[0].get_model_by_name"


def _runs(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/runs", timeout=5) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    store = tmp_path_factory.mktemp("dash") / "f.zarr"
    for name in ("nato-2025", "detente"):
        run_forecast(
            name,
            sims=BLOCK,
            seed=1,
            block_size=BLOCK,
            store=store,
            executor="inprocess",
            progress=False,
        )
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alliance_risk.pipeline.apps.cli",
            "dashboard",
            str(store),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            _runs(url)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"dashboard did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
    browser = Browser()
    browser.open(url, READY)
    yield store, url, browser
    browser.close()
    proc.terminate()
    proc.wait(10)


def test_dashboard_renders_plots_with_data(dashboard):
    store, _, b = dashboard
    latest = open_store(store, create=False).latest("nato-2025")
    b.wait(f"{MODEL}('summary').text.includes('{latest}')")
    assert b.evaluate(f"{MODEL}('scenario').value") == "nato-2025"
    assert b.evaluate(f"{MODEL}('scenario').options") == ["detente", "nato-2025"]
    for name in ("headlines", "members", "member_plot", "compare"):
        assert b.evaluate(f"{MODEL}('{name}') !== null"), name
    assert b.evaluate(f"{MODEL}('members').x_range.factors.length") == 32
    # what is on screen: the page is not blank and the plots are drawn in colour
    img = mpimg.imread(io.BytesIO(b.screenshot()))[..., :3]
    ink = (img < 0.9).any(axis=2).mean()
    colours = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert ink > 0.05 and colours > 50, (ink, colours)
    assert b.evaluate("document.title") == "alliance-risk dashboard"


def test_scrubbing_time_and_picking_a_member(dashboard):
    _, _, b = dashboard
    b.evaluate(f"{MODEL}('time').value = 4")
    b.wait(f"{MODEL}('summary').text.includes('2026-01-01')")
    b.evaluate(f"{MODEL}('member').value = 'DEU'")
    b.wait(f"{MODEL}('member_plot').title.text == 'Member DEU'")
    b.evaluate(f"{MODEL}('scenario').value = 'detente'")
    b.wait(f"{MODEL}('summary').text.includes('detente')")


def test_new_runs_appear_and_incomplete_ones_do_not(dashboard):
    store, url, b = dashboard
    fs = open_store(store, create=False)
    fs.create_staging("half-written", {"run_id": "half-written"})
    res = run_forecast(
        "us-pivot",
        sims=BLOCK,
        seed=1,
        block_size=BLOCK,
        store=store,
        executor="inprocess",
        progress=False,
    )
    b.wait(f"{MODEL}('scenario').options.includes('us-pivot')", timeout=30)
    seen = _runs(url)
    assert res.run_id in [r["run_id"] for r in seen["runs"]]
    assert "half-written" not in json.dumps(seen)
    assert b.evaluate(f"{MODEL}('compare').x_range.factors.length") == 3
