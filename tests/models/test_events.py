"""Dated scenario events: hostility jumps and target-pull regimes, exact on both backends."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import neutral_scenario, run

from alliance_risk.models.errors import ScenarioError

DT = 0.25
N = 32


def _events(*events):
    return {"events": list(events)}


def _scenario(params, events, **kw):
    sc = neutral_scenario(params=params, **kw)
    data = sc.model_dump(by_alias=True)
    data["events"] = events
    from alliance_risk.models.scenario import parse_scenario

    return parse_scenario(data, source="test.toml")


def test_a_hostility_jump_enters_the_update_that_starts_at_its_quarter(backend):
    theta, size1, size2 = 0.2, 0.7, -0.3
    sc = _scenario(
        {"hostility_reversion": theta},
        [
            {"quarter": "2025Q3", "type": "hostility_jump", "size": size1, "source": "t"},
            {"quarter": "2027Q1", "type": "hostility_jump", "size": size2, "source": "t"},
        ],
    )
    H = run(sc, 3, backend=backend, dtype=np.float64).series["hostility"].astype(float)
    expected = np.zeros(41)
    for k in range(40):  # H' = H + θ (0 − H) Δ + jump at k
        jump = size1 * (k == 2) + size2 * (k == 8)
        expected[k + 1] = expected[k] - theta * expected[k] * DT + jump
    np.testing.assert_allclose(H, np.broadcast_to(expected[:, None], H.shape), atol=1e-6)
    assert H[2, 0] == 0 and H[3, 0] == pytest.approx(size1)


def test_a_target_pull_regime_multiplies_the_pull_from_its_quarter(backend):
    lam, scale, target = 0.1, 6.0, 3.5
    sc = _scenario(
        {"target_pull": lam},
        [{"quarter": "2026Q1", "type": "target_pull", "scale": scale, "source": "t"}],
        sections={"targets": {"initial": target, "final": target, "incremental": False}},
        members={i: {"sceptical_government": False} for i in range(N)},
    )
    res = run(sc, 2, backend=backend, dtype=np.float64, member_traces=True)
    b = res.members["burden"][:, 0, :].astype(float)
    b0 = sc.member_array("burden")
    below = (b0 < target) & sc.member_array("has_forces").astype(bool)
    gap = target - b0[below]
    expected = [gap]
    for k in range(40):
        expected.append(expected[-1] * (1 - lam * (scale if k >= 4 else 1.0) * DT))
    np.testing.assert_allclose(b[:, below], target - np.array(expected), rtol=1e-6)  # traces: f32
    assert res.final_burden.shape == (2, N)
    np.testing.assert_allclose(res.final_burden[0], b[-1], rtol=1e-6)


def test_no_events_leaves_the_paths_unchanged():
    sc = neutral_scenario(params={"hostility_volatility": 0.2, "target_pull": 0.3})
    a = run(sc, 50, seed=3)
    b = run(_scenario({"hostility_volatility": 0.2, "target_pull": 0.3}, []), 50, seed=3)
    np.testing.assert_array_equal(a.series["hostility"], b.series["hostility"])
    np.testing.assert_array_equal(a.final_burden, b.final_burden)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            {"quarter": "2035Q1", "type": "hostility_jump", "size": 1.0, "source": "s"},
            "test.toml: events[0].quarter must lie in the horizon [2025Q1, 2034Q4], got '2035Q1'",
        ),
        (
            {"quarter": "2024Q4", "type": "target_pull", "scale": 2.0, "source": "s"},
            "events[0].quarter must lie in the horizon",
        ),
        (
            {"quarter": "2026Q1", "type": "hostility_jump", "source": "s"},
            "test.toml: events[0].size is required for a hostility_jump event",
        ),
        (
            {"quarter": "2026Q1", "type": "target_pull", "scale": -1.0, "source": "s"},
            "events[0].scale must be > 0, got -1.0",
        ),
        (
            {"quarter": "2026Q1", "type": "coup", "size": 1.0, "source": "s"},
            "events[0].type",
        ),
        ({"quarter": "2026Q1", "type": "hostility_jump", "size": 1.0}, "events[0].source"),
    ],
)
def test_bad_events_are_one_line_naming_field_and_value(event, message):
    with pytest.raises(ScenarioError) as err:
        _scenario({}, [event])
    assert any(message in line for line in err.value.problems), err.value.problems


# --- member and state events (applied between updates by models.events) ------------------


def _ev(quarter, kind, **fields):
    return {"quarter": quarter, "type": kind, "source": "test", **fields}


def test_a_forced_notice_gives_the_exit_exactly_notice_quarters_later(backend):
    """Notice in 2026Q1's update (k = 4) shows at k + 1; the member leaves notice_quarters
    (6) updates after that in every simulation (no rescission, no endogenous hazard)."""
    sc = _scenario({}, [_ev("2026Q1", "notice", member="TUR")])
    sc = sc.replace(alliance={**sc.alliance.model_dump(), "notice_quarters": 6})
    res = run(sc, 200, backend=backend)
    i = sc.codes.index("TUR")
    np.testing.assert_array_equal(res.member_events["notice_step"][:, i], 5)
    np.testing.assert_array_equal(res.member_events["withdrawal_step"][:, i], 5 + 6)
    others = np.delete(res.member_events["withdrawal_step"], i, axis=1)
    assert (others == 32767).all()
    assert (res.series["members"][11] == N - 1).all() and (res.series["members"][10] == N).all()


def test_a_notice_with_zero_notice_period_is_an_exit_in_the_same_update(backend):
    res = run(_scenario({}, [_ev("2026Q1", "notice", member="TUR")]), 50, backend=backend)
    i = _scenario({}, []).codes.index("TUR")
    np.testing.assert_array_equal(res.member_events["withdrawal_step"][:, i], 5)


def test_a_government_event_holds_for_its_duration_then_e6_resumes(backend):
    """A sceptical government in 2027Q1 (k = 8) held 8 quarters under a high change rate:
    sceptical at every record step 9..16, then E6 changes it in some simulations."""
    sc = _scenario(
        {"government_change_rate": 2.0},
        [_ev("2027Q1", "government", member="USA", sceptical=True, duration=8)],
    )
    res = run(sc, 400, backend=backend, member_traces=True)
    us = res.members["sceptical"][:, :, sc.codes.index("USA")]
    assert us[9:17].all()
    assert not us[8].all() and not us[-1].all()  # the hazard acts before and after


def test_a_return_rescinds_a_pending_notice_and_ends_disengagement(backend):
    """Member 5 starts disengaged with 6 quarters of notice left; returning in 2025Q3
    (update 2) it never leaves and is back in the integrated structure from step 3."""
    code = neutral_scenario().codes[5]
    sc = _scenario(
        {},
        [_ev("2025Q3", "return", member=code)],
        members={5: {"notice_pending": 6, "disengaged": True}},
    )
    res = run(sc, 100, backend=backend, member_traces=True)
    assert (res.member_events["notice_step"][:, 5] == 0).all()  # observed at the start
    assert (res.member_events["withdrawal_step"][:, 5] == 32767).all()
    dis = res.members["disengaged"][:, :, 5]
    assert dis[:3].all() and not dis[3:].any()
    left = run(_scenario({}, [], members={5: {"notice_pending": 6}}), 20, backend=backend)
    assert (left.member_events["withdrawal_step"][:, 5] == 6).all()  # without the return


def test_hegemon_presence_changes_the_local_balance_for_its_duration_only(backend):
    """With every coupling off, R does not feed back: a presence of 0 from 2026Q1 (update
    4) for 4 quarters lowers R at record steps 5..8 only, by the hegemon's whole term."""
    sc = _scenario({}, [_ev("2026Q1", "hegemon_presence", value=0.0, duration=4)])
    base = run(_scenario({}, []), 30, backend=backend, dtype=np.float64)
    res = run(sc, 30, backend=backend, dtype=np.float64)
    R0, R = base.series["local_balance"], res.series["local_balance"]
    np.testing.assert_array_equal(R[:5], R0[:5])
    np.testing.assert_array_equal(R[9:], R0[9:])
    assert (R[5:9] < R0[5:9]).all()


