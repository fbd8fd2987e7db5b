"""The output registry drives the reduction, the stored Dataset and docs/store.md, and the
time axis gives the horizons (3-, 6- and 12-month grids)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from alliance_risk.models.scenario import builtin_path, load_scenario, parse_scenario
from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.engine.block import REDUCERS, indicators, simulate_block
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.engine.stats import merge
from alliance_risk.pipeline.outputs import (
    BY_NAME,
    OUTPUTS,
    horizon_index,
    markdown_tables,
    stored_variables,
    years_ahead,
)
from alliance_risk.pipeline.products.headlines import headline_table
from alliance_risk.pipeline.store import samples
from alliance_risk.pipeline.store.schema import FINALISERS, build_dataset

DOCS = Path(__file__).parents[2] / "docs" / "store.md"


def _between(text: str, tag: str) -> str:
    start = text.index(f"<!-- {tag}:begin")
    start = text.index("\n", start) + 1
    return text[start : text.index(f"<!-- {tag}:end -->")]


def test_docs_variable_tables_are_the_registrys():
    """docs/store.md's tables are generated; this fails when the registry changes and the
    docs were not regenerated (python -m alliance_risk.pipeline.outputs)."""
    text = DOCS.read_text(encoding="utf-8")
    assert _between(text, "outputs") == markdown_tables()
    assert _between(text, "samples") == samples.markdown_table()


@pytest.fixture(scope="module")
def small():
    sc = load_scenario("nato-2025")
    stats, _ = simulate_block(sc, RunSpec(sc.name, 1, 400, "mc", 400), 0)
    return sc, merge(None, stats)


def test_every_output_has_a_reducer_a_finaliser_and_its_statistics(small):
    _, totals = small
    for o in OUTPUTS:
        assert o.reduce in REDUCERS and o.kind in FINALISERS, o.name
        for key in (o.total, o.denominator):
            assert not key or any(k == key or k.startswith(f"{key}_") for k in totals), (o, key)


def test_count_outputs_read_existing_indicators():
    sc = load_scenario("detente")
    from alliance_risk.models.kernel import simulate
    from alliance_risk.models.sampling import sample_parameters

    res = simulate(
        sc, sample_parameters(sc, 50, np.random.default_rng(0)), np.random.default_rng(1)
    )
    names = set(indicators(sc, res))
    used = {o.source for o in OUTPUTS if o.reduce == "count"}
    assert used == names  # no indicator computed for nothing, none missing


def test_the_stored_dataset_is_exactly_the_registrys(small):
    sc, totals = small
    ds = build_dataset(sc, totals)
    declared = stored_variables()
    assert [v.name for v in declared] == [n for n in ds.data_vars if n != "member_name"]
    for v in declared:
        da = ds[v.name]
        assert da.dims == v.dims, v.name
        assert str(da.dtype) == v.dtype, v.name
        assert da.attrs["units"] == v.units and da.attrs["long_name"] == v.long_name, v.name
    for o in OUTPUTS:  # a probability is in [0, 1] and its interval brackets it
        if o.kind in ("probability", "conditional", "onset_probability"):
            p, ci = ds[o.name].values, ds[f"{o.name}_ci95"].values
            assert ((p >= 0) & (p <= 1)).all(), o.name
            assert (ci[..., 0] <= p + 1e-12).all() and (p <= ci[..., 1] + 1e-12).all(), o.name


def test_reduction_counts_match_the_kernel_record():
    """p_conflict at the horizon is the share of simulations with an onset step <= T."""
    from alliance_risk.models.kernel import simulate
    from alliance_risk.models.sampling import sample_parameters
    from alliance_risk.pipeline.engine.block import reduce_block

    sc = load_scenario("us-pivot")
    res = simulate(
        sc,
        sample_parameters(sc, 300, np.random.default_rng(2)),
        np.random.default_rng(3),
        member_summary=(0.0, 15.0, 300),
    )
    out = reduce_block(sc, res)
    T = sc.time.steps
    onset = res.events["onset_step"]
    assert out[BY_NAME["p_conflict"].total][T] == (onset <= T).sum()
    assert (
        out["n_withdrawn"][T].tolist()
        == (res.member_events["withdrawal_step"] <= T).sum(0).tolist()
    )


def _grid(months: int, steps: int):
    text = builtin_path("nato-2025").read_text(encoding="utf-8")
    text = text.replace("steps = 40\nstep_months = 3", f"steps = {steps}\nstep_months = {months}")
    data = tomllib.loads(text)
    data["scenario"]["name"] = f"nato-2025-{months}m"
    return parse_scenario(data, source=f"{months}m", text=text)


@pytest.mark.parametrize("months, steps", [(3, 40), (6, 20), (12, 10)])
def test_horizons_come_from_the_time_coordinate(tmp_path, months, steps):
    sc = _grid(months, steps)
    res = run_forecast(
        sc, sims=500, seed=1, store=tmp_path / "f.zarr", block_size=500,
        executor="inprocess", progress=False,
    )  # fmt: skip
    time = res.dataset["time"].values
    assert years_ahead(time)[-1] == pytest.approx(10, abs=0.01)
    per_year = 12 // months
    for years in (1, 5, 10):
        assert horizon_index(time, years) == years * per_year
    cols, rows = headline_table(res.dataset)
    assert cols == ["1 yr", "5 yr", "10 yr"]
    p10 = float(res.dataset["p_conflict"][10 * per_year])
    assert dict(rows)["p_conflict"][2].startswith(f"{p10:.4f}")
