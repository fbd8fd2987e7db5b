"""Distributions (inverse CDFs) and the MC / LHS / Sobol' samplers."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from alliance_risk.models.distributions import Distribution
from alliance_risk.models.sampling import map_design, sample_parameters, unit_design
from alliance_risk.models.scenario import load_scenario

DIST = TypeAdapter(Distribution)
U = np.array([0.01, 0.1, 0.5, 0.9, 0.99])


@pytest.mark.parametrize(
    "spec, frozen",
    [
        ({"dist": "uniform", "low": 1, "high": 3}, stats.uniform(1, 2)),
        ({"dist": "normal", "mean": 2, "sd": 0.5}, stats.norm(2, 0.5)),
        ({"dist": "lognormal", "mu": -1, "sigma": 0.3}, stats.lognorm(0.3, scale=np.exp(-1))),
        ({"dist": "beta", "a": 6.5, "b": 2.2}, stats.beta(6.5, 2.2)),
        ({"dist": "gamma", "shape": 0.5, "rate": 1444}, stats.gamma(0.5, scale=1 / 1444)),
        ({"dist": "gamma", "shape": 2, "scale": 3}, stats.gamma(2, scale=3)),
        ({"dist": "triangular", "low": 0, "mode": 1, "high": 4}, stats.triang(0.25, 0, 4)),
    ],
)
def test_inverse_cdfs_match_scipy(spec, frozen):
    exact = spec["dist"] not in ("beta", "gamma")  # those use an interpolated table
    tol = 1e-12 if exact else 1e-4 * frozen.std() / np.abs(frozen.ppf(U)).max()
    np.testing.assert_allclose(DIST.validate_python(spec).ppf(U), frozen.ppf(U), rtol=tol)


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "beta", "a": 2, "b": 8},
        {"dist": "beta", "a": 6.5, "b": 2.2},
        {"dist": "gamma", "shape": 0.5, "rate": 1444},
        {"dist": "gamma", "shape": 17, "rate": 11348},
    ],
)
def test_tabulated_inverse_cdf_error_is_below_1e4_sd_including_tails(spec):
    d = DIST.validate_python(spec)
    frozen = d._frozen()
    u = np.concatenate(
        [
            np.random.default_rng(0).random(100_000),
            np.geomspace(1e-12, 1e-3, 500),
            1 - np.geomspace(1e-12, 1e-3, 500),
        ]
    )
    err = np.abs(d.ppf(u) - frozen.ppf(u))
    assert err.max() < 1e-4 * frozen.std()
    assert np.all(np.diff(d.ppf(np.sort(u))) >= 0)  # monotone


def test_lognormal_by_median_and_90_percent_range():
    d = DIST.validate_python({"dist": "lognormal", "median": 0.067, "p05": 0.03, "p95": 0.15})
    q05, q50, q95 = d.ppf(np.array([0.05, 0.5, 0.95]))
    assert q50 == pytest.approx(0.067)
    assert q95 / q05 == pytest.approx(0.15 / 0.03)


def test_mixture_inverse_cdf_inverts_its_cdf():
    d = DIST.validate_python(
        {
            "dist": "mixture",
            "weights": [0.5, 0.5],
            "components": [
                {"dist": "uniform", "low": 0.03, "high": 0.1},
                {"dist": "normal", "mean": 0.6, "sd": 0.1},
            ],
        }
    )
    u = np.linspace(0.01, 0.99, 50)
    np.testing.assert_allclose(d.cdf(d.ppf(u)), u, atol=1e-9)
    draws = d.ppf(np.random.default_rng(0).random(200_000))
    assert draws.mean() == pytest.approx(d.mean(), abs=5 * draws.std() / np.sqrt(len(draws)))


@pytest.mark.parametrize("method", ["mc", "lhs", "sobol"])
def test_designs_are_reproducible_and_in_the_open_cube(method):
    a = unit_design(256, 7, method, np.random.default_rng(1))
    b = unit_design(256, 7, method, np.random.default_rng(1))
    assert np.array_equal(a, b)
    assert a.shape == (256, 7) and (a > 0).all() and (a < 1).all()


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_stratified_designs_fill_every_stratum(method):
    n = 256
    u = unit_design(n, 5, method, np.random.default_rng(2))
    for j in range(5):
        counts = np.bincount((u[:, j] * n).astype(int), minlength=n)
        assert (counts == 1).all()


def test_parameter_table_columns_follow_the_distributions():
    sc = load_scenario("nato-2025")
    n = 40_000
    table = sample_parameters(sc, n, np.random.default_rng(3))
    assert table.shape == (n, len(sc.parameter_names))
    for j in (
        0,
        sc.parameter_names.index("withdrawal_base_hazard"),
        sc.parameter_names.index("growth[USA]"),
    ):
        dist = sc.distributions[j]
        sd = np.std(table[:, j])
        assert abs(table[:, j].mean() - dist.mean()) <= 5 * sd / np.sqrt(n)


def test_map_design_is_each_inverse_cdf_on_its_column_bit_for_bit():
    """The table is a C-ordered (n x P) array whose column j is exactly distribution j's
    inverse CDF of design column j (however the mapping walks the design)."""
    sc = load_scenario("nato-2025")
    u = unit_design(500, len(sc.parameter_names), "mc", np.random.default_rng(4))
    table = map_design(sc, u)
    assert table.flags.c_contiguous and table.shape == u.shape
    for j, dist in enumerate(sc.distributions):
        assert np.array_equal(table[:, j], dist.ppf(u[:, j])), sc.parameter_names[j]


EVERY_FAMILY = [
    {"dist": "fixed", "value": 2.5},
    {"dist": "uniform", "low": -1.0, "high": 3.0},
    {"dist": "normal", "mean": 0.3, "sd": 1.7},
    {"dist": "lognormal", "median": 0.002, "p05": 0.0005, "p95": 0.013},
    {"dist": "lognormal", "mu": -1.0, "sigma": 0.4},
    {"dist": "beta", "a": 2.0, "b": 5.0},
    {"dist": "beta", "a": 0.5, "b": 0.5},
    {"dist": "gamma", "shape": 0.93, "rate": 1794.9},
    {"dist": "gamma", "shape": 3.0, "scale": 2.0},
    {"dist": "triangular", "low": 0.0, "mode": 0.2, "high": 1.0},
    {"dist": "triangular", "low": 1.0, "mode": 1.0, "high": 2.0},
    {
        "dist": "mixture",
        "weights": [0.3, 0.7],
        "components": [
            {"dist": "normal", "mean": 0.0, "sd": 1.0},
            {"dist": "uniform", "low": 2.0, "high": 4.0},
        ],
    },
    {
        "dist": "mixture",  # as nato-2025's target_pull: overlapping-free uniforms
        "weights": [0.5, 0.5],
        "components": [
            {"dist": "uniform", "low": 0.038, "high": 0.098},
            {"dist": "uniform", "low": 0.3, "high": 1.0},
        ],
    },
    {
        "dist": "mixture",  # a component the compiled bisection does not take: numpy's
        "weights": [0.6, 0.4],
        "components": [
            {"dist": "beta", "a": 2.0, "b": 3.0},
            {"dist": "normal", "mean": 1.5, "sd": 0.2},
        ],
    },
]


class _Columns:
    """What ``map_design`` reads of a scenario: the distribution of every column."""

    def __init__(self, specs):
        self.distributions = tuple(DIST.validate_python(s) for s in specs)


def test_map_design_maps_every_family_as_its_ppf_bit_for_bit():
    """The compiled mapping of each family (and the numpy finish of the log-normal's exp and
    the mixture's bisection) equals the distribution's own ppf exactly, edges included."""
    cols = _Columns(EVERY_FAMILY * 2)  # two tiles' worth of columns, each family twice
    u = unit_design(300, len(cols.distributions), "mc", np.random.default_rng(9))
    u[:4] = np.array([1e-12, 0.2, 0.5, 1 - 1e-12])[:, None]
    table = map_design(cols, u)  # type: ignore[arg-type]  # a scenario's one attribute it reads
    for j, dist in enumerate(cols.distributions):
        want = dist.ppf(np.ascontiguousarray(u[:, j]))
        assert np.array_equal(table[:, j].view(np.uint64), want.view(np.uint64)), dist


def test_map_design_checks_the_width():
    sc = load_scenario("nato-2025")
    with pytest.raises(ValueError, match="columns"):
        map_design(sc, np.full((3, 2), 0.5))


def test_scipys_c_functions_are_found_by_their_double_signature():
    """The compiled mapping calls scipy's own ndtri (a plain and a fused name both resolve to
    the double version); a function scipy does not have is an ImportError naming it."""
    from alliance_risk.models.sampling import _cython_special_double

    assert _cython_special_double("ndtri") > 0 and _cython_special_double("ndtr") > 0
    with pytest.raises(ImportError, match="no double no_such_function"):
        _cython_special_double("no_such_function")
