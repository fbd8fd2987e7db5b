"""The ``cluster_run`` flow: an on-demand large run against a named Dask scheduler.

The run id is fixed by the flow run (or given), so a retried flow run resumes the same
store run from its completed blocks instead of starting over.
"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from alliance_risk.flows.forecast import summary
from alliance_risk.flows.tasks import (
    artifact_key,
    headline_markdown,
    record_artifact,
    simulate,
    store_or_default,
    validate,
)
from alliance_risk.pipeline.api import DEFAULT_STORE
from alliance_risk.pipeline.engine.plan import DEFAULT_BLOCK_SIZE


@flow(name="cluster-run", retries=1, retry_delay_seconds=30, log_prints=True)
def cluster_run(
    scenario: str = "nato-2025",
    sims: int = 10_000_000,
    seed: int = 0,
    scheduler: str | None = None,
    store: str = DEFAULT_STORE,
    sampler: str = "mc",
    block_size: int = DEFAULT_BLOCK_SIZE,
    keep_samples: bool = False,
    run_id: str | None = None,
    workers: int | None = None,
) -> dict:
    """Run ``sims`` simulations on ``scheduler`` (or $DASK_SCHEDULER_ADDRESS, or a local
    cluster); give ``run_id`` to resume a run whose flow run crashed."""
    (sc,) = validate([scenario])
    store = store_or_default(store)
    rid = run_id or f"{sc.name}-s{seed}-{str(flow_run.id or 'adhoc')[:8]}"
    res = simulate(
        sc,
        rid,
        sims,
        seed,
        store,
        scheduler,
        workers,
        sampler=sampler,
        block_size=block_size,
        keep_samples=keep_samples,
    )
    record_artifact(
        artifact_key("cluster-run", sc.name),
        headline_markdown(res, store),
        f"on-demand run {rid}",
    )
    return summary(res)
