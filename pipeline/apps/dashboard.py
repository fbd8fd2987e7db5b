"""The dashboard: a Bokeh server app that reads the Zarr store directly.

Pick a scenario, a run (its latest by default), a date and a member; see the headline
probabilities with their bands, a map and a sorted list of the members, the member's path
and burden, fan charts, the other scenarios' differences from this run with their errors,
the scenario's history across runs and what changed, and what drives the risk when the run
has an analysis. Every panel's data downloads as CSV (``/api/csv/<panel>``, the same
columns the panel draws: views.py). Only published runs are listed (the catalog), and the
catalog is re-read every few seconds, so new runs appear without a reload.

Endpoints, under the optional URL prefix: ``/`` the app, ``/api/runs`` the catalog as JSON,
``/api/csv/<panel>?run=&date=&member=&var=&fan=&outcome=`` a panel's CSV,
``/report/<run>/`` the run's static report (written on first request).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJSTickFormatter,
    Div,
    Select,
    Slider,
)
from tornado.web import HTTPError, RequestHandler

from alliance_risk.pipeline.apps import panels, views
from alliance_risk.pipeline.apps.geo import countries
from alliance_risk.pipeline.products.analysis import OUTCOMES
from alliance_risk.pipeline.products.history import HistoryError, changes, markdown_changes
from alliance_risk.pipeline.store import open_store

LATEST = "latest"
REFRESH_MS = 3000
PANELS = ("headlines", "members", "member", "fan", "differences", "history", "drivers")
PANEL_NAMES = {
    "headlines": "headline probabilities",
    "members": "map and member list",
    "member": "member",
    "fan": "fan chart",
    "differences": "differences",
    "history": "across runs",
    "drivers": "drivers",
}


class Catalog:
    """The published runs of a store and the panel data computed from them. Published runs
    never change, so what is read from one is cached (one Catalog per server)."""

    def __init__(self, store: str):
        self.store = store
        self.fs = open_store(store, create=False)
        self._arrays: dict[str, dict[str, np.ndarray]] = {}  # run -> headline_arrays

    def entries(self) -> list[dict]:
        return self.fs.catalog()

    def latest(self) -> dict[str, str]:
        return self.fs.latest_runs()

    def runs_of(self, scenario: str) -> list[dict]:
        return [e for e in self.entries() if e["scenario"] == scenario]

    @lru_cache(maxsize=16)  # noqa: B019 - one Catalog per server; published runs never change
    def run(self, run_id: str) -> xr.Dataset:
        if run_id not in self.fs.catalog_ids():
            raise KeyError(f"no published run {run_id!r}")
        return self.fs.open_run(run_id).load()

    def headline_arrays(self, run_id: str) -> dict[str, np.ndarray]:
        """The headline probabilities, their s.e. and the dates of a run (``read_headlines``)."""
        return self.headline_arrays_many([run_id])[run_id]

    def headline_arrays_many(self, run_ids: list[str]) -> dict[str, dict[str, np.ndarray]]:
        """``headline_arrays`` of many runs, read as plain Zarr arrays, all at once (a few ms
        a run, where opening a run's Dataset takes ~0.1 s): the history and differences."""
        todo = [r for r in dict.fromkeys(run_ids) if r not in self._arrays]
        self._arrays |= views.read_headlines(self.fs, todo)
        return {r: self._arrays[r] for r in run_ids}

    def default_scenario(self) -> str | None:
        """The scenario a new visitor sees: nato-2025 if the store has it, else the first."""
        latest = self.latest()
        return "nato-2025" if "nato-2025" in latest else min(latest, default=None)

    def warm(self, scenarios: list[str] | None = None) -> None:
        """Read ahead what a first visit shows: the scenarios' runs' headline arrays, their
        latest runs and what changed since the run before (default: every scenario)."""
        entries, latest = self.entries(), self.latest()
        for scenario in latest if scenarios is None else scenarios:
            ids = [e["run_id"] for e in entries if e["scenario"] == scenario]
            self.headline_arrays_many(ids)
            self.run(latest[scenario])
            if len(ids) > 1:
                self.changes_html(ids[-2], ids[-1])

    def paired(self, base: str, other: str) -> xr.Dataset | None:
        """The stored comparison of ``other`` against ``base`` (views.comparison_entry)."""
        found = views.comparison_entry(self.fs.products("comparisons"), base, other)
        return self._product("comparisons", found[0]).sel(scenario=found[1]) if found else None

    def analysis(self, run_id: str) -> xr.Dataset | None:
        found = [a["id"] for a in self.fs.products("analyses") if a["run_id"] == run_id]
        return self._product("analyses", found[-1]) if found else None

    @lru_cache(maxsize=64)  # noqa: B019
    def _product(self, kind: str, pid: str) -> xr.Dataset:
        return self.fs.open_product(kind, pid).load()

    @lru_cache(maxsize=256)  # noqa: B019
    def changes_html(self, old: str, new: str) -> str:
        try:
            return _markdown_html(markdown_changes(changes(self.fs, old, new)))
        except HistoryError as exc:
            return f"<p>{exc}</p>"

    def columns(self, panel: str, state: dict) -> dict:
        """The data behind ``panel`` for the dashboard ``state`` (run, date, member, var,
        fan, outcome): what the panel draws and its CSV holds."""
        ds = self.run(state["run"])
        when = np.datetime64(state.get("date") or views.dates(ds)[-1], "ms")
        t = views.index_at(ds, when)
        if t is None:
            raise KeyError(f"run {state['run']} has no date {views.date_label(when)}")
        member = state.get("member") or str(ds["member"].values[0])
        if panel == "headlines":
            return views.headlines(ds)
        if panel == "members":
            return views.members_at(ds, t, state.get("var") or "p_withdrawn")
        if panel == "member":
            return views.member_path(ds, member)
        if panel == "fan":
            return views.fan(ds, state.get("fan") or "cohesion", member)
        if panel == "differences":
            others = {s: r for s, r in self.latest().items() if s != ds.attrs["scenario_name"]}
            self.headline_arrays_many([state["run"], *others.values()])
            return views.differences(state["run"], others, when, self.headline_arrays, self.paired)
        if panel == "history":
            runs = self.runs_of(ds.attrs["scenario_name"])
            self.headline_arrays_many([e["run_id"] for e in runs])
            return views.history(runs, when, self.headline_arrays)
        if panel == "drivers":
            an = self.analysis(state["run"])
            if an is None:
                raise KeyError(f"run {state['run']} has no analysis (alliance-risk analyse)")
            return views.drivers(an, state.get("outcome") or "conflict")
        raise KeyError(f"unknown panel {panel!r}; one of {', '.join(PANELS)}")


def _markdown_html(text: str) -> str:
    import markdown

    return markdown.markdown(text, extensions=["tables"])


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _value_text(var: str, v: float) -> str:
    return _pct(v) if views.MAP_VARIABLES[var][1] == "probability" else f"{v:.2f}% GDP"


def _nice_ceiling(v: float) -> float:
    """The colour scale's top: 1, 2, 2.5, 5 or 10 times a power of ten, at or above ``v``."""
    if not v > 0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(v))
    return float(power * next(m for m in (1, 2, 2.5, 5, 10) if m * power >= v * (1 - 1e-12)))


