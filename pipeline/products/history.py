"""The forecast's own history: each headline across a scenario's runs, and what changed.

Two runs of one scenario can differ for three reasons: the scenario (its text and data),
the model (``model_version`` and the package version) and Monte Carlo noise. ``changes``
separates them: a difference is "within noise" when it is under 2 standard errors of the
difference (independent errors: conservative for runs sharing a seed, whose common random
numbers make them positively correlated); when both the scenario and the model changed, a
*bridge* run (the old scenario text under the new model, ``alliance-risk rerun``) splits
the difference into its scenario part and its model part, each with its own noise check.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import numpy as np
import xarray as xr

from alliance_risk.models.errors import InputError
from alliance_risk.pipeline.outputs import HEADLINES
from alliance_risk.pipeline.products.headlines import horizons, normal_interval95
from alliance_risk.pipeline.store import ForecastStore
from alliance_risk.pipeline.store.arrays import read_run_arrays

Z_NOISE = 2.0  # |difference| < 2 s.e. of the difference: within Monte Carlo noise


class HistoryError(InputError):
    """Too few runs of a scenario, or runs that cannot be compared."""


def scenario_runs(fs: ForecastStore, scenario: str) -> list[dict]:
    """Catalog entries of a scenario's published runs, oldest first."""
    return [e for e in fs.catalog() if e.get("scenario") == scenario]


def _identity(attrs: dict) -> tuple[str, str, str]:
    """(model version, package version, random-number scheme): what makes the code's part
    of a run (runs before the scheme was recorded drew with scheme 1)."""
    return (
        str(attrs.get("model_version", "1")),
        str(attrs.get("package_version", "?")),
        str(attrs.get("rng_scheme", "1")),
    )


def history(fs: ForecastStore, scenario: str, years: tuple[float, ...] = (10.0,)) -> xr.Dataset:
    """The headlines of every run of ``scenario`` at the horizons ``years``: a Dataset over
    (run, horizon) with each probability, its s.e. and the run's provenance. Reads only the
    headline arrays of each run (store.arrays), so a year of daily runs takes seconds."""
    runs = scenario_runs(fs, scenario)
    if len(runs) < 2:
        have = f"one ({runs[0]['run_id']})" if runs else "none"
        raise HistoryError(
            f"{fs.root}: a history of {scenario!r} needs at least two published runs, the "
            f"store has {have}"
        )
    names = ["time", *HEADLINES, *(f"{n}_se" for n in HEADLINES)]
    arrays = read_run_arrays(fs, [e["run_id"] for e in runs], names)
    data: dict[str, list] = {n: [] for n in names[1:]}
    prov: dict[str, list] = {"created": [], "model": [], "scenario_sha256": [], "sims": []}
    labels: list[str] = []
    for e in runs:
        a = arrays[e["run_id"]]
        cols = horizons(xr.Dataset(coords={"time": a["date"]}), years)
        labels = labels or [c for c, _ in cols]
        idx = [i for _, i in cols][: len(labels)]
        for n in data:
            data[n].append(a[n][idx] if n in a else np.full(len(idx), np.nan))
        # entries written since the catalog carried them; else the run's own attributes
        attrs = e if "scenario_sha256" in e else fs.run_attrs(e["run_id"])
        prov["created"].append(str(e.get("created", "")))
        prov["model"].append("/".join(_identity(attrs)))
        prov["scenario_sha256"].append(str(attrs.get("scenario_sha256", ""))[:12])
        prov["sims"].append(int(e["sims"]))
    coords = {"run": [e["run_id"] for e in runs], "horizon": labels}
    out = xr.Dataset(
        {k: (("run", "horizon"), np.array(v, dtype=np.float64)) for k, v in data.items()},
        coords=coords,
    )
    for k, column in prov.items():
        out[k] = ("run", column)
    out.attrs["scenario"] = scenario
    return out


