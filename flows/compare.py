"""The ``compare`` flow: scenarios against a baseline with common random numbers."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from alliance_risk.flows.forecast import run_id_for
from alliance_risk.flows.tasks import (
    artifact_key,
    record_artifact,
    simulate,
    store_or_default,
    validate,
)
from alliance_risk.pipeline.api import DEFAULT_STORE
from alliance_risk.pipeline.engine.plan import DEFAULT_BLOCK_SIZE
from alliance_risk.pipeline.outputs import horizon_index
from alliance_risk.pipeline.products.compare import publish_comparison
from alliance_risk.pipeline.store import open_store

STRESS = ["high-target-pressure", "us-pivot", "detente"]


@task(name="compare-runs", retries=0, cache_policy=NO_CACHE)
def compare_task(store: str, baseline: str, others: list[str]):
    return publish_comparison(open_store(store, create=False), baseline, others)


def comparison_markdown(cid: str, ds, year: float = 10) -> str:
    i = horizon_index(ds["time"].values, year)
    lines = [
        f"### Comparison `{cid}` against {ds.attrs['baseline_scenario']} "
        f"({ds.attrs['sims']:,} simulations, seed {ds.attrs['seed']}, {year:g}-year horizon)",
        "",
        "| scenario | Δ P(intact) | Δ P(any withdrawal) | Δ P(conflict) |",
        "|---|---|---|---|",
    ]
    for j, name in enumerate(ds["scenario"].values):
        cells = [
            f"{float(ds[f'd_{h}'][j, i]):+.4f} ± {float(ds[f'd_{h}_se'][j, i]):.4f}"
            for h in ("p_intact", "p_any_withdrawal", "p_conflict")
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@flow(name="compare", log_prints=True)
def compare(
    baseline: str = "nato-2025",
    scenarios: list[str] | None = None,
    sims: int = 100_000,
    seed: int = 0,
    store: str = DEFAULT_STORE,
    scheduler: str | None = None,
    workers: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> dict:
    """Run the baseline and each scenario with the same seed (per-simulation samples kept),
    then store the differences with paired standard errors as ``comparisons/<id>``
    (default scenarios: the built-in stress scenarios)."""
    scenarios = list(STRESS if scenarios is None else scenarios)
    store = store_or_default(store)
    loaded = validate([baseline, *scenarios])
    runs = []
    for sc in loaded:
        res = simulate(
            sc,
            run_id_for(sc.name, _today(), seed) + "-crn",
            sims,
            seed,
            store,
            scheduler,
            workers,
            block_size=block_size,
            keep_samples=True,
        )
        runs.append(res.run_id)
    cid, ds = compare_task(store, runs[0], runs[1:])
    get_run_logger().info("comparison %s stored", cid)
    record_artifact(
        artifact_key("compare", baseline), comparison_markdown(cid, ds), "scenario comparison"
    )
    return {"comparison_id": cid, "baseline_run": runs[0], "runs": runs[1:]}


def _today():
    from alliance_risk.flows.forecast import forecast_date

    return forecast_date(None)
