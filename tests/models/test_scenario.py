"""Scenario files: built-ins load, and bad input gets one clear line per problem."""

from __future__ import annotations

import tomllib

import pytest
from model_helpers import base_dict

from alliance_risk.models.errors import ScenarioError
from alliance_risk.models.parameters import GLOBAL_NAMES
from alliance_risk.models.scenario import builtin_names, builtin_path, load_scenario, parse_scenario

BUILTINS = [
    "backtest-2014",
    "detente",
    "high-target-pressure",
    "nato-2025",
    "nato-2025-pooled",
    "us-pivot",
]


def problems(data: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="bad.toml")
    return info.value.problems


def test_builtins_are_listed_and_valid():
    assert builtin_names() == BUILTINS
    for name in BUILTINS:
        sc = load_scenario(name)
        assert sc.name == name
        assert len(sc.members) == 32
        assert sc.sha256 and len(sc.sha256) == 64


def test_parameter_names_are_stable_and_complete():
    sc = load_scenario("nato-2025")
    names = sc.parameter_names
    assert names[: len(GLOBAL_NAMES)] == GLOBAL_NAMES
    assert names[len(GLOBAL_NAMES)] == "growth[ALB]"
    assert names[-1] == "sceptical_share[USA]"
    assert len(names) == len(set(names)) == len(GLOBAL_NAMES) + 2 * 32


def test_member_overrides_replace_the_default_distribution():
    sc = load_scenario("nato-2025")
    dists = dict(zip(sc.parameter_names, sc.distributions, strict=True))
    assert dists["sceptical_share[ESP]"].a == 3.0  # Pew favourable < 50%
    assert dists["sceptical_share[DEU]"].a == 2.0
    assert dists["growth[USA]"].mean_ == 0.02


def test_pooled_scenario_differs_only_in_the_exit_prior():
    a, b = load_scenario("nato-2025"), load_scenario("nato-2025-pooled")
    diff = [n for n in GLOBAL_NAMES if a.parameters[n] != b.parameters[n]]
    assert diff == ["withdrawal_base_hazard"]
    assert b.parameters["withdrawal_base_hazard"].mean() == pytest.approx(17 / 11348)


def test_negative_gdp_names_member_field_and_value():
    data = base_dict()
    data["members"][4]["gdp"] = -3
    assert problems(data) == ["bad.toml: members[4].gdp must be > 0, got -3"]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda d: d["scenario"].update(colour="red"),
            "bad.toml: scenario.colour is not a known field, got 'red'",
        ),
        (lambda d: d["time"].update(steps=0), "bad.toml: time.steps must be > 0, got 0"),
        (
            lambda d: d["time"].update(steps="forty"),
            "bad.toml: time.steps must be an integer, got 'forty'",
        ),
        (lambda d: d["time"].update(start="2025-01"), "bad.toml: time.start has the wrong form"),
        (
            lambda d: d["time"].update(step_months=2),
            "bad.toml: time.step_months must be 3, 6 or 12, got 2",
        ),
        (lambda d: d.update(members=[]), "bad.toml: members must not be empty, got []"),
        (
            lambda d: d["members"][1].update(code="ALB"),
            "bad.toml: members[1].code 'ALB' duplicates members[0].code",
        ),
        (lambda d: d["members"][0].pop("burden"), "bad.toml: members[0].burden is required"),
        (
            lambda d: d["alliance"].update(hegemon="CHN"),
            "bad.toml: alliance.hegemon 'CHN' is not a member",
        ),
        (
            lambda d: d["parameters"].update(kappa_typo={"dist": "fixed", "value": 1.0}),
            "bad.toml: parameters.kappa_typo is not a known parameter",
        ),
        (
            lambda d: d["parameters"].pop("war_base_hazard"),
            "bad.toml: parameters.war_base_hazard is required",
        ),
        (
            lambda d: d["parameters"].update(
                burden_volatility={"dist": "lognormal", "mu": 0, "sigma": -1}
            ),
            "bad.toml: parameters.burden_volatility sigma must be > 0, got -1",
        ),
        (
            lambda d: d["parameters"].update(
                frontline_bonus={"dist": "uniform", "low": 0.6, "high": 0.2}
            ),
            "bad.toml: parameters.frontline_bonus low must be < high, got low=0.6, high=0.2",
        ),
        (
            lambda d: d["parameters"].update(commitment_base={"dist": "beta", "a": 0, "b": 2}),
            "bad.toml: parameters.commitment_base.a must be > 0, got 0",
        ),
        (
            lambda d: d["parameters"].update(cyber_rate={"dist": "poisson", "lam": 3}),
            "bad.toml: parameters.cyber_rate dist must be one of",
        ),
        (
            lambda d: d["parameters"].update(cyber_rate={"low": 3}),
            "bad.toml: parameters.cyber_rate needs a 'dist' key",
        ),
        (
            lambda d: d["parameters"].update(
                war_base_hazard={"dist": "normal", "mean": 0.003, "sd": 0.001}
            ),
            "bad.toml: parameters.war_base_hazard must lie in [0, 100]",
        ),
        (
            lambda d: d["parameters"].update(
                target_pull={
                    "dist": "mixture",
                    "weights": [0.7, 0.7],
                    "components": [
                        {"dist": "fixed", "value": 0.1},
                        {"dist": "fixed", "value": 0.5},
                    ],
                }
            ),
            "bad.toml: parameters.target_pull weights must be > 0 and sum to 1, got [0.7, 0.7]",
        ),
        (
            lambda d: d["alliance"].update(burden_min=20.0),
            "bad.toml: alliance.burden_max must be > alliance.burden_min",
        ),
        (
            lambda d: d["dissolution"].update(min_members=40),
            "bad.toml: dissolution.min_members must not exceed the number of members",
        ),
    ],
)
def test_bad_fields_are_reported_with_field_and_value(mutate, expected):
    data = base_dict()
    mutate(data)
    found = problems(data)
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_are_reported_at_once():
    data = base_dict()
    data["members"][2]["gdp"] = -1
    data["members"][3]["distance_km"] = 0
    data["time"]["steps"] = 0
    assert len(problems(data)) == 3


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such file and no built-in scenario"):
        load_scenario(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[time\nsteps = 4")
    with pytest.raises(ScenarioError, match=r"broken\.toml: not valid TOML"):
        load_scenario(broken)
    copy = tmp_path / "mine.toml"
    copy.write_text(builtin_path("nato-2025").read_text().replace("gdp = 27.0", "gdp = -27.0"))
    with pytest.raises(ScenarioError, match=r"mine.toml: members\[0\].gdp must be > 0, got -27.0"):
        load_scenario(copy)


def test_scenario_files_carry_sources():
    text = builtin_path("nato-2025").read_text()
    data = tomllib.loads(text)
    for m in data["members"]:
        assert m["gdp_source"] and m["burden_source"] and m["support_source"]
    hun = next(m for m in data["members"] if m["code"] == "HUN")
    assert hun["burden_source"].startswith("APPROXIMATE")
