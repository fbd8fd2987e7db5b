"""Prefect tasks shared by the flows: validation, one run on Dask, artifacts.

One Prefect task drives a whole run (``distributed.Client`` over its blocks), never one task
per block: Prefect adds ~80 ms per task (docs/flows.md). Retries apply only where they can
help: an unreachable scheduler or a transient store error; never an invalid scenario.
"""

from __future__ import annotations

import os
import re

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from alliance_risk.models.errors import EnvironmentFailure, InputError
from alliance_risk.models.scenario import Scenario, load_scenario
from alliance_risk.pipeline.api import DEFAULT_STORE, RunResult, extend_run, run_forecast
from alliance_risk.pipeline.engine.progress import BlockError
from alliance_risk.pipeline.products.headlines import headline_table
from alliance_risk.pipeline.products.history import HistoryError, history_report
from alliance_risk.pipeline.products.questions import log_questions
from alliance_risk.pipeline.store import TransientStoreError, open_store

# by class (models/errors.py): bad input and a block that failed twice alike are not retried
PERMANENT = (InputError, BlockError)
TRANSIENT = (EnvironmentFailure, ConnectionError, TimeoutError, OSError)


def is_transient(task, task_run, state) -> bool:
    """Prefect retry condition: retry cluster and I/O failures, not bad input."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            exc = state.result(raise_on_failure=False)
        except Exception as err:  # the result itself could not be read
            exc = err
    if isinstance(exc, TransientStoreError):
        return True
    return isinstance(exc, TRANSIENT) and not isinstance(exc, PERMANENT)


@task(name="validate", retries=0, cache_policy=NO_CACHE)
def validate(scenarios: list[str]) -> list[Scenario]:
    """Load every scenario before any work starts (errors name the file and field)."""
    return [load_scenario(name) for name in scenarios]


def _logging_progress(name: str):
    logger = get_run_logger()
    state = {"next": 0.0}

    def report(done: int, total: int) -> None:
        if done / total >= state["next"] or done == total:
            logger.info("%s: %s of %s simulations", name, f"{done:,}", f"{total:,}")
            state["next"] = done / total + 0.1

    return report


# tasks that reach the cluster or the store: two retries, 5 s then 10 s (jittered), and
# only for failures that a retry can cure
RETRY_TRANSIENT = dict(
    retries=2,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_jitter_factor=0.5,
    retry_condition_fn=is_transient,
    cache_policy=NO_CACHE,
)


@task(name="simulate", **RETRY_TRANSIENT)
def simulate(
    scenario: Scenario,
    run_id: str,
    sims: int,
    seed: int,
    store: str,
    scheduler: str | None = None,
    workers: int | None = None,
    sampler: str = "mc",
    block_size: int | None = None,
    keep_samples: bool = False,
    target_se: float | None = None,
) -> RunResult:
    """Run (or, when retried, resume) one forecast on Dask and publish it."""
    logger = get_run_logger()
    logger.info("run %s: %s, %s simulations, seed %s", run_id, scenario.name, f"{sims:,}", seed)
    extra = {} if block_size is None else {"block_size": block_size}
    res = run_forecast(
        scenario,
        sims=sims,
        seed=seed,
        store=store,
        scheduler=scheduler,
        workers=workers,
        sampler=sampler,
        keep_samples=keep_samples,
        target_se=target_se,
        progress=_logging_progress(scenario.name),
        run_id=run_id,
        **extra,
    )
    logger.info(
        "run %s published: %s simulations, %d blocks computed now, %.1f s",
        res.run_id,
        f"{res.sims:,}",
        res.blocks_run,
        res.seconds,
    )
    return res


@task(name="extend", **RETRY_TRANSIENT)
def extend(store: str, base_run: str, sims: int, scheduler=None, workers=None) -> RunResult:
    """Add simulations to a published run (a new run equal to a larger one from the start)."""
    get_run_logger().info("extending %s to %s simulations", base_run, f"{sims:,}")
    return extend_run(store, base_run, sims, scheduler=scheduler, workers=workers, progress=False)


@task(name="find-extendable", retries=0, cache_policy=NO_CACHE)
def find_extendable(store: str, scenario: Scenario, seed: int, sampler: str, sims: int):
    """The latest run of ``scenario`` that ``sims`` can extend (same scenario text, seed
    and sampler, fewer simulations), or None."""
    fs = open_store(store)
    rid = fs.latest(scenario.name)
    if rid is None:
        return None
    attrs = fs.run_attrs(rid)
    same = (attrs["scenario_sha256"], attrs["seed"], attrs["sampler"]) == (
        scenario.sha256,
        seed,
        sampler,
    )
    return rid if same and attrs["sims"] + attrs["block_size"] <= sims else None


def headline_markdown(res: RunResult, store: str) -> str:
    """The artifact text: headline probabilities with errors, and where the run is."""
    ds = res.dataset
    cols, rows = headline_table(ds)
    lines = [
        f"### {ds.attrs['scenario_name']}: run `{res.run_id}`",
        "",
        f"{ds.attrs['sims']:,} simulations, seed {ds.attrs['seed']}, sampler "
        f"{ds.attrs['sampler']}. Stored at `{res.store}` (store `{store}`).",
        "",
        "| outcome | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows]
    return "\n".join(lines)


def history_markdown(store: str, scenario: str) -> str:
    """The history artifact: the scenario's headlines across its runs (95% bands) and what
    changed since the previous run (scenario, model or Monte Carlo noise)."""
    fs = open_store(store, create=False)
    try:
        report = history_report(fs, scenario)
    except HistoryError:  # fewer than two runs
        report = f"First run of {scenario} in this store: no history yet."
    return f"### {scenario}: history\n\n{report}"


@task(name="log-questions", retries=0, cache_policy=NO_CACHE)
def log_open_questions(store: str, run_id: str) -> dict[str, float]:
    """Log (and store as questions/<run_id>) the run's probability for every open question."""
    out = log_questions(open_store(store, create=False), run_id)
    if out is None:
        return {}
    ds = out[1]
    probs = {
        str(q): float(p) for q, p in zip(ds.question.values, ds.probability.values, strict=True)
    }
    logger = get_run_logger()
    for q, p in probs.items():
        logger.info("question %s: %.4f", q, p)
    return probs


def store_or_default(store: str | None) -> str:
    """The store a flow writes to: given, else $ALLIANCE_RISK_STORE, else ./forecasts.zarr
    (an empty string, as an unset variable renders in prefect.yaml, counts as not given)."""
    return store or os.environ.get("ALLIANCE_RISK_STORE") or DEFAULT_STORE


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


@task(name="record-artifact", retries=0, cache_policy=NO_CACHE)
def record_artifact(key: str, markdown: str, description: str) -> None:
    create_markdown_artifact(markdown=markdown, key=key, description=description)
