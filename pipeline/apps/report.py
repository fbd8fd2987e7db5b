"""The report: figures (PNG and SVG) and an HTML page for one published run.

``write_report(store, run_id, out)`` reads only the store (the run, the latest run of every
scenario, the run's latest analysis if any) and writes ``out/index.html`` and the figures.
"""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from alliance_risk.pipeline.apps import views
from alliance_risk.pipeline.apps.geo import countries, view_box
from alliance_risk.pipeline.outputs import horizon_index
from alliance_risk.pipeline.products.headlines import HORIZONS, headline_table, interval95
from alliance_risk.pipeline.store import ForecastStore, StoreError, open_store

PERCENT = FuncFormatter(lambda v, _: f"{100 * v:.1f}".rstrip("0").rstrip(".") + "%")


def _percent(ax, axis: str = "y") -> None:
    """Probabilities as percentages on ``axis``."""
    getattr(ax, f"{axis}axis").set_major_formatter(PERCENT)


def _subplots(*args, figsize, **kwargs):
    """A figure and its axes without pyplot: no global figure registry, and the caller's
    matplotlib backend is left as it is (figures render through Agg when saved)."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def _save(fig: Figure, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110)
    fig.savefig(out / f"{name}.svg")
    return name


def fan_chart(ds: xr.Dataset, out: Path) -> str:
    fig, axes = _subplots(1, 2, figsize=(10, 3.8), sharey=True)
    t = views.dates(ds)
    for ax, name in zip(axes, ("cohesion", "credibility"), strict=True):
        q = ds[f"{name}_quantile"].values  # (time, quantile) 5, 25, 50, 75, 95 %
        ax.fill_between(t, q[:, 0], q[:, 4], alpha=0.2, color="C0", label="5–95%")
        ax.fill_between(t, q[:, 1], q[:, 3], alpha=0.4, color="C0", label="25–75%")
        ax.plot(t, q[:, 2], color="C0", label="median")
        ax.plot(t, ds[f"{name}_mean"].values, "k--", lw=1, label="mean")
        ax.set(title=f"{name.capitalize()} (index 0-1)", xlabel="date", ylim=(0, 1))
    axes[0].legend(loc="lower left", fontsize=8)
    return _save(fig, out, "fan_cohesion_credibility")


def survival(ds: xr.Dataset, out: Path, top: int = 6) -> str:
    fig, axes = _subplots(1, 2, figsize=(10, 3.8))
    t = views.dates(ds)
    for name, style in (("p_intact", "-"), ("p_intact_with_hegemon", "--")):
        p = ds[name].values
        axes[0].plot(t, p, style, label=name.removeprefix("p_").replace("_", " "))
        axes[0].fill_between(t, *interval95(ds, name), alpha=0.2)
    axes[0].set(title="Alliance intact (95% band)", xlabel="date", ylabel="probability")
    axes[0].legend(fontsize=8)
    _percent(axes[0])
    _percent(axes[1])
    wd = ds["p_withdrawn"].values  # (time, member)
    axes[1].plot(t, 1 - wd, color="0.75", lw=0.7)  # every member
    for j in np.argsort(-wd[-1])[:top]:  # the most at risk, named
        axes[1].plot(t, 1 - wd[:, j], lw=1.6, label=str(ds["member"].values[j]))
    axes[1].set(title=f"Each member still in ({top} most at risk named)", xlabel="date")
    axes[1].legend(fontsize=7, ncol=2)
    return _save(fig, out, "survival")


def conflict(ds: xr.Dataset, out: Path) -> str:
    fig, ax = _subplots(figsize=(6, 3.8))
    t, p = views.dates(ds), ds["p_conflict"].values
    ax.plot(t, p, color="C3", label="P(conflict onset by t)")
    ax.fill_between(t, *interval95(ds, "p_conflict"), color="C3", alpha=0.25, label="95% MC")
    if "p_conflict_given_intact" in ds:
        ax.plot(
            t,
            ds["p_conflict_given_intact"].values,
            "--",
            color="C3",
            lw=1,
            label="given the alliance intact",
        )
    ax.set(title="Cumulative conflict-onset probability", xlabel="date")
    ax.legend(fontsize=8)
    _percent(ax)
    return _save(fig, out, "conflict")


def members_remaining(ds: xr.Dataset, out: Path, horizons=HORIZONS) -> str:
    fig, ax = _subplots(figsize=(6, 3.8))
    n = ds["n_members"].values
    width = 0.8 / len(horizons)
    for k, year in enumerate(horizons):
        i = horizon_index(ds["time"].values, year)
        offset = (k - (len(horizons) - 1) / 2) * width
        ax.bar(n + offset, ds["members_pmf"].values[i], width, label=f"{year:g} yr")
    hi = int(n[ds["members_pmf"].values.sum(axis=0) > 0].max())
    ax.set(
        title="Members remaining",
        xlabel="members",
        ylabel="probability",
        xlim=(max(hi - 8, 0) - 0.5, hi + 0.5),
    )
    _percent(ax)
    ax.legend(fontsize=8)
    return _save(fig, out, "members_remaining")


def burden(ds: xr.Dataset, out: Path, members=("USA", "DEU", "FRA", "GBR", "POL", "ITA")) -> str:
    codes = [m for m in members if m in set(map(str, ds["member"].values))]
    fig, axes = _subplots(2, 3, figsize=(10, 5.5), sharex=True)
    t = views.dates(ds)
    for ax, code in zip(axes.ravel(), codes, strict=False):
        q = ds["burden_quantile"].sel(member=code).values
        ax.fill_between(t, q[:, 1], q[:, 3], alpha=0.35, label="25–75%")
        ax.plot(t, q[:, 2], label="median")
        ax.plot(t, ds["target"].sel(member=code).values, "k--", lw=1, label="target")
        ax.set(title=f"{code} defence burden", ylabel="% of GDP")
    axes[0, 0].legend(fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel("date")
    fig.autofmt_xdate()
    return _save(fig, out, "burden")


def sensitivity(an: xr.Dataset, out: Path, top: int = 12) -> str:
    outcomes = ("conflict", "any_withdrawal")
    fig, axes = _subplots(1, 2, figsize=(11, 4.8))
    for ax, o in zip(axes, outcomes, strict=True):
        rho = an["spearman"].sel(outcome=o).values
        lo, hi = an["spearman_low"].sel(outcome=o).values, an["spearman_high"].sel(outcome=o).values
        order = np.argsort(-np.nan_to_num(np.abs(rho)))[:top][::-1]
        y = np.arange(len(order))
        ax.barh(y, rho[order], color=np.where(rho[order] > 0, "C3", "C0"))
        ax.errorbar(
            rho[order],
            y,
            xerr=[rho[order] - lo[order], hi[order] - rho[order]],
            fmt="none",
            ecolor="k",
            lw=0.8,
        )
        ax.set_yticks(y, [str(p) for p in an["parameter"].values[order]], fontsize=7)
        ax.axvline(0, color="k", lw=0.5)
        ax.set(title=f"Drivers of {o.replace('_', ' ')}", xlabel="Spearman rank correlation")
    return _save(fig, out, "sensitivity")


def sobol(an: xr.Dataset, out: Path, top: int = 12) -> str:
    outcomes = ("any_withdrawal", "conflict", "cohesion_final")
    fig, axes = _subplots(1, 3, figsize=(13, 4.8))
    for ax, o in zip(axes, outcomes, strict=True):
        st, s1 = an["sobol_st"].sel(outcome=o).values, an["sobol_s1"].sel(outcome=o).values
        conf = an["sobol_st_conf"].sel(outcome=o).values
        order = np.argsort(-np.nan_to_num(st, nan=-1.0))[:top][::-1]
        y = np.arange(len(order))
        ax.barh(y, st[order], color="C1", label="total")
        ax.barh(y, np.clip(s1[order], 0, None), color="C0", height=0.5, label="first order")
        ax.errorbar(st[order], y, xerr=conf[order], fmt="none", ecolor="k", lw=0.8)
        ax.set_yticks(y, [str(p) for p in an["parameter"].values[order]], fontsize=7)
        ax.set(title=f"Sobol' indices: {o.replace('_', ' ')}", xlabel="share of variance")
    axes[0].legend(fontsize=7)
    return _save(fig, out, "sobol")


def differences(fs: ForecastStore, ds: xr.Dataset, out: Path) -> str | None:
    """The latest run of every other scenario minus this run at the horizon, with 95%
    intervals: paired (common random numbers) where a stored comparison has them, else
    independent (labelled); sorted; grey where within noise."""
    latest = fs.latest_runs()
    rid = ds.attrs["run_id"]
    others = {s: r for s, r in latest.items() if s != ds.attrs["scenario_name"]}
    when = views.dates(ds)[-1]

    arrays = views.read_headlines(fs, [rid, *others.values()])
    d = views.differences(
        rid, others, when, arrays.__getitem__, partial(views.stored_comparison, fs)
    )
    if not d["d"]:
        return None
    fig, ax = _subplots(figsize=(9, max(3.2, 0.9 + 0.32 * len(d["d"]))))
    y = np.arange(len(d["d"]))
    x, se = np.array(d["d"]), np.array(d["se"])
    colors = [
        "0.6" if w else ("C3" if v > 0 else "C0") for w, v in zip(d["within_noise"], x, strict=True)
    ]
    ax.errorbar(x, y, xerr=views.Z95 * se, fmt="none", ecolor="k", lw=0.8)
    ax.scatter(x, y, c=colors, zorder=3)
    labels = [
        f"{lab}\n({'within noise, ' if w else ''}{e} s.e.)"
        for lab, w, e in zip(d["label"], d["within_noise"], d["errors"], strict=True)
    ]
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(0, color="k", lw=0.5)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:+.1f} pp"))
    ax.set(title=f"Other scenarios minus {ds.attrs['scenario_name']}, {views.date_label(when)}")
    return _save(fig, out, "differences")


def member_map(ds: xr.Dataset, out: Path, var: str = "p_withdrawn") -> str:
    """Members coloured by ``var`` at the horizon, other countries grey."""
    geo = countries()
    m = views.members_at(ds, -1, var)
    fig, ax = _subplots(figsize=(10, 4.6))
    grey = [np.column_stack(ring) for g in geo.values() for ring in g["rings"]]
    ax.add_collection(PolyCollection(grey, facecolor="0.9", edgecolor="white", lw=0.4))
    polys, values = [], []
    for code, v in zip(m["code"], m["value"], strict=True):
        for ring in geo[code]["rings"] if code in geo else []:
            polys.append(np.column_stack(ring))
            values.append(v)
    coll = PolyCollection(
        polys, array=np.array(values), cmap="viridis_r", edgecolor="white", lw=0.4
    )
    coll.set_clim(0, max(float(np.max(m["value"])), 1e-9))
    ax.add_collection(coll)
    (x0, x1), (y0, y1) = view_box()
    ax.set(xlim=(x0, x1), ylim=(y0, y1), aspect="equal", xticks=[], yticks=[])
    label, unit = views.MAP_VARIABLES[var]
    bar = fig.colorbar(coll, ax=ax, shrink=0.8, label=label)
    if unit == "probability":
        bar.ax.yaxis.set_major_formatter(PERCENT)
    ax.set_title(f"{label} by {views.date_label(views.dates(ds)[-1])}")
    return _save(fig, out, "map")


def write_report(
    store, run_id: str | None, out: str | Path, horizons: tuple[float, ...] = HORIZONS
) -> Path:
    """Write the figures and ``index.html`` for a run (default: the newest) into ``out``;
    ``horizons`` (years) are those of the members-remaining chart."""
    fs = open_store(store, create=False)
    rid = fs.resolve(run_id)
    ds = fs.open_run(rid).load()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [
        fan_chart(ds, out),
        survival(ds, out),
        conflict(ds, out),
        members_remaining(ds, out, horizons),
        burden(ds, out),
    ]
    analyses = [a for a in fs.products("analyses") if a["run_id"] == rid]
    if analyses:
        an = fs.open_product("analyses", analyses[-1]["id"]).load()
        figures.append(sensitivity(an, out))
        if "sobol_st" in an:
            figures.append(sobol(an, out))
    figures.insert(2, member_map(ds, out))
    comp = differences(fs, ds, out)
    if comp:
        figures.append(comp)
    page = out / "index.html"
    page.write_text(_html(ds, rid, figures), encoding="utf-8")
    return page


def _html(ds: xr.Dataset, rid: str, figures: list[str]) -> str:
    cols, table = headline_table(ds)
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        for name, cells in table
    )
    head = "".join(f"<th>{c}</th>" for c in cols)
    imgs = "".join(
        f'<figure><img src="{f}.png" alt="{f}"><figcaption>{f.replace("_", " ")} '
        f'(<a href="{f}.svg">SVG</a>)</figcaption></figure>'
        for f in figures
    )
    a = ds.attrs
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>alliance-risk: {html.escape(rid)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}td,th{{padding:2px 8px;
text-align:right}}figure{{margin:1em 0}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(a["scenario_name"])}: run {html.escape(rid)}</h1>
<p>{a["sims"]:,} simulations, seed {a["seed"]}, sampler {a["sampler"]}, created {a["created"]};
model {a["model_version"]}, package {a["package_version"]}.</p>
<table id="headlines"><tr><th></th>{head}</tr>{rows}</table>
{imgs}
</body></html>
"""


__all__ = ["StoreError", "write_report"]
