"""The ATOP hindcast: rolling-origin, out-of-sample forecasts of pact ends and member exits.

At each origin (1960, 1965, ..., 2010) every defence pact in force gets a "generic alliance"
scenario built from what was known then (its members, age, threat scores; hazards fitted on
histories before the origin, ``hazards``), run through the same kernel as the NATO
scenarios (member exits, too-few-members collapse, exogenous dissolution) for five years.
P(the pact ends within 5 years) and P(each member exits within 5 years) are then scored
against what ATOP records, and against climatology (the constant hazard of the pact's class
estimated on the same pre-origin data).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import xarray as xr

from alliance_risk.models.kernel import simulate
from alliance_risk.models.layout import NEVER
from alliance_risk.models.parameters import NEUTRAL
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import Scenario, builtin_path, parse_scenario
from alliance_risk.pipeline.validation import atop, hazards
from alliance_risk.pipeline.validation import scores as S

HORIZON = 5  # years
ORIGINS = tuple(range(1960, 2011, 5))

# every uncertain input of the generic alliance: couplings off, only exits and dissolution
GENERIC = NEUTRAL


def _fixed(v: float) -> dict:
    return {"dist": "fixed", "value": float(v)}


def _hazard_dist(h: float, se: float) -> dict:
    """The fitted hazard with its estimation uncertainty: lognormal, median h, log s.e. se."""
    if se < 1e-6:
        return _fixed(h)
    return {
        "dist": "lognormal",
        "median": h,
        "p05": h * np.exp(-1.645 * se),
        "p95": h * np.exp(1.645 * se),
    }


@cache
def _base() -> dict:
    data = tomllib.loads(builtin_path("nato-2025").read_text(encoding="utf-8"))
    data["couplings"] = {k: False for k in data["couplings"]}
    data["alliance"] |= {"hegemon": None, "notice_quarters": 0, "dyads": [], "dyads_source": ""}
    data["dissolution"] = {
        "cohesion_fraction": 0.0,
        "cohesion_quarters": 4,
        "min_retention": 0.0,
        "min_members": 2,
    }
    data["member_parameters"] = {"growth": _fixed(0.0), "sceptical_share": _fixed(0.0)}
    data.pop("events", None)
    return data


def generic_scenario(pact: atop.Pact, origin: int, h_end: tuple, h_exit: tuple) -> Scenario:
    """A generic alliance of the pact's members at ``origin``: exogenous dissolution at the
    fitted termination hazard (its mean over the five years, which gives the same 5-year
    probability when a treaty term runs out inside them), member exits at the fitted exit
    hazard (none for a bilateral pact, whose exit is its end), collapse below two members."""
    data = dict(_base())
    data["scenario"] = {"name": f"atop-{pact.atopid}-{origin}", "alliance": f"ATOP {pact.atopid}"}
    data["time"] = {"start": f"{origin}Q1", "steps": 4 * HORIZON, "step_months": 3}
    params = {k: _fixed(v) for k, v in GENERIC.items()}
    params["dissolution_hazard"] = _hazard_dist(*h_end)
    params["withdrawal_base_hazard"] = _fixed(0.0) if pact.bilateral else _hazard_dist(*h_exit)
    data["parameters"] = params
    data["members"] = [
        {
            "code": _letters(m),
            "name": f"COW {m}",
            "gdp": 100.0,
            "gdp_source": "generic",
            "burden": 2.0,
            "burden_source": "generic",
            "distance_km": 2000.0,
            "frontline": False,
            "support": 60.0,
            "support_source": "generic",
            "sceptical_government": False,
            "state_source": "generic alliance: every government pro-alliance",
        }
        for m in pact.members_at(origin)
    ]
    return parse_scenario(data, source=f"ATOP {pact.atopid} at {origin}")


def _letters(cow: int) -> str:
    """A member code of three capitals for a COW country code (base 26)."""
    return "".join(chr(65 + (cow // 26**k) % 26) for k in (2, 1, 0))


@dataclass(frozen=True)
class OriginForecast:
    """Forecasts made at one origin, in pact order; members flattened with their pact id."""

    origin: int
    atopid: np.ndarray
    p_end: np.ndarray
    clim_end: np.ndarray
    member_atopid: np.ndarray
    member: np.ndarray
    p_exit: np.ndarray
    clim_exit: np.ndarray


def forecast_origin(
    history: atop.History, origin: int, sims: int = 400, seed: int = 0
) -> OriginForecast:
    """Forecasts at ``origin`` from ``atop.censor(history, origin)`` only."""
    view = atop.censor(history, origin)
    Xp, yp = hazards.pact_years(view)
    Xm, ym = hazards.member_years(view)
    fit_end, fit_exit = hazards.fit_poisson(Xp, yp), hazards.fit_poisson(Xm, ym)
    clim = {b: hazards.climatology(Xp, yp, 1, float(b)) for b in (True, False)}
    clim_exit = hazards.climatology(Xm, ym)
    rows: dict[str, list] = {k: [] for k in ("id", "pe", "ce", "mid", "m", "px", "cx")}
    for pact in view.pacts:
        members = pact.members_at(origin)
        if not pact.in_force(origin) or len(members) < 2:
            continue
        window = range(origin + 1, origin + HORIZON + 1)  # the years whose ends are scored
        h_end = fit_end.mean_hazard(
            np.array([hazards.pact_features(view, pact, t) for t in window])
        )
        h_exit = fit_exit.hazard(hazards.exit_features(view, pact, members, origin))
        sc = generic_scenario(pact, origin, h_end, h_exit)
        rng = np.random.default_rng([seed, origin, pact.atopid])
        res = simulate(sc, sample_parameters(sc, sims, rng), rng)
        rows["id"].append(pact.atopid)
        rows["pe"].append(float(np.mean(res.events["dissolution_step"] != NEVER)))
        rows["ce"].append(-np.expm1(-HORIZON * clim[pact.bilateral]))
        wd, diss = res.member_events["withdrawal_step"], res.events["dissolution_step"]
        p_exit = np.mean((wd != NEVER) & (wd < diss[:, None]), axis=0)  # an exit, not the end
        if pact.bilateral:
            continue
        for j, m in enumerate(members):
            rows["mid"].append(pact.atopid)
            rows["m"].append(m)
            rows["px"].append(float(p_exit[j]))
            rows["cx"].append(-np.expm1(-HORIZON * clim_exit))
    a = {k: np.asarray(v) for k, v in rows.items()}
    return OriginForecast(origin, a["id"], a["pe"], a["ce"], a["mid"], a["m"], a["px"], a["cx"])


def outcomes(history: atop.History, fc: OriginForecast) -> tuple[np.ndarray, np.ndarray]:
    """What ATOP records in the five years after the origin: (pact ended, member exited)."""
    o, end = fc.origin, fc.origin + HORIZON
    ended = np.array(
        [(p := history.pact(int(i))).endyr is not None and o < p.endyr <= end for i in fc.atopid]
    )
    exited = []
    for i, m in zip(fc.member_atopid, fc.member, strict=True):
        p = history.pact(int(i))
        exited.append(
            any(s.member == m and s.exit is not None and o < s.exit <= end for s in p.exits())
        )
    return ended.astype(float), np.array(exited, dtype=float)


def check_origins(origins, last_year: int = atop.LAST_YEAR) -> None:
    """One line for an origin without five years of pre-origin history and outcomes."""
    for o in origins:
        if not atop.FIRST_YEAR + 5 <= o <= last_year - HORIZON:
            raise atop.HistoryError(
                f"origin {o} is outside the data: origins run from {atop.FIRST_YEAR + 5} to "
                f"{last_year - HORIZON} (ATOP v4.01 records ends up to {last_year})"
            )


def run_hindcast(
    origins=ORIGINS,
    sims: int = 400,
    seed: int = 0,
    history: atop.History | None = None,
    progress: Callable[[int], None] | None = None,
) -> xr.Dataset:
    """Forecast at every origin, attach the outcomes, score; one Dataset (docs/store.md)."""
    full = history or atop.load()
    check_origins(origins, full.last_year)
    parts = []
    for o in origins:
        fc = forecast_origin(full, o, sims, seed)
        parts.append((fc, *outcomes(full, fc)))
        if progress is not None:
            progress(o)
    return _dataset(parts, seed)


def _dataset(parts, seed: int) -> xr.Dataset:
    cat = np.concatenate
    fcs = [p[0] for p in parts]
    ds = xr.Dataset(
        {
            "origin": ("forecast", cat([np.full(len(f.atopid), f.origin) for f in fcs])),
            "atopid": ("forecast", cat([f.atopid for f in fcs])),
            "p_end": ("forecast", cat([f.p_end for f in fcs])),
            "climatology_end": ("forecast", cat([f.clim_end for f in fcs])),
            "ended": ("forecast", cat([p[1] for p in parts])),
            "exit_origin": (
                "member_forecast",
                cat([np.full(len(f.member), f.origin) for f in fcs]),
            ),
            "exit_atopid": ("member_forecast", cat([f.member_atopid for f in fcs])),
            "member": ("member_forecast", cat([f.member for f in fcs])),
            "p_exit": ("member_forecast", cat([f.p_exit for f in fcs])),
            "climatology_exit": ("member_forecast", cat([f.clim_exit for f in fcs])),
            "exited": ("member_forecast", cat([p[2] for p in parts])),
        }
    )
    ds.attrs |= scores_of(ds, seed)
    return ds


def scores_of(ds: xr.Dataset, seed: int = 0) -> dict:
    """Brier, Brier skill against climatology (bootstrap over pacts), reliability slope."""
    out: dict = {}
    for what, p, c, y, g in (
        ("end", "p_end", "climatology_end", "ended", "atopid"),
        ("exit", "p_exit", "climatology_exit", "exited", "exit_atopid"),
    ):
        pv, cv, yv, gv = (ds[v].values for v in (p, c, y, g))
        if len(yv) == 0:
            continue
        bss = S.bootstrap(S.brier_skill, pv, yv, cv, groups=gv, seed=seed, draws=1000)
        slope, intercept = S.reliability_slope(pv, yv)
        out |= {
            f"{what}_n": len(yv),
            f"{what}_events": int(yv.sum()),
            f"{what}_brier": S.brier(pv, yv),
            f"{what}_brier_climatology": S.brier(cv, yv),
            f"{what}_log_score": S.log_score(pv, yv),
            f"{what}_log_score_climatology": S.log_score(cv, yv),
            f"{what}_brier_skill": [bss.value, bss.low, bss.high],
            f"{what}_reliability_slope": slope,
            f"{what}_reliability_intercept": intercept,
        }
    return out