def _summary_html(ds: xr.Dataset, t: int) -> str:
    when = views.date_label(views.dates(ds)[t])
    cards = "".join(
        f'<div class="card"><div class="label">P({r["label"]}) by {when}</div>'
        f'<div class="value" style="color:{panels.COLORS[r["name"]]}">{_pct(r["p"])}</div>'
        f'<div class="band">95%: {_pct(r["lo"])} – {_pct(r["hi"])} · '
        f"s.e. {100 * r['se']:.2f} pp</div></div>"
        for r in views.summary(ds, t)
    )
    a = ds.attrs
    return (
        "<style>.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ddd;"
        "border-radius:6px;padding:8px 14px;min-width:180px}.card .value{font-size:26px;"
        "font-weight:600}.card .label,.card .band{font-size:12px;color:#555}</style>"
        f"<div><b>{a['scenario_name']}</b> · run {a['run_id']} · {a['sims']:,} simulations · "
        f"seed {a['seed']} · created {a['created']} · model {a.get('model_version', '1')}</div>"
        f'<div class="cards">{cards}</div>'
    )


def make_document(doc, catalog: Catalog, prefix: str = "") -> None:
    """Build the dashboard into a Bokeh document (one per browser session)."""
    Dashboard(doc, catalog, prefix)


EMPTY_DRIVERS = ("parameter", "spearman", "spearman_low", "spearman_high", "sobol_s1", "sobol_st")


