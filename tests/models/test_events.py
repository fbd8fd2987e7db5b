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
