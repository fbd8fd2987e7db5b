"""Model test helpers: scenarios with every coupling off, for the analytic special cases."""

from __future__ import annotations

import tomllib

import numpy as np

from alliance_risk.models.kernel import simulate
from alliance_risk.models.parameters import NEUTRAL
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import builtin_path, parse_scenario

NEUTRAL = NEUTRAL


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": float(value)}


def base_dict() -> dict:
    return tomllib.loads(builtin_path("nato-2025").read_text())


def neutral_scenario(params=None, sections=None, members=None, n_members=None):
    """nato-2025 with every coupling off and every uncertain input fixed at a neutral value.

    ``params`` maps parameter names to values or distribution dicts; ``sections`` updates
    top-level tables; ``members`` maps a member index to field overrides.
    """
    data = base_dict()
    data["parameters"] = {k: fixed(v) for k, v in NEUTRAL.items()}
    for k, v in (params or {}).items():
        data["parameters"][k] = v if isinstance(v, dict) else fixed(v)
    data["member_parameters"] = {"growth": fixed(0.0), "sceptical_share": fixed(0.2)}
    data["couplings"] = {k: False for k in data["couplings"]}
    data["dissolution"] = {
        "cohesion_fraction": 0.0,
        "cohesion_quarters": 4,
        "min_retention": 0.0,
        "min_members": 0,
    }
    data["alliance"]["notice_quarters"] = 0
    data["alliance"]["burden_min"] = 0.0
    data["alliance"]["burden_max"] = 100.0
    data["alliance"]["dyads"] = []
    data["targets"]["hold_when_met"] = False
    rows = data["members"][: n_members or len(data["members"])]
    for row in rows:
        for key in (
            "growth",
            "sceptical_share",
            "sceptical_government",
            "notice_pending",
            "disengaged",
            "plan_burden",
            "plan_quarter",
            "plan_source",
        ):
            row.pop(key, None)
        row["state_source"] = "test"
    for i, over in (members or {}).items():
        rows[i].update(over)
    data["members"] = rows
    for key, vals in (sections or {}).items():
        data[key] = {**data.get(key, {}), **vals}
    return parse_scenario(data, source="test")


def run(scenario, n, seed=0, backend="numba", **kw):
    """Sample n parameter rows and simulate them; returns the KernelResult."""
    params = sample_parameters(scenario, n, np.random.default_rng([seed, 1]))
    return simulate(scenario, params, np.random.default_rng([seed, 2]), backend=backend, **kw)


def se(p, n):
    """Monte Carlo standard error of a proportion (floored so p = 0 or 1 keeps a margin)."""
    p = np.asarray(p, dtype=float)
    return np.sqrt(np.maximum(p * (1 - p), 1.0 / n) / n)