class Dashboard:
    """One session's widgets, sources and figures, and the callbacks that redraw them. A
    change redraws only the panels that depend on it (``draw(what)``)."""

    def __init__(self, doc, catalog: Catalog, prefix: str = ""):
        self.doc, self.catalog, self.prefix = doc, catalog, prefix
        self.busy = {"drawing": False, "first": True}
        self.seen: str | None = None
        self._widgets()
        self._figures()
        for widget, what in (
            (self.run, "all"),
            (self.when, "date"),
            (self.var, "var"),
            (self.member, "member"),
            (self.fan, "fan"),
            (self.outcome, "outcome"),
        ):
            widget.on_change("value", self._on(what))
        self.scen.on_change("value", self._on_scenario)
        self.poll()
        doc.title = "alliance-risk dashboard"
        doc.add_root(self._layout())
        doc.add_periodic_callback(self.poll, REFRESH_MS)

    # ---- construction ---------------------------------------------------------------------
    def _widgets(self) -> None:
        self.scen = Select(title="Scenario", name="scenario", width=200)
        self.run = Select(title="Run", name="run", width=330)
        self.date_labels = CustomJSTickFormatter(
            args={"labels": []}, code="return labels[tick] || tick"
        )
        self.when = Slider(
            title="Date", start=0, end=1, value=1, step=1, name="time",
            format=self.date_labels, sizing_mode="stretch_width",
        )  # fmt: skip
        self.member = Select(title="Member", name="member", width=120)
        choices = {
            "var": ("Map and list show", "map_var", "p_withdrawn", 230, views.MAP_VARIABLES),
            "fan": ("Fan chart of", "fan_var", "cohesion", 180, views.FANS),
            "outcome": ("Drivers of", "outcome", "conflict", 220, OUTCOMES),
        }
        for attr, (title, name, value, width, options) in choices.items():
            labels = [(k, v[0] if isinstance(v, tuple) else v) for k, v in options.items()]
            setattr(
                self, attr, Select(title=title, name=name, value=value, width=width, options=labels)
            )
        # fixed heights: a new text then does not make BokehJS lay the whole page out again
        self.summary = Div(name="summary", sizing_mode="stretch_width", height=118)
        self.downloads = Div(name="csv", sizing_mode="stretch_width", height=20)
        self.changed = Div(name="changes", sizing_mode="stretch_width")
        self.prim = Div(name="prim", sizing_mode="stretch_width")
        self.report = Div(name="report_link", width=300, height=24)

    def _figures(self) -> None:
        self.src = {p: ColumnDataSource(name=f"src_{p}") for p in (*PANELS, "sobol", "map")}
        self.geo = countries()
        shapes = self.geo.values()
        backdrop = ColumnDataSource({"x": [c["x"] for c in shapes], "y": [c["y"] for c in shapes]})
        src = self.src
        self.f_head, self.cursor = panels.headlines_figure(src["headlines"])
        self.f_map, self.mapper, self.colorbar = panels.map_figure(backdrop, src["map"])
        self.f_members = panels.members_figure(src["members"])
        self.f_member = panels.member_figure(src["member"])
        self.f_fan = panels.fan_figure(src["fan"])
        self.f_diff = panels.differences_figure(src["differences"])
        self.f_hist = panels.history_figure(src["history"])
        self.f_drivers = panels.drivers_figure(src["drivers"])
        self.f_sobol = panels.sobol_figure(src["sobol"])

    def _layout(self):
        def line(*children):
            return row(*children, sizing_mode="stretch_width")

        title = Div(text="<h2 style='margin:4px 0'>alliance-risk</h2>", name="title")
        return column(
            line(title, self.report),
            line(self.scen, self.run, self.member, self.var, self.fan, self.outcome),
            self.when,
            self.summary,
            self.downloads,
            line(self.f_head, self.f_map),
            line(self.f_members, self.f_member),
            line(self.f_fan, self.f_diff),
            line(self.f_hist, self.changed),
            line(self.f_drivers, self.f_sobol),
            self.prim,
            name="dashboard",
            sizing_mode="stretch_width",
        )

    # ---- state ----------------------------------------------------------------------------
    def current(self) -> xr.Dataset | None:
        rid = (
            self.run.value
            if self.run.value != LATEST
            else self.catalog.latest().get(self.scen.value)
        )
        return self.catalog.run(rid) if rid else None

    def state(self, ds: xr.Dataset) -> dict:
        """What the panels of run ``ds`` show: run, date, member, map variable, fan chart,
        outcome."""
        t = int(min(self.when.value, ds.sizes["time"] - 1))
        return {
            "run": ds.attrs["run_id"],
            "date": views.date_label(views.dates(ds)[t]),
            "member": self.member.value,
            "var": self.var.value,
            "fan": self.fan.value,
            "outcome": self.outcome.value,
        }

    def csv_links(self, st: dict, analysed: bool) -> str:
        """One line of links: the CSV of every panel, for what is shown now."""
        query = "&".join(f"{k}={v}" for k, v in st.items() if v)
        shown = [p for p in PANELS if analysed or p != "drivers"]
        links = " · ".join(
            f'<a href="{self.prefix}/api/csv/{p}?{query}" download>{PANEL_NAMES[p]}</a>'
            for p in shown
        )
        return f"<span style='font-size:12px'>Data as CSV: {links}</span>"

    # ---- callbacks ------------------------------------------------------------------------
    def _on(self, what: str):
        return lambda attr, old, new: self.draw(what)

    def _on_scenario(self, attr, old, new) -> None:
        if not self.busy["drawing"]:
            self.refresh_options()
            self.draw()

    def poll(self) -> None:
        """Pick up runs published by other processes (and the first draw)."""
        now = json.dumps(self.catalog.entries())
        if now != self.seen:
            self.seen = now
            self.refresh_options()
            self.draw()

    def refresh_options(self) -> None:
        """The scenario and run pickers from the catalog; the caller draws once after."""
        was, self.busy["drawing"] = self.busy["drawing"], True
        try:
            latest = self.catalog.latest()
            self.scen.options = sorted(latest)
            if self.scen.value not in latest and latest:
                self.scen.value = self.catalog.default_scenario()
            ids = [e["run_id"] for e in self.catalog.runs_of(self.scen.value)]
            self.run.options = [LATEST, *reversed(ids)]
            if self.run.value not in self.run.options:
                self.run.value = LATEST
        finally:
            self.busy["drawing"] = was

    def draw(self, what: str = "all") -> None:
        """Redraw the panels that depend on ``what``. Widgets set while drawing (a new run's
        member list, the date range) do not redraw again: this draw covers them."""
        if self.busy["drawing"]:
            return
        self.busy["drawing"] = True
        self.doc.hold("combine")  # one message to the browser, not one per change
        try:
            ds = self.current()
            if ds is None:
                self.summary.text = "<b>No published run yet.</b>"
                return
            if what == "all":
                self.draw_run(ds)
            st = self.state(ds)
            if what in ("all", "date", "var"):
                self.draw_members(ds, st)
            if what in ("all", "date"):
                self.draw_date(ds, st)
            if what in ("all", "member", "fan"):
                self.draw_member(st)
            if what in ("all", "outcome"):
                self.draw_drivers(st)
            self.downloads.text = self.csv_links(st, self.catalog.analysis(st["run"]) is not None)
        finally:
            self.busy["drawing"] = False
            self.doc.unhold()

    # ---- panels ---------------------------------------------------------------------------
    def draw_run(self, ds: xr.Dataset) -> None:
        """What changes with the run: the date range, members, headline curves, history text."""
        labels = [views.date_label(d) for d in views.dates(ds)]
        self.date_labels.args = {"labels": labels}
        self.when.end = len(labels) - 1
        if self.busy["first"] or self.when.value > self.when.end:  # open on the last date
            self.when.value, self.busy["first"] = self.when.end, False
        codes = [str(c) for c in ds["member"].values]
        self.member.options = codes
        if self.member.value not in codes:
            self.member.value = "USA" if "USA" in codes else codes[0]
        self.src["headlines"].data = self.catalog.columns("headlines", self.state(ds))
        page = f"{self.prefix}/report/{ds.attrs['run_id']}/index.html"
        self.report.text = f'<a href="{page}" target="_blank">static report of this run</a>'
        ids = [e["run_id"] for e in self.catalog.runs_of(ds.attrs["scenario_name"])]
        k = ids.index(ds.attrs["run_id"])
        if k == 0:
            self.changed.text = "<p>What changed: this is the scenario's first run.</p>"
        else:
            what = self.catalog.changes_html(ids[k - 1], ids[k])
            self.changed.text = f"<h4>What changed since the previous run</h4>{what}"

    def draw_members(self, ds: xr.Dataset, st: dict) -> None:
        """The map and the sorted member list at the date."""
        m = self.catalog.columns("members", st)
        label, unit = views.MAP_VARIABLES[st["var"]]
        fmt = "0.[0]%" if unit == "probability" else "0.0"  # a property: no new models
        texts = [_value_text(st["var"], v) for v in m["value"]]
        bands = [
            f"{_value_text(st['var'], lo)} – {_value_text(st['var'], hi)}"
            for lo, hi in zip(m["lo"], m["hi"], strict=True)
        ]
        self.src["members"].data = {**m, "text": texts, "band": bands}
        self.f_members.y_range.factors = list(reversed(m["code"]))
        self.f_members.title.text = f"{label} by member, {st['date']}"
        self.f_members.xaxis.formatter.format = fmt
        on_map = [i for i, c in enumerate(m["code"]) if c in self.geo]
        self.src["map"].data = {
            "x": [self.geo[m["code"][i]]["x"] for i in on_map],
            "y": [self.geo[m["code"][i]]["y"] for i in on_map],
            **{k: [m[k][i] for i in on_map] for k in ("code", "name", "value")},
            "text": [texts[i] for i in on_map],
            "band": [bands[i] for i in on_map],
        }
        self.mapper.low, self.mapper.high = 0.0, _nice_ceiling(float(np.max(m["value"])))
        self.colorbar.formatter.format = fmt
        self.f_map.title.text = f"{label}, {st['date']}"

    def draw_date(self, ds: xr.Dataset, st: dict) -> None:
        """The cards, the cursor, the differences and the history at the date."""
        t = views.index_at(ds, np.datetime64(st["date"], "ms"))
        assert t is not None  # the state's date is one of the run's
        self.cursor.location = views.dates(ds)[t].astype(np.int64)
        self.summary.text = _summary_html(ds, t)
        d = self.catalog.columns("differences", st)
        pairs = list(zip(d["within_noise"], d["d"], d["errors"], strict=True))
        self.src["differences"].data = {
            **d,
            "color": ["#999999" if w else ("#d62728" if x > 0 else "#1f77b4") for w, x, _ in pairs],
            "note": [
                ("within noise" if w else "")
                + (" (independent s.e.)" if e == "independent" else "")
                for w, _, e in pairs
            ],
        }
        self.f_diff.y_range.factors = d["label"]
        self.f_diff.title.text = f"Other scenarios' latest runs minus this run, {st['date']} (95%)"
        self.src["history"].data = self.catalog.columns("history", st)
        scen = ds.attrs["scenario_name"]
        self.f_hist.title.text = f"{scen} across its runs: probabilities by {st['date']}"

    def draw_member(self, st: dict) -> None:
        """The member panel and the fan chart."""
        self.src["member"].data = self.catalog.columns("member", st)
        self.f_member.title.text = f"{st['member']}: membership and defence burden"
        self.src["fan"].data = self.catalog.columns("fan", st)
        label, unit = views.FANS[st["fan"]]
        of = f", {st['member']}" if st["fan"] == "burden" else ""
        self.f_fan.title.text = f"{label} ({unit}){of}"

    def draw_drivers(self, st: dict) -> None:
        """Rankings, Sobol' indices and PRIM boxes, when the run has an analysis."""
        an = self.catalog.analysis(st["run"])
        dr = self.catalog.columns("drivers", st) if an is not None else {}
        has_sobol = "sobol_st" in dr
        empty: dict[str, list] = {k: [] for k in EMPTY_DRIVERS}
        self.src["drivers"].data = dr or empty
        self.src["sobol"].data = dr if has_sobol else empty
        factors = list(reversed(dr.get("parameter", [])))
        self.f_drivers.y_range.factors = factors
        self.f_sobol.y_range.factors = factors if has_sobol else []
        if an is None:
            self.prim.text = (
                "<p>No analysis of this run: <code>alliance-risk analyse STORE RUN</code> "
                "(a run kept with samples).</p>"
            )
            return
        self.f_drivers.title.text = f"Drivers of {OUTCOMES[st['outcome']]}: Spearman (95%)"
        share = float(an["explained_share"].sel(outcome=st["outcome"])) if has_sobol else np.nan
        self.f_sobol.title.text = (
            f"Sobol' indices; the inputs explain {share:.0%} of the variance"
            if np.isfinite(share)
            else "Sobol' indices (a Saltelli run only)"
        )
        items = "".join(f"<li>{s}</li>" for s in views.prim_sentences(an))
        self.prim.text = f"<h4>Where the bad outcomes concentrate (PRIM)</h4><ul>{items}</ul>"


