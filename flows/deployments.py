"""The deployments: what runs on a schedule and what runs on demand.

The same definitions serve two ways of running them (docs/flows.md):
- ``alliance-risk serve`` (this module's ``serve_all``): one long-lived process registers the
  deployments with the Prefect server and runs their flow runs; no work pool needed;
- ``prefect.yaml`` + ``prefect deploy --all`` to a process work pool, for operators who run
  Prefect workers. tests/flows/test_deployments.py checks that both declare the same.
"""

from __future__ import annotations

import os

from prefect import serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from alliance_risk.flows.cluster import cluster_run
from alliance_risk.flows.compare import compare
from alliance_risk.flows.forecast import forecast
from alliance_risk.models.scenario import forecast_names
from alliance_risk.pipeline.api import DEFAULT_STORE

TIMEZONE = "Europe/Brussels"  # NATO HQ: the analysts' working day
DAILY_CRON = "0 6 * * *"  # 06:00 every day
WEEKLY_CRON = "0 7 * * 1"  # 07:00 on Mondays
DAILY_SIMS = 1_000_000
WEEKLY_SIMS = 1_000_000


def deployments(store: str | None = None, scheduler: str | None = None) -> list[RunnerDeployment]:
    """The project's deployments, with the store and scheduler they use by default
    ($ALLIANCE_RISK_STORE and $DASK_SCHEDULER_ADDRESS when not given)."""
    store = store or os.environ.get("ALLIANCE_RISK_STORE", DEFAULT_STORE)
    if "://" not in store:  # flow runs start in their own working directory
        store = os.path.abspath(store)
    scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    common = {"store": store, "scheduler": scheduler}
    module = EntrypointType.MODULE_PATH  # served runs import the installed package
    return [
        _scheduled(
            "nato-2025-daily",
            DAILY_CRON,
            ["nato-2025"],
            DAILY_SIMS,
            common,
            "Daily forecast of nato-2025; the seed follows the schedule date.",
        ),
        _scheduled(
            "all-scenarios-weekly",
            WEEKLY_CRON,
            forecast_names(),
            WEEKLY_SIMS,
            common,
            "Weekly forecast of every built-in forecast scenario.",
        ),
        cluster_run.to_deployment(
            name="on-demand",
            description="A large run on the Dask cluster; rerun with run_id to resume.",
            parameters=common,
            tags=["on-demand"],
            entrypoint_type=module,
        ),
        compare.to_deployment(
            name="stress-comparison",
            description="The stress scenarios against nato-2025 with common random numbers.",
            parameters=common,
            tags=["on-demand"],
            entrypoint_type=module,
        ),
    ]


def _scheduled(name, cron, scenarios, sims, common, description) -> RunnerDeployment:
    """A scheduled ``forecast`` deployment (seed from the schedule date, one run at a time)."""
    return forecast.to_deployment(
        name=name,
        description=description,
        schedules=[Cron(cron, timezone=TIMEZONE)],
        parameters={"scenarios": scenarios, "sims": sims, "seed_policy": "date", **common},
        tags=["scheduled", "forecast"],
        concurrency_limit=1,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_all(store: str | None = None, scheduler: str | None = None, limit: int | None = None):
    """Register the deployments and run their flow runs until stopped (SIGTERM/SIGINT).

    Schedules stay active when this process stops (``pause_on_shutdown=False``): a restarted
    server process must not silently pause the daily forecast.
    """
    serve(*deployments(store, scheduler), pause_on_shutdown=False, limit=limit)
