"""Dashboard speed in a real browser on a store with many runs (issue: 50 runs of 3 scenarios).

    python benchmarks/bench_dashboard.py [--store /tmp/dash50.zarr] [--runs 50] [--json out.json]

Builds the store once with the normal engine (``--runs`` runs of nato-2025, detente and
us-pivot, 2,000 simulations each, two processes; ~2 min on 2 cores) and reuses it if it is
there. Then serves the dashboard, opens it in headless Chromium and measures:
- first paint: from the start of the navigation until every panel shows the latest run (with
  the history of all its runs), by the page's own clock; once on the server just started
  (it reads the store as the page asks), once on the running server (it has read ahead)
  with the browser's cache cleared (a new visitor);
- changing the date, and changing the scenario: from the control's change until the panels
  show the new state and the next frame is painted (medians of several changes), timed in
  the page to the animation frame.
A benchmark, not a test: it prints the figures (and writes them as JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dashboard"))
from browser import Browser, _free_port

from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.store import open_store

SCENARIOS = ("nato-2025", "detente", "us-pivot")
MODEL = "Bokeh.documents[0].get_model_by_name"


def _one(args: tuple[str, str, int]) -> str:
    store, name, seed = args
    res = run_forecast(
        name,
        sims=2000,
        seed=seed,
        block_size=2000,
        store=store,
        executor="inprocess",
        progress=False,
    )
    return res.run_id


def build(store: Path, runs: int) -> None:
    have = len(open_store(store, create=False).catalog()) if (store / "zarr.json").exists() else 0
    todo = [(str(store), s, seed) for seed in range(runs) for s in SCENARIOS][have:]
    if not todo:
        return
    start = time.perf_counter()
    _one(todo[0])  # creates the store before the parallel writers
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_one, todo[1:]))
    print(f"built {len(todo)} runs in {time.perf_counter() - start:.0f} s")


def _serve(store: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "alliance_risk.pipeline.apps.cli", "dashboard", str(store)]
    proc = subprocess.Popen([*cmd, "--port", str(port)], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/api/runs", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the dashboard did not start")


def measure(store: Path, runs: int) -> dict:
    fs = open_store(store, create=False)
    latest = fs.latest_runs()
    proc, url = _serve(store)
    b = Browser(width=1400, height=2400)
    try:
        ready = (
            f"window.Bokeh && Bokeh.documents.length > 0 && "
            f"{MODEL}('summary').text.includes('{latest['nato-2025']}') && "
            f"{MODEL}('src_history').data['run_id'].length == {runs}"
        )
        first = b.navigate_timed(url, ready, timeout=120)
        time.sleep(10)  # the server finishes reading ahead (Catalog.warm)
        b.call("Network.clearBrowserCache")  # a new visitor: nothing cached in the browser
        warm = b.navigate_timed(url, ready, timeout=120)
        dates = []
        for k, label in (
            (20, "2030-01-01"),
            (8, "2027-01-01"),
            (40, "2035-01-01"),
            (4, "2026-01-01"),
            (30, "2032-07-01"),
        ):
            done = f"{MODEL}('summary').text.includes('by {label}')"
            dates.append(b.timed(f"{MODEL}('time').value = {k}", done))
        scenarios = []
        for name in ("detente", "us-pivot", "nato-2025", "detente", "nato-2025"):
            done = (
                f"{MODEL}('summary').text.includes('{latest[name]}') && "
                f"{MODEL}('src_history').data['run_id'].length == {runs}"
            )
            scenarios.append(b.timed(f"{MODEL}('scenario').value = '{name}'", done))
    finally:
        b.close()
        proc.terminate()
        proc.wait(10)
    return {
        "runs": len(fs.catalog()),
        "first_paint_s": round(first, 3),
        "first_paint_running_server_s": round(warm, 3),
        "change_date_s_median": round(statistics.median(dates), 3),
        "change_date_s": [round(x, 3) for x in dates],
        "change_scenario_s_median": round(statistics.median(scenarios), 3),
        "change_scenario_s": [round(x, 3) for x in scenarios],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=Path("/tmp/alliance-risk-dash50.zarr"))
    ap.add_argument("--runs", type=int, default=50, help="runs per scenario")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    build(args.store, args.runs)
    out = measure(args.store, args.runs)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
