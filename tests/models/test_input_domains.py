"""Numbers that cannot go silently wrong: every input bounded to the model's domain (with the
reason), booleans and numbers taken strictly, a fuzz of mutated scenarios (each refused with
one line per problem, or run to finite outputs), and non-finite state caught in the block."""

from __future__ import annotations

import copy
import tomllib

import numpy as np
import pytest

from alliance_risk.models.errors import ScenarioError
from alliance_risk.models.kernel import simulate
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import builtin_path, load_scenario, parse_scenario
from alliance_risk.pipeline.engine.block import NonFiniteError, check_finite
from alliance_risk.pipeline.engine.plan import RunSpec


@pytest.fixture(scope="module")
def nato() -> dict:
    return tomllib.loads(builtin_path("nato-2025").read_text(encoding="utf-8"))


def _problems(data: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, source="s.toml")
    return info.value.problems


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (
            ("members", 0, "growth", "sd"),
            1e308,
            "s.toml: members[0].growth must lie in [-0.5, 0.5]",
        ),
        (("members", 0, "growth", "sd"), True, "s.toml: members[0].growth.sd must be a number"),
        (
            ("members", 0, "frontline"),
            1,
            "s.toml: members[0].frontline must be true or false, got 1",
        ),
        (("members", 0, "gdp"), float("nan"), "s.toml: members[0].gdp must be a finite number"),
        (("members", 0, "gdp"), 1e9, "s.toml: members[0].gdp must be <= 1e+06 (USD bn"),
        (("members", 0, "distance_km"), 5e4, "s.toml: members[0].distance_km must be <= 20037"),
        (("adversary", "hostility_level"), 40.0, "s.toml: adversary.hostility_level must be <= 5"),
        (("parameters", "war_hostility", "high"), 1e3, "s.toml: parameters.war_hostility must lie"),
        (
            ("parameters", "crisis_rate", "high"),
            float("inf"),
            "s.toml: parameters.crisis_rate.high",
        ),
        (("couplings", "threat_burden"), "yes", "s.toml: couplings.threat_burden must be true or"),
    ],
)
def test_out_of_domain_inputs_are_refused_with_the_reason(nato, path, value, expected):
    data = copy.deepcopy(nato)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    found = _problems(data)
    assert any(p.startswith(expected) for p in found), found
    assert all("\n" not in p for p in found)


def test_the_domain_message_gives_the_reason(nato):
    data = copy.deepcopy(nato)
    data["members"][0]["growth"]["sd"] = 1e308
    (line,) = _problems(data)
    assert "peacetime" in line and "normal distribution ranges over" in line


NASTY = [0, -1, 1e308, -1e308, float("nan"), float("inf"), True, False, "x", 1e-308, 1e6,
         -1e6, 0.5, 3, [], {}]  # fmt: skip


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    elif isinstance(node, (int, float, bool)):
        yield path


def test_mutated_scenarios_are_refused_in_one_line_or_run_finite(nato):
    """80 mutants of nato-2025 (a numeric or boolean field set to a nasty value, seeded):
    each is refused with one line per problem, or runs with finite outputs everywhere."""
    rng = np.random.default_rng(20261129)
    leaves = list(_leaves(nato))
    refused = ran = 0
    for _ in range(80):
        data = copy.deepcopy(nato)
        path = leaves[rng.integers(len(leaves))]
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = NASTY[rng.integers(len(NASTY))]
        try:
            sc = parse_scenario(data, source="mutant.toml")
        except ScenarioError as err:
            assert err.problems and all(
                p.startswith("mutant.toml: ") and "\n" not in p for p in err.problems
            ), err.problems
            refused += 1
            continue
        params = sample_parameters(sc, 200, np.random.default_rng(1))
        assert np.isfinite(params).all(), path
        res = simulate(sc, params, np.random.default_rng(2))
        check_finite(sc, RunSpec(sc.name, 0, 200, "mc", 200), 0, params, res)  # raises if not
        ran += 1
    assert refused > 0 and ran > 0, (refused, ran)


def test_a_non_finite_state_fails_the_block_naming_the_simulation_and_its_inputs():
    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, 50, np.random.default_rng(3))
    res = simulate(sc, params, np.random.default_rng(4))
    check_finite(sc, RunSpec(sc.name, 0, 50, "mc", 50), 2, params, res)  # finite: passes
    j = sc.parameter_names.index("war_hostility")
    params[17, j] = 1.49999  # the top of its U(0.5, 1.5) prior: the furthest in its tail
    res.series["cohesion"][9, 17] = np.nan
    with pytest.raises(NonFiniteError) as info:
        check_finite(sc, RunSpec(sc.name, 0, 50, "mc", 50), 2, params, res)
    msg = str(info.value)
    assert msg.startswith("simulation 117 (block 2) has non-finite cohesion at record 9")
    assert "war_hostility = 1.49999" in msg.split("tails: ")[1].split(",")[0]
