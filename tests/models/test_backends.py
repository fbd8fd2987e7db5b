"""The fused numba step and the vectorised numpy reference run the same equations
(``alliance_risk.models.equations``): in float64 they must agree on every recorded output, for every
coupling switched on alone, all together and none."""

from __future__ import annotations

import numpy as np
import pytest

from alliance_risk.models.kernel import simulate
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import Couplings, load_scenario

pytestmark = pytest.mark.slow  # statistical: thousands of simulations per test

S = 1500
COUPLINGS = tuple(Couplings.model_fields)


def _variant(name):
    sc = load_scenario("nato-2025")
    if name == "all":
        on = set(COUPLINGS)
    elif name == "none":
        on = set()
    else:
        on = {name}
    return sc.replace(couplings={c: c in on for c in COUPLINGS})


@pytest.mark.parametrize("coupling", [*COUPLINGS, "all", "none"])
def test_float64_paths_agree_on_every_output(coupling):
    sc = _variant(coupling)
    params = sample_parameters(sc, S, np.random.default_rng(11))
    kw = dict(dtype=np.float64, member_traces=True, member_summary=(0.0, 15.0, 300))
    a = simulate(sc, params, np.random.default_rng(12), backend="numba", **kw)
    b = simulate(sc, params, np.random.default_rng(12), backend="numpy", **kw)
    for name, x in a.series.items():  # the record is float32: agreement to its round-off
        np.testing.assert_allclose(x, b.series[name], rtol=1e-6, atol=1e-9, err_msg=name)
    np.testing.assert_array_equal(a.n_meeting, b.n_meeting)
    for name, x in a.events.items():
        np.testing.assert_array_equal(x, b.events[name], err_msg=name)
    for name, x in a.member_events.items():
        np.testing.assert_array_equal(x, b.member_events[name], err_msg=name)
    for name, x in a.members.items():
        np.testing.assert_allclose(x, b.members[name], rtol=1e-6, atol=1e-9, err_msg=name)
    for name, x in a.member_summary.items():
        np.testing.assert_allclose(x, b.member_summary[name], rtol=1e-9, err_msg=name)
    # the comparison saw events of every kind
    assert (a.events["onset_step"] <= sc.time.steps).sum() > 20
    assert (a.member_events["notice_step"] <= sc.time.steps).sum() > 5
    assert (a.events["dispute_step"] <= sc.time.steps).sum() > 100


def test_float32_production_type_agrees_statistically():
    """float32 state rounds differently, so single paths diverge after a discrete event;
    the headline probabilities agree within Monte Carlo error."""
    sc = load_scenario("nato-2025")
    n = 6000
    params = sample_parameters(sc, n, np.random.default_rng(3))
    a = simulate(sc, params, np.random.default_rng(4), backend="numba")
    b = simulate(sc, params, np.random.default_rng(4), backend="numpy")
    for x, y in (
        (a.events["onset_step"] <= 40, b.events["onset_step"] <= 40),
        (a.series["alive"][40], b.series["alive"][40]),
        (
            (a.member_events["withdrawal_step"] <= 40).any(1),
            (b.member_events["withdrawal_step"] <= 40).any(1),
        ),
    ):
        d = x.astype(float) - y.astype(float)
        assert abs(d.mean()) <= 5 * max(d.std(), 1 / n) / np.sqrt(n)
    assert np.mean(a.series["alive"][40] == b.series["alive"][40]) > 0.99