def test_a_target_event_moves_the_pull_to_the_new_target(backend):
    """Target 3.5% until 2026Q1, 5% from then: each member below closes λΔ of its gap to
    whichever target holds in the update (closed form, float64)."""
    lam = 0.2
    sc = _scenario(
        {"target_pull": lam},
        [_ev("2026Q1", "target", value=5.0)],
        sections={"targets": {"initial": 3.5, "final": 3.5, "incremental": False}},
        members={i: {"sceptical_government": False} for i in range(N)},
    )
    res = run(sc, 2, backend=backend, dtype=np.float64, member_traces=True)
    b = res.members["burden"][:, 0, :].astype(float)
    has = sc.member_array("has_forces").astype(bool)
    expected = [sc.member_array("burden")[has]]
    for k in range(40):
        tgt = 5.0 if k >= 4 else 3.5
        x = expected[-1]
        expected.append(np.where(x < tgt, x + lam * DT * (tgt - x), x))
    np.testing.assert_allclose(b[:, has], np.array(expected), rtol=1e-5)


def test_a_forced_pandemic_costs_its_gdp_loss_and_counts_once(backend):
    loss = 0.1
    sc = _scenario({"pandemic_gdp_loss": loss}, [_ev("2027Q1", "pandemic", duration=4)])
    res = run(sc, 20, backend=backend, dtype=np.float64, member_traces=True)
    gdp = res.members["gdp"].astype(float)
    np.testing.assert_allclose(gdp[9] / gdp[8], 1 - loss, rtol=1e-5)
    np.testing.assert_allclose(gdp[8] / gdp[0], 1.0, rtol=1e-5)
    assert (res.series["pandemics"][:9] == 0).all() and (res.series["pandemics"][9:] == 1).all()


