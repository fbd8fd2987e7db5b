"""The dashboard: a Bokeh server app that reads the Zarr store directly.

Pick a scenario and a run (its latest by default), scrub through time, compare the latest
runs of every scenario, look at one member. It lists only published runs (the catalog) and
checks the catalog every few seconds, so it works on a store another process is writing
to. ``/api/runs`` returns the catalog it sees, as JSON (for monitoring and tests).
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import xarray as xr
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div, FactorRange, Select, Slider, Span
from bokeh.plotting import figure
from bokeh.transform import dodge
from tornado.web import RequestHandler

from alliance_risk.pipeline.products.headlines import interval95
from alliance_risk.pipeline.store import open_store

HEADS = {"p_intact": "intact", "p_any_withdrawal": "any withdrawal", "p_conflict": "conflict"}
COLORS = {"p_intact": "#1f77b4", "p_any_withdrawal": "#ff7f0e", "p_conflict": "#d62728"}
LATEST = "latest"
REFRESH_MS = 3000


class Catalog:
    """The published runs of a store, re-read on demand."""

    def __init__(self, store: str):
        self.store = store
        self.fs = open_store(store, create=False)

    def entries(self) -> list[dict]:
        return self.fs.catalog()

    def latest(self) -> dict[str, str]:
        return self.fs.latest_runs()

    @lru_cache(maxsize=32)  # noqa: B019 - one Catalog per server; published runs never change
    def run(self, run_id: str) -> xr.Dataset:
        return self.fs.open_run(run_id).load()


def _curves(ds: xr.Dataset) -> dict:
    data = {"t": ds["time"].values}
    for h in HEADS:
        lo, hi = interval95(ds, h)
        data |= {h: ds[h].values, f"{h}_lo": lo, f"{h}_hi": hi}
    return data


def make_document(doc, catalog: Catalog) -> None:
    """Build the dashboard into a Bokeh document."""
    scen = Select(title="Scenario", name="scenario")
    run = Select(title="Run", name="run")
    member = Select(title="Member", name="member")
    when = Slider(title="Quarter", start=0, end=1, value=1, step=1, name="time")
    summary = Div(name="summary", width=520)
    curves, members_src, member_src, compare_src = (ColumnDataSource() for _ in range(4))

    f1 = figure(
        title="Headline probabilities (95% band)",
        x_axis_type="datetime",
        height=300,
        width=520,
        name="headlines",
    )
    for h, label in HEADS.items():
        f1.varea("t", f"{h}_lo", f"{h}_hi", source=curves, color=COLORS[h], alpha=0.2)
        f1.line("t", h, source=curves, color=COLORS[h], legend_label=label, line_width=2)
    f1.legend.location = "center_right"
    cursor = Span(dimension="height", line_dash="dashed")
    f1.add_layout(cursor)

    f2 = figure(
        title="P(withdrawn) by member", x_range=FactorRange(), height=300, width=520, name="members"
    )
    f2.vbar(x="code", top="p", source=members_src, width=0.8)
    f2.xaxis.major_label_orientation = 1.2

    f3 = figure(title="Member", x_axis_type="datetime", height=300, width=520, name="member_plot")
    f3.line("t", "stay", source=member_src, legend_label="P(still a member)", line_width=2)
    f3.line("t", "burden", source=member_src, color="green", legend_label="median burden / 10")
    f3.line(
        "t",
        "target",
        source=member_src,
        color="black",
        line_dash="dashed",
        legend_label="target / 10",
    )
    f3.legend.location = "bottom_left"
    f3.y_range.start = 0

    f4 = figure(
        title="Scenarios (latest runs)",
        x_range=FactorRange(),
        height=300,
        width=520,
        name="compare",
    )
    for k, h in enumerate(HEADS):
        f4.vbar(
            x=dodge("scenario", -0.25 + 0.25 * k, range=f4.x_range),
            top=h,
            width=0.22,
            source=compare_src,
            color=COLORS[h],
            legend_label=HEADS[h],
        )
    f4.xaxis.major_label_orientation = 0.6

    def current() -> xr.Dataset | None:
        rid = run.value if run.value != LATEST else catalog.latest().get(scen.value)
        return catalog.run(rid) if rid else None

    def refresh_options() -> None:
        latest = catalog.latest()
        scen.options = sorted(latest)
        if scen.value not in latest and latest:
            scen.value = "nato-2025" if "nato-2025" in latest else sorted(latest)[0]
        ids = [e["run_id"] for e in catalog.entries() if e["scenario"] == scen.value]
        run.options = [LATEST, *reversed(ids)]
        if run.value not in run.options:
            run.value = LATEST

    def draw() -> None:
        ds = current()
        if ds is None:
            summary.text = "<b>No published run yet.</b>"
            return
        t = int(min(when.value, ds.sizes["time"] - 1))
        when.end = ds.sizes["time"] - 1
        curves.data = _curves(ds)
        cursor.location = ds["time"].values[t].astype("datetime64[ms]").astype(np.int64)
        codes = [str(c) for c in ds["member"].values]
        f2.x_range.factors = codes
        members_src.data = {"code": codes, "p": ds["p_withdrawn"].values[t]}
        member.options = codes
        if member.value not in codes:
            member.value = "USA" if "USA" in codes else codes[0]
        m = ds.sel(member=member.value)
        member_src.data = {
            "t": ds["time"].values,
            "stay": 1 - m["p_withdrawn"].values,
            "burden": m["burden_quantile"].values[:, 2] / 10,
            "target": m["target"].values / 10,
        }
        f3.title.text = f"Member {member.value}"
        latest = catalog.latest()
        names = sorted(latest)
        f4.x_range.factors = names
        rows = [catalog.run(latest[n]) for n in names]
        compare_src.data = {
            "scenario": names,
            **{h: [float(r[h].values[min(t, r.sizes["time"] - 1)]) for r in rows] for h in HEADS},
        }
        date = str(ds["time"].values[t])[:10]
        cells = "".join(
            f"<tr><td>{HEADS[h]}</td><td>{float(ds[h][t]):.4f} ± "
            f"{float(ds[f'{h}_se'][t]):.4f}</td></tr>"
            for h in HEADS
        )
        summary.text = (
            f"<b>{ds.attrs['scenario_name']}</b> run {ds.attrs['run_id']} — "
            f"{ds.attrs['sims']:,} simulations — {date}<table>{cells}</table>"
        )

    def on_change(attr, old, new) -> None:
        draw()

    def on_scenario(attr, old, new) -> None:
        refresh_options()
        draw()

    state = {"seen": None}

    def poll() -> None:  # pick up runs published by other processes
        seen = json.dumps(catalog.entries())
        if seen != state["seen"]:
            state["seen"] = seen
            refresh_options()
            draw()

    scen.on_change("value", on_scenario)
    for widget in (run, member, when):
        widget.on_change("value", on_change)
    poll()
    when.value = when.end
    doc.title = "alliance-risk dashboard"
    doc.add_root(
        column(
            Div(text="<h2>alliance-risk</h2>", name="title"),
            row(scen, run, member),
            when,
            summary,
            row(f1, f2),
            row(f3, f4),
            name="dashboard",
        )
    )
    doc.add_periodic_callback(poll, REFRESH_MS)


class RunsHandler(RequestHandler):
    """GET /api/runs: the published runs the dashboard sees."""

    def initialize(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"runs": self.catalog.entries(), "latest": self.catalog.latest()}))


def serve(store: str, port: int = 5006, address: str = "127.0.0.1", show: bool = False) -> None:
    """Serve the dashboard until interrupted."""
    from bokeh.server.server import Server

    catalog = Catalog(store)
    server = Server(
        {"/": lambda doc: make_document(doc, catalog)},
        port=port,
        address=address,
        allow_websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        extra_patterns=[(r"/api/runs", RunsHandler, {"catalog": catalog})],
    )
    server.start()
    print(f"dashboard on http://{address}:{port}/ (store {store})", flush=True)
    if show:
        server.io_loop.add_callback(server.show, "/")
    server.io_loop.start()
