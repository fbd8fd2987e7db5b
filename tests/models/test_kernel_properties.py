"""T12 and backend agreement: invariances and monotonicity under common random numbers."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import neutral_scenario, run

from alliance_risk.models.kernel import simulate
from alliance_risk.models.layout import NEVER
from alliance_risk.models.noise import StepNoise
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import load_scenario, parse_scenario

S = 3000


@pytest.fixture(scope="module")
def nato():
    return load_scenario("nato-2025")


@pytest.mark.slow
def test_member_permutation_permutes_member_outputs_only(nato):
    """Reversing the member order (and the member axis of every variate) changes nothing else."""
    n = len(nato.members)
    perm = np.arange(n)[::-1]
    data = nato.model_dump(by_alias=True)
    data["members"] = [data["members"][i] for i in perm]
    permuted = parse_scenario(data, source="permuted")
    params = sample_parameters(nato, 800, np.random.default_rng(3))
    index = {name: j for j, name in enumerate(nato.parameter_names)}
    params_p = params[:, [index[name] for name in permuted.parameter_names]]

    def hook(noise: StepNoise) -> StepNoise:  # permute the member axis of every variate
        return StepNoise(*(x if x is None or x.ndim < 3 else x[:, :, perm] for x in noise))

    a = simulate(nato, params, np.random.default_rng(4), backend="numpy", dtype=np.float64)
    b = simulate(
        permuted,
        params_p,
        np.random.default_rng(4),
        backend="numpy",
        dtype=np.float64,
        noise_hook=hook,
    )
    for name, x in a.series.items():
        np.testing.assert_allclose(b.series[name], x, rtol=1e-5, atol=1e-6, err_msg=name)
    for name in ("dissolution_step", "dissolution_cause", "onset_step", "hegemon_honours"):
        np.testing.assert_array_equal(b.events[name], a.events[name])
    np.testing.assert_array_equal(
        perm[b.events["onset_target"][b.events["onset_step"] < NEVER]],
        a.events["onset_target"][a.events["onset_step"] < NEVER],
    )
    for name, x in a.member_events.items():
        np.testing.assert_array_equal(b.member_events[name], x[:, perm])
    assert (a.member_events["withdrawal_step"] < NEVER).sum() > 0  # the test exercised exits


def _with(params, scenario, name, value):
    out = params.copy()
    out[:, scenario.parameter_names.index(name)] = value
    return out


def _crn_pair(scenario, name, low, high, seed=5):
    params = sample_parameters(scenario, S, np.random.default_rng(seed))
    a = simulate(scenario, _with(params, scenario, name, low), np.random.default_rng(seed + 1))
    b = simulate(scenario, _with(params, scenario, name, high), np.random.default_rng(seed + 1))
    return a, b


@pytest.mark.slow
def test_onset_is_pathwise_monotone_in_base_war_hazard(nato):
    a, b = _crn_pair(nato, "war_base_hazard", 0.003, 0.02)
    assert np.all(b.events["onset_step"] <= a.events["onset_step"])
    assert (b.events["onset_step"] < a.events["onset_step"]).sum() > 50


def test_higher_commitment_lowers_the_attack_hazard_from_the_start(nato):
    """Model 2 normalises E15 to a fixed reference state, not to the run's own start, so a
    more committed alliance deters from t = 0 (design T12(c); model 1's normalisation made
    the t = 0 hazard identical whatever the commitment)."""
    a, b = _crn_pair(nato, "commitment_base", 0.4, 0.9)
    assert np.all(b.series["conflict_hazard"][0] <= a.series["conflict_hazard"][0])
    assert np.mean(b.series["conflict_hazard"][0] < a.series["conflict_hazard"][0]) > 0.99


def test_onset_is_pathwise_monotone_in_the_arms_race_effect(nato):
    a, b = _crn_pair(nato, "war_arms_race", 0.0, 1.0)
    assert np.all(b.events["onset_step"] <= a.events["onset_step"])
    assert np.all(b.series["conflict_hazard"] >= a.series["conflict_hazard"] * (1 - 1e-6))


def test_intact_is_pathwise_monotone_in_dissolution_hazard(nato):
    a, b = _crn_pair(nato, "dissolution_hazard", 0.001, 0.05)
    assert np.all(b.events["dissolution_step"] <= a.events["dissolution_step"])
    assert np.all(b.series["alive"] <= a.series["alive"])


def test_intact_is_pathwise_monotone_in_exit_hazard_with_count_rules_only():
    sc = neutral_scenario(
        params={
            "withdrawal_base_hazard": {"dist": "uniform", "low": 0.0, "high": 0.05},
            "dissolution_hazard": 0.01,
        },
        sections={"dissolution": {"min_members": 28, "min_retention": 0.5}},
    )
    a, b = _crn_pair(sc, "withdrawal_base_hazard", 0.01, 0.03)
    assert np.all(b.member_events["withdrawal_step"] <= a.member_events["withdrawal_step"])
    assert np.all(b.series["alive"] <= a.series["alive"])
    assert (b.series["alive"][-1] < a.series["alive"][-1]).sum() > 50


def test_common_random_numbers_do_not_depend_on_parameter_values(nato):
    """Poisson counts come from inverse CDFs, so the variate stream has a fixed layout."""
    a, b = _crn_pair(nato, "crisis_rate", 0.2, 1.0)
    # same draws: hostility differs only through the crises, GDP-driven spending not at all
    # on the first update (crises do not touch spending before the next step)
    np.testing.assert_array_equal(
        a.series["alliance_spending"][1], b.series["alliance_spending"][1]
    )
    assert not np.array_equal(a.series["hostility"][-1], b.series["hostility"][-1])


def test_same_seed_same_result_bitwise(nato):
    params = sample_parameters(nato, 500, np.random.default_rng(1))
    a = simulate(nato, params, np.random.default_rng(2))
    b = simulate(nato, params, np.random.default_rng(2))
    for name, x in a.series.items():
        assert np.array_equal(x, b.series[name]), name
    for name, x in a.events.items():
        assert np.array_equal(x, b.events[name], equal_nan=True), name


def test_observer_sees_the_recorded_state(nato):
    params = sample_parameters(nato, 200, np.random.default_rng(1))
    seen = []
    res = simulate(
        nato,
        params,
        np.random.default_rng(2),
        member_traces=True,
        observer=lambda k, view: seen.append((k, view.active.sum(axis=1).copy())),
    )
    assert [k for k, _ in seen] == list(range(nato.time.steps + 1))
    for k, n_active in seen:
        np.testing.assert_array_equal(n_active, res.series["members"][k])
    np.testing.assert_array_equal(res.members["active"].sum(axis=2), res.series["members"])


@pytest.mark.slow
def test_default_scenario_headlines_are_plausible(nato):
    """Design §5 / Appendix A envelopes for the 10-year figures (20,000 draws)."""
    res = run(nato, 20_000, seed=42)
    onset = (res.events["onset_step"] <= 40).mean()
    intact = res.series["alive"][40].mean()
    any_exit = (res.member_events["withdrawal_step"] <= 40).any(axis=1).mean()
    assert 0.03 <= onset <= 0.15
    assert 0.90 <= intact <= 0.99
    assert 0.05 <= any_exit <= 0.25
    meet2 = res.n_meeting[40, :, 0].mean()
    assert 25 <= meet2 <= 31
