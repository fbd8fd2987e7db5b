"""The ``forecast`` flow: scheduled forecasts of one or more scenarios into the store."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from alliance_risk.flows.tasks import (
    artifact_key,
    extend,
    find_extendable,
    headline_markdown,
    history_markdown,
    log_open_questions,
    record_artifact,
    simulate,
    store_or_default,
    validate,
)
from alliance_risk.pipeline.api import DEFAULT_SIMS, DEFAULT_STORE


def forecast_seed(policy: str, seed: int, on: date) -> int:
    """The seed of a run: ``seed`` itself ("fixed"), or ``seed`` + the date as YYYYMMDD
    ("date"): each scheduled day gets its own reproducible seed."""
    if policy == "fixed":
        return seed
    if policy == "date":
        return seed + int(on.strftime("%Y%m%d"))
    raise ValueError(f"seed_policy must be 'fixed' or 'date', got {policy!r}")


def forecast_date(given: date | None) -> date:
    """The date a run is for: given, else the flow run's scheduled start (today ad hoc)."""
    if given is not None:
        return given
    start = flow_run.scheduled_start_time
    return (start if isinstance(start, datetime) else datetime.now()).date()


def run_id_for(scenario: str, on: date, seed: int) -> str:
    """Stable across Prefect retries of one flow run, so a retry resumes its own run."""
    return f"{scenario}-{on:%Y%m%d}-s{seed}-{str(flow_run.id or 'adhoc')[:8]}"


@flow(name="forecast", log_prints=True)
def forecast(
    scenarios: list[str] = ["nato-2025"],  # noqa: B006 - Prefect parameters are JSON
    sims: int = DEFAULT_SIMS,
    seed: int = 0,
    seed_policy: Literal["fixed", "date"] = "fixed",
    on: date | None = None,
    store: str = DEFAULT_STORE,
    scheduler: str | None = None,
    workers: int | None = None,
    target_se: float | None = None,
    extend_latest: bool = False,
) -> list[dict]:
    """Forecast each scenario, publish it as its latest run, and record two artifacts: the
    headline table, and the history (headlines across runs, what changed since the last run).
    Every run logs its probability for each open forecast question (questions/<run_id>).

    ``seed_policy="date"`` derives the seed from the schedule date (or ``on``), so rerunning
    a scheduled day reproduces it bit for bit. ``extend_latest`` extends the scenario's latest
    run when it has the same scenario, seed and sampler and fewer simulations.
    """
    logger = get_run_logger()
    day = forecast_date(on)
    store = store_or_default(store)
    run_seed = forecast_seed(seed_policy, seed, day)
    loaded = validate(scenarios)
    logger.info("forecast for %s, seed %d: %s", day, run_seed, ", ".join(scenarios))
    out = []
    for sc in loaded:
        base = find_extendable(store, sc, run_seed, "mc", sims) if extend_latest else None
        if base is not None:
            res = extend(store, base, sims, scheduler=scheduler, workers=workers)
        else:
            rid = run_id_for(sc.name, day, run_seed)
            res = simulate(sc, rid, sims, run_seed, store, scheduler, workers, target_se=target_se)
        # the artifacts and the questions' log at once (each is a few API calls)
        recorded = [
            record_artifact.submit(
                artifact_key("forecast", sc.name),
                headline_markdown(res, store),
                f"{sc.name} forecast, {day}",
            ),
            record_artifact.submit(
                artifact_key("history", sc.name),
                history_markdown(store, sc.name),
                f"{sc.name}: headlines across runs and what changed, {day}",
            ),
        ]
        questions = log_open_questions(store, res.run_id)
        for r in recorded:
            r.result()
        out.append(summary(res) | {"questions": questions})
    return out


def summary(res) -> dict:
    """What a flow returns per run: ids, size and the 10-year headlines with errors."""
    ds = res.dataset
    last = {k: float(ds[k][-1]) for k in ("p_intact", "p_any_withdrawal", "p_conflict")}
    last |= {
        f"{k}_se": float(ds[f"{k}_se"][-1]) for k in ("p_intact", "p_any_withdrawal", "p_conflict")
    }
    return {
        "run_id": res.run_id,
        "scenario": ds.attrs["scenario_name"],
        "store_path": str(res.store),
        "sims": res.sims,
        "seed": int(ds.attrs["seed"]),
        "blocks_run": res.blocks_run,
        **last,
    }