def markdown_history(h: xr.Dataset) -> str:
    """One row per run: each headline at the last horizon with its 95% band (± 1.96 s.e.)."""
    hz = str(h["horizon"].values[-1])
    head = " | ".join(f"{n} ({hz})" for n in HEADLINES)
    lines = [f"| run | created | model | scenario | {head} |", "|---" * (4 + len(HEADLINES)) + "|"]
    for r in range(h.sizes["run"]):
        cells = []
        for n in HEADLINES:
            p = float(h[n][r, -1])
            lo, hi = normal_interval95(p, float(h[f"{n}_se"][r, -1]))
            cells.append(f"{p:.3f} [{lo:.3f}, {hi:.3f}]")
        lines.append(
            f"| {h['run'].values[r]} | {str(h['created'].values[r])[:16]} | "
            f"{h['model'].values[r]} | {h['scenario_sha256'].values[r][:8]} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _flatten(data, prefix: str = "") -> dict[str, object]:
    """A TOML document as {dotted path: value}; members keyed by code, events by name."""
    out: dict[str, object] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        for j, x in enumerate(data):
            key = x.get("code") or x.get("name") or (f"{x.get('type')}@{x.get('quarter')}"
                                                     if "type" in x else j)  # fmt: skip
            out |= _flatten(x, f"{prefix}[{key}]")
    else:
        out[prefix] = data
    return out


def scenario_diff(old_text: str, new_text: str) -> list[str]:
    """What changed between two scenario texts, one line per field ("a.b: old -> new")."""
    a, b = _flatten(tomllib.loads(old_text)), _flatten(tomllib.loads(new_text))
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            lines.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return lines


@dataclass
class Change:
    """One headline's change between two runs, attributed to its sources."""

    name: str
    old: float
    new: float
    parts: list[tuple[str, float, float]]  # (source, difference, its s.e.)

    def label(self, diff: float, se: float) -> str:
        if diff == 0:
            return "no change"
        return "within noise" if abs(diff) < Z_NOISE * se else "beyond noise"


def _value(ds: xr.Dataset, name: str, k: int) -> tuple[float, float]:
    return float(ds[name].values[k]), float(ds[f"{name}_se"].values[k])


def _bridge(fs: ForecastStore, old: dict, new: dict) -> str | None:
    """The newest run with the old run's scenario text and the new run's model."""
    for e in reversed(fs.catalog()):
        a = fs.run_attrs(e["run_id"])
        if a.get("scenario_sha256") == old.get("scenario_sha256") and _identity(a) == _identity(
            new
        ):
            return e["run_id"]
    return None


def changes(fs: ForecastStore, old_id: str, new_id: str, years: float = 10.0) -> dict:
    """The "what changed" report between two runs of one scenario (``old_id`` first)."""
    old_id, new_id = fs.resolve(old_id), fs.resolve(new_id)
    a, b = fs.run_attrs(old_id), fs.run_attrs(new_id)
    if a["scenario_name"] != b["scenario_name"]:
        raise HistoryError(
            f"runs {old_id} and {new_id} forecast different scenarios "
            f"({a['scenario_name']}, {b['scenario_name']}): use alliance-risk compare"
        )
    scen = scenario_diff(a["scenario"], b["scenario"])
    model = _identity(a) != _identity(b)
    bridge = _bridge(fs, a, b) if scen and model else None
    ds_a, ds_b = fs.open_run(old_id), fs.open_run(new_id)
    cols = horizons(ds_b, (years,))
    if not cols:
        raise HistoryError(f"run {new_id} does not reach {years:g} years")
    hz, k = cols[0]
    ds_c = fs.open_run(bridge) if bridge else None
    rows = []
    for n in HEADLINES:
        if n not in ds_a or n not in ds_b:
            continue
        (pa, sa), (pb, sb) = _value(ds_a, n, k), _value(ds_b, n, k)
        if ds_c is not None:
            pc, scc = _value(ds_c, n, k)
            parts = [
                ("model", pc - pa, float(np.hypot(sa, scc))),
                ("scenario", pb - pc, float(np.hypot(sb, scc))),
            ]
        else:
            source = (
                "scenario and model (not separable: no bridge run)"
                if scen and model
                else "scenario"
                if scen
                else "model"
                if model
                else "Monte Carlo noise"
            )
            parts = [(source, pb - pa, float(np.hypot(sa, sb)))]
        rows.append(Change(n, pa, pb, parts))
    return {
        "old": old_id,
        "new": new_id,
        "horizon": hz,
        "scenario_changes": scen,
        "model": (_identity(a), _identity(b)),
        "bridge": bridge,
        "rows": rows,
        "same_draws": all(a.get(k) == b.get(k) for k in ("seed", "sims", "sampler", "block_size")),
    }


def markdown_changes(rep: dict) -> str:
    """The report as markdown: what differs, then each headline's change by source."""
    lines = [
        f"What changed from {rep['old']} to {rep['new']} (probabilities by {rep['horizon']})",
        "",
    ]
    scen = rep["scenario_changes"]
    lines.append(f"- scenario: {len(scen)} field(s) changed" if scen else "- scenario: unchanged")
    lines += [f"  - {s}" for s in scen[:20]] + (["  - ..."] if len(scen) > 20 else [])
    (ma, pa, ra), (mb, pb, rb) = rep["model"]
    same = (ma, pa, ra) == (mb, pb, rb)
    lines.append(
        f"- model: unchanged (model {ma}, package {pa}, random numbers {ra})"
        if same
        else f"- model: model {ma} -> {mb}, package {pa} -> {pb}, random numbers {ra} -> {rb}"
    )
    if rep["bridge"]:
        lines.append(f"- bridge run {rep['bridge']}: the old scenario under the new model")
    if not scen and same and rep["same_draws"]:
        lines.append("- same scenario, model, seed and size: the runs must agree exactly")
    lines += ["", "| headline | old | new | source | change | 2 s.e. | verdict |", "|---" * 7 + "|"]
    for r in rep["rows"]:
        for j, (src, d, se) in enumerate(r.parts):
            first = j == 0
            lines.append(
                f"| {r.name if first else ''} | {f'{r.old:.4f}' if first else ''} | "
                f"{f'{r.new:.4f}' if first else ''} | {src} | {d:+.4f} | {Z_NOISE * se:.4f} | "
                f"{r.label(d, se)} |"
            )
    return "\n".join(lines) + "\n"


def history_report(fs: ForecastStore, scenario: str, years: tuple[float, ...] = (10.0,)) -> str:
    """The history table, then what changed between the last two runs (``HistoryError`` with
    fewer than two): what ``alliance-risk history`` prints and the flow's artifact shows."""
    h = history(fs, scenario, years)
    *_, old, new = (str(r) for r in h["run"].values)
    return f"{markdown_history(h)}\n{markdown_changes(changes(fs, old, new, years[-1]))}"


__all__ = [
    "HistoryError",
    "changes",
    "history",
    "history_report",
    "markdown_changes",
    "markdown_history",
]