def test_an_event_with_a_probability_happens_in_that_share_of_simulations(backend):
    """p = 0.3: the share that gives notice is 0.3 within 4 Monte Carlo s.e., and the exit
    happens exactly where the event's draw says it did."""
    n, p = 4000, 0.3
    sc = _scenario({}, [_ev("2026Q1", "notice", member="TUR", probability=p, name="tr-exit")])
    res = run(sc, n, backend=backend)
    i = sc.codes.index("TUR")
    hit = res.occurred[:, 0]
    assert sc.event_names == ("tr-exit",) and res.occurred.shape == (n, 1)
    assert abs(hit.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_array_equal(res.member_events["withdrawal_step"][:, i] == 5, hit)


def test_an_uncertain_hostility_jump_equals_the_certain_one_where_it_happens(backend):
    kw = {"hostility_reversion": 0.3}
    jump = _ev("2026Q1", "hostility_jump", size=0.8)
    sure = run(_scenario(kw, [jump]), 500, backend=backend, dtype=np.float64)
    maybe = run(_scenario(kw, [{**jump, "probability": 0.5}]), 500, backend=backend,
                dtype=np.float64)  # fmt: skip
    none = run(_scenario(kw, []), 500, backend=backend, dtype=np.float64)
    hit = maybe.occurred[:, 0]
    assert 0 < hit.sum() < 500
    H = maybe.series["hostility"]
    np.testing.assert_allclose(H[:, hit], sure.series["hostility"][:, hit], atol=1e-12)
    np.testing.assert_array_equal(H[:, ~hit], none.series["hostility"][:, ~hit])


def test_an_event_does_not_move_any_other_random_number(backend):
    """Common random numbers: a what-if for one member leaves every other member's path
    (couplings off) bitwise as it was."""
    kw = {"burden_volatility": 0.3, "burden_adjustment": 0.5, "government_change_rate": 0.3}
    ev = _ev("2026Q1", "government", member="USA", sceptical=True, probability=0.5)
    a = run(_scenario(kw, []), 200, backend=backend, member_traces=True)
    b = run(_scenario(kw, [ev]), 200, backend=backend, member_traces=True)
    us = _scenario(kw, []).codes.index("USA")
    keep = np.arange(N) != us
    np.testing.assert_array_equal(a.members["burden"][..., keep], b.members["burden"][..., keep])


def test_elections_are_the_only_time_a_calendar_member_changes_government(backend):
    """Calendar mode: under a high h_gov the member's orientation changes only in the
    updates of its election quarters (2026Q4 = update 7, 2030Q4 = 23); with turnover 1 and
    support at its mean, the new government is sceptical with the stationary share 0.2."""
    n = 3000
    sc = _scenario(
        {"government_change_rate": 3.0},
        [],
        members={
            0: {"elections": {"quarters": ["2026Q4", "2030Q4"], "turnover": 1.0, "source": "test"}}
        },
    )
    res = run(sc, n, backend=backend, member_traces=True)
    g = res.members["sceptical"][:, :, 0]
    changed = (g[1:] != g[:-1]).any(axis=1)  # record step k + 1 differs from k
    assert set(np.flatnonzero(changed)) <= {7, 23}
    share = g[8].mean()
    assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)
    other = res.members["sceptical"][:, :, 1]
    assert (other[1:] != other[:-1]).any(axis=1).sum() > 10  # h_gov still acts elsewhere


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_ev("2026Q1", "notice", member="XXX"),
         "test.toml: events[0].member 'XXX' is not a member"),
        (_ev("2026Q1", "notice"), "test.toml: events[0].member is required for a notice event"),
        (_ev("2026Q1", "target", value=3.0, probability=0.5),
         "test.toml: events[0].probability is not used by a target event (a policy applies "
         "to every simulation), got 0.5"),
        (_ev("2026Q1", "notice", member="USA", duration=4),
         "test.toml: events[0].duration is not used by a notice event, got 4"),
        (_ev("2026Q1", "hegemon_presence", value=1.5),
         "test.toml: events[0].value must be a share in [0, 1], got 1.5"),
        (_ev("2026Q1", "pandemic", probability=1.5),
         "test.toml: events[0].probability must be <= 1, got 1.5"),
        (_ev("2026Q1", "government", member="USA"),
         "test.toml: events[0].sceptical is required for a government event"),
    ],
)  # fmt: skip
def test_bad_what_if_events_are_one_line_naming_field_and_value(event, message):
    with pytest.raises(ScenarioError) as err:
        _scenario({}, [event])
    assert message in err.value.problems, err.value.problems


def test_two_events_with_one_name_and_an_election_outside_the_horizon_are_refused():
    ev = _ev("2026Q1", "pandemic", name="p")
    with pytest.raises(ScenarioError) as err:
        _scenario({}, [ev, {**ev, "quarter": "2027Q1"}])
    assert "test.toml: events[1].name 'p' is also the name of events[0]: give each event its " \
        "own name" in err.value.problems  # fmt: skip
    with pytest.raises(ScenarioError) as err:
        neutral_scenario(members={0: {"elections": {"quarters": ["2040Q1"], "turnover": 0.5,
                                                    "source": "s"}}})  # fmt: skip
    assert err.value.problems == [
        "test: members[0].elections.quarters[0] must lie in the horizon [2025Q1, 2034Q4], "
        "got '2040Q1'"
    ]
