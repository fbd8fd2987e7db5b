"""docs/validation.md and its figures, written from the store's latest validations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from alliance_risk.pipeline.validation import scores as S

COMMAND = "alliance-risk validation --store validation.zarr --out docs"


def _iv(v, fmt=".3f") -> str:
    return f"{v[0]:{fmt}} [{v[1]:{fmt}}, {v[2]:{fmt}}]"


def _save(fig: Figure, out: Path, name: str) -> str:
    (out / "img").mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "img" / name, dpi=110, bbox_inches="tight")
    return f"img/{name}"


def backtest_figure(ds: xr.Dataset, out: Path) -> str:
    fig = Figure(figsize=(10, 3.6))
    ax, ax2 = fig.subplots(1, 2, width_ratios=[3, 1])
    x = np.arange(ds.sizes["ally"])
    sim = ds["simulated_2024"].values
    ax.vlines(x, sim[0], sim[2], color="tab:blue", alpha=0.5, lw=4, label="simulated 5-95%")
    ax.plot(x, sim[1], "_", color="tab:blue", ms=10, label="simulated median")
    ax.plot(x, ds["observed_2024"], "o", color="black", ms=4, label="NATO 2024")
    ax.plot(x, ds["burden_2014"], "x", color="grey", ms=4, label="2014 (persistence)")
    ax.axhline(2.0, color="red", lw=0.8, ls="--")
    ax.set_xticks(x, ds["ally"].values, rotation=90, fontsize=7)
    ax.set_ylabel("defence burden 2024, % of GDP")
    ax.legend(fontsize=7, ncol=2)
    counts = np.asarray(ds.attrs["pit_counts"])
    ax2.bar(np.arange(len(counts)) / len(counts), counts, width=1 / len(counts), align="edge")
    ax2.axhline(counts.sum() / len(counts), color="black", lw=0.8)
    ax2.set_title(f"PIT (chi2 p = {ds.attrs['pit_chi2_p']:.3f})", fontsize=9)
    return _save(fig, out, "validation-backtest.png")


def reliability_figure(ds: xr.Dataset, out: Path) -> str:
    fig = Figure(figsize=(8, 3.6))
    for ax, (p, y, title) in zip(
        fig.subplots(1, 2),
        (("p_end", "ended", "pact ends within 5 years"), ("p_exit", "exited", "member exits")),
        strict=True,
    ):
        r = S.reliability_diagram(ds[p].values, ds[y].values, bins=10, draws=500)
        mid = (r.edges[:-1] + r.edges[1:]) / 2
        ax.fill_between(mid, r.band_low, r.band_high, color="grey", alpha=0.3, step="mid")
        ax.plot(r.forecast, r.observed, "o-", ms=4)
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_xlim(0, max(0.6, np.nanmax(r.forecast) + 0.05))
        ax.set_ylim(0, 1)
        ax.set_title(f"{title} (slope {r.slope:.2f})", fontsize=9)
        ax.set_xlabel("forecast probability")
    fig.axes[0].set_ylabel("observed frequency")
    return _save(fig, out, "validation-reliability.png")


def _backtest_md(ds: xr.Dataset, fig: str) -> list[str]:
    a = ds.attrs
    coef = ds["regression_coef"]
    rows = [
        f"## NATO burden back-test, 2014 → 2024 (run `{a['run_id']}`, {a['sims']:,} simulations)",
        "",
        "Scenario `backtest-2014` (design priors, not the calibrated ones: these are",
        "out-of-sample scores of the model as designed). 90% bootstrap intervals over the 31",
        "allies with forces.",
        "",
        "| score | value [90% interval] |",
        "|---|---|",
        f"| mean CRPS, model (pp) | {_iv(a['mean_crps'])} |",
        f"| mean CRPS, persistence (b_2014) | {_iv(a['mean_crps_persistence'])} |",
        f"| mean CRPS, regression 0.27 + 0.51·gap + 1.03·frontline | "
        f"{_iv(a['mean_crps_regression'])} |",
        f"| CRPS ratio model / persistence | {_iv(a['crps_ratio_persistence'])} |",
        f"| CRPS ratio model / regression | {_iv(a['crps_ratio_regression'])} |",
        f"| coverage of the 90% interval | {a['coverage_90']:.2f} |",
        f"| allies at ≥ 2% in 2024: simulated 90% band vs observed | "
        f"[{a['count_band_90'][0]:.0f}, {a['count_band_90'][1]:.0f}] vs {a['count_observed']} |",
    ]
    for term, target in (("gap", 0.51), ("frontline", 1.03)):
        c = coef.sel(term=term).values
        rows.append(
            f"| regression coefficient `{term}`: simulated 5/50/95% vs {target} | "
            f"{c[0]:.2f} / {c[1]:.2f} / {c[2]:.2f} |"
        )
    obs = ds["observed_regression_coef"].values
    rows += [
        "",
        f"The 2024 figures of the package's NATO table give Δb = {obs[0]:.2f} + "
        f"{obs[1]:.2f}·gap + {obs[2]:.2f}·frontline (the issue's targets 0.27/0.51/1.03 come from",
        "the design's data vintage; both are shown).",
        "",
        f"![back-test]({fig})",
        "",
    ]
    return rows


def _hindcast_md(ds: xr.Dataset, fig: str) -> list[str]:
    a = ds.attrs
    rows = [
        f"## ATOP hindcast, origins {a['origins'][0]}–{a['origins'][-1]}",
        "",
        f"{a['end_n']} pact forecasts ({a['end_events']} ended within 5 years) and {a['exit_n']}",
        f"member forecasts ({a['exit_events']} exits), {a['sims_per_pact']} simulations per pact,",
        "hazards fitted only on histories before each origin. Brier skill against",
        "climatology (the class's constant pre-origin hazard), 90% bootstrap over pacts.",
        "",
        "| event | Brier | Brier, climatology | log score | log, climatology | skill | slope |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in ("end", "exit"):
        rows.append(
            f"| {w} | {a[f'{w}_brier']:.4f} | {a[f'{w}_brier_climatology']:.4f} | "
            f"{a[f'{w}_log_score']:.4f} | {a[f'{w}_log_score_climatology']:.4f} | "
            f"{_iv(a[f'{w}_brier_skill'])} | {a[f'{w}_reliability_slope']:.2f} |"
        )
    skill, slope = a["end_brier_skill"][0], a["end_reliability_slope"]
    met = skill >= 0.05 and 0.8 <= slope <= 1.2
    rows += [
        "",
        "Termination covariates: a bilateral pact, an old pact (30 years or more), a year in",
        "which the treaty's stated term or a renewal period runs out (ATOP `LENGTH`, `RENEWLGT`:",
        "dates fixed at signing, so known at every origin; pacts end in such a window about four",
        "times as often), and the log of the number of members at the origin (a pact of many",
        "members ends only when all of them let it). Exit covariates: an old pact, the members'",
        "threat score. The target of the protocol (skill ≥ 0.05 for ends, reliability slope in",
        f"[0.8, 1.2]) is {'' if met else 'not '}met: skill {skill:+.3f}, slope {slope:.2f}; by",
        f"period of origin: {_by_period(ds)}.",
        "Every covariate was chosen after earlier hindcasts were scored (the 30-year threshold",
        "from the ATOP rates, the treaty terms from the codebook; of two covariates from the",
        "literature tried last, the members' mean Leeds & Savun threat score lowered the skill",
        "and was dropped, the number of members raised it and was kept: commit 2f4c465 gives",
        "both), so the skill is optimistic by an unknown margin. What limits it: ends cluster",
        f"in time ({_busiest(ds)}), in system-wide shifts (decolonisation, the end of the",
        "Cold War)",
        "that no pact-level covariate known at the origin foresees, and there are few events.",
        "",
        f"![reliability]({fig})",
        "",
    ]
    return rows


def _by_period(ds: xr.Dataset, split: int = 1985) -> str:
    """Brier skill of the end forecasts with origins up to ``split`` and after it."""
    origin = ds["origin"].values
    parts = []
    for name, m in ((f"up to {split}", origin <= split), (f"after {split}", origin > split)):
        p, c, y = (ds[v].values[m] for v in ("p_end", "climatology_end", "ended"))
        parts.append(f"{name} {S.brier_skill(p, y, c):+.3f} ({int(y.sum())} ends)")
    return ", ".join(parts)


def _busiest(ds: xr.Dataset) -> str:
    """The two 5-year windows with the most pact ends, e.g. "19 of the 97 in 1991–95, ..."."""
    origin, ended = ds["origin"].values, ds["ended"].values
    per = {int(o): int(ended[origin == o].sum()) for o in np.unique(origin)}
    top = sorted(per, key=lambda o: (-per[o], o))[:2]
    total = sum(per.values())
    return ", ".join(f"{per[o]} of the {total} in {o + 1}–{str(o + 5)[-2:]}" for o in top)


def _calibration_md(ds: xr.Dataset) -> list[str]:
    a = ds.attrs
    lo, hi = a["exit_nato_90"]
    rows = [
        f"## Calibration (back-test run `{a['run_id']}`, {a['sims']:,} prior draws)",
        "",
        "**Exit hazard**, partially pooled gamma-Poisson over "
        f"{a['exit_groups']} post-1945 multilateral defence pacts ({a['exit_events']} exits in "
        f"{a['exit_member_years']:,.0f} member-years, NATO's 0 in 1,444 one of them): population "
        f"Gamma({a['exit_population_gamma'][0]:.3f}, {a['exit_population_gamma'][1]:.1f}), mean "
        f"{a['exit_population_mean']:.5f}/yr; NATO's posterior Gamma("
        f"{a['exit_nato_gamma'][0]:.3f}, {a['exit_nato_gamma'][1]:.1f}), mean "
        f"{a['exit_nato_mean']:.5f}/yr, 90% [{lo:.6f}, {hi:.5f}].",
        "",
        f"**Burden module**, rejection ABC with implausibility cut-off {a['cutoff']} on the "
        f"back-test targets: {a['accepted_draws']} of {a['sims']:,} draws kept "
        f"({a['acceptance_rate']:.1%}). Targets (value, tolerance): "
        + ", ".join(f"{k} {v[0]:.2f} ± {v[1]:.2f}" for k, v in a["targets"].items())
        + ".",
        "",
        "| parameter | prior 5 / 50 / 95% | posterior 5 / 50 / 95% |",
        "|---|---|---|",
    ]
    for p in ds["parameter"].values:
        pr, po = ds["prior"].sel(parameter=p).values, ds["posterior"].sel(parameter=p).values
        rows.append(
            f"| {p} | {pr[0]:.3g} / {pr[1]:.3g} / {pr[2]:.3g} | "
            f"{po[0]:.3g} / {po[1]:.3g} / {po[2]:.3g} |"
        )
    return [*rows, ""]


def write_report(backtest: xr.Dataset, hindcast: xr.Dataset, calibration: xr.Dataset, out) -> Path:
    """Write ``out/validation.md`` and its figures under ``out/img``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Validation",
        "",
        "<!-- generated: do not edit by hand -->",
        f"Every number and figure on this page is written by `{COMMAND}`",
        "(about 25 s on 2 cores); the protocol is in the sections below and in",
        "`pipeline/validation/`. Lower is better for Brier, log score and CRPS.",
        "",
        *_backtest_md(backtest, backtest_figure(backtest, out)),
        *_hindcast_md(hindcast, reliability_figure(hindcast, out)),
        *_calibration_md(calibration),
    ]
    path = out / "validation.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