class RunsHandler(RequestHandler):
    """GET /api/runs: the published runs the dashboard sees."""

    def initialize(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"runs": self.catalog.entries(), "latest": self.catalog.latest()}))


class CsvHandler(RequestHandler):
    """GET /api/csv/<panel>?run=...: the data behind a panel, as CSV."""

    def initialize(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def get(self, panel: str) -> None:
        st = {
            k: self.get_argument(k, "") for k in ("run", "date", "member", "var", "fan", "outcome")
        }
        st["run"] = st["run"] or self.catalog.latest().get(self.get_argument("scenario", ""), "")
        try:
            text = views.to_csv(self.catalog.columns(panel, st))
        except (KeyError, ValueError) as exc:
            raise HTTPError(404, reason=str(exc).strip("'\"")[:200]) from None
        name = f"{st['run']}-{panel}.csv"
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.write(text)


class ReportHandler(RequestHandler):
    """GET /report/<run>/<file>: the run's static report, written on the first request."""

    lock = threading.Lock()

    def initialize(self, catalog: Catalog, cache: Path) -> None:
        self.catalog, self.cache = catalog, cache

    def get(self, run_id: str, name: str) -> None:
        from alliance_risk.pipeline.apps.report import write_report

        name = name or "index.html"
        if run_id not in self.catalog.fs.catalog_ids() or not re.fullmatch(r"[\w.-]+", name):
            raise HTTPError(404)
        out = self.cache / run_id
        with self.lock:
            if not (out / "index.html").exists():
                write_report(self.catalog.store, run_id, out)
        path = out / name
        if not path.is_file():
            raise HTTPError(404)
        kind = {".html": "text/html", ".png": "image/png", ".svg": "image/svg+xml"}
        self.set_header("Content-Type", kind.get(path.suffix, "application/octet-stream"))
        self.write(path.read_bytes())


def serve(
    store: str,
    port: int = 5006,
    address: str = "127.0.0.1",
    show: bool = False,
    allow_origins: list[str] | None = None,
    prefix: str = "",
) -> None:
    """Serve the dashboard until interrupted. ``allow_origins``: host[:port] values the
    browser may connect from (besides this address), e.g. a reverse proxy's public name;
    ``prefix``: the URL path the proxy forwards (e.g. "/alliance")."""
    from bokeh.server.server import Server

    catalog = Catalog(store)
    first = catalog.default_scenario()
    if first is not None:  # what a first visitor sees, before listening; the rest meanwhile
        catalog.warm([first])
    threading.Thread(target=catalog.warm, name="warm-up", daemon=True).start()
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    cache = Path(tempfile.mkdtemp(prefix="alliance-risk-reports-"))
    origins = [
        f"{address}:{port}",
        f"localhost:{port}",
        f"127.0.0.1:{port}",
        *(allow_origins or []),
    ]
    server = Server(
        {"/": lambda doc: make_document(doc, catalog, prefix)},
        port=port,
        address=address,
        prefix=prefix,
        allow_websocket_origin=origins,
        use_xheaders=bool(allow_origins or prefix),
        extra_patterns=[
            (r"/api/runs", RunsHandler, {"catalog": catalog}),
            (r"/api/csv/(\w+)", CsvHandler, {"catalog": catalog}),
            (r"/report/([\w.-]+)/?([\w.-]*)", ReportHandler, {"catalog": catalog, "cache": cache}),
        ],
    )
    server.start()
    print(f"dashboard on http://{address}:{port}{prefix}/ (store {store})", flush=True)
    if show:
        server.io_loop.add_callback(server.show, "/")
    server.io_loop.start()
