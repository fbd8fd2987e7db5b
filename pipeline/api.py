"""Plain Python entry points (also used by the CLI and the Prefect flows).

``run_forecast`` plans a run, executes its blocks on Dask, folds their statistics in block
order and publishes the Dataset; ``resume_run`` finishes a killed run from its completed
blocks; ``extend_run`` adds simulations to a published run (same result as a larger run from
the start). All inputs are checked before any work starts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import xarray as xr

from alliance_risk.models import MODEL_VERSION
from alliance_risk.models.errors import ScenarioError
from alliance_risk.models.innovations import DESCRIPTION as RNG_DESCRIPTION
from alliance_risk.models.innovations import SCHEME as RNG_SCHEME
from alliance_risk.models.sampling import saltelli_rows
from alliance_risk.models.scenario import Scenario, load_scenario, parse_scenario
from alliance_risk.pipeline.defaults import DEFAULT_SIMS, DEFAULT_STORE
from alliance_risk.pipeline.engine.execute import dask_client, run_blocks
from alliance_risk.pipeline.engine.inprocess import EXECUTORS, run_blocks_inprocess
from alliance_risk.pipeline.engine.plan import DEFAULT_BLOCK_SIZE, PlanError, RunSpec
from alliance_risk.pipeline.engine.stats import OrderedFold, probability
from alliance_risk.pipeline.outputs import BY_NAME, HEADLINES
from alliance_risk.pipeline.store import ForecastStore, StoreError, new_run_id, open_store, samples
from alliance_risk.pipeline.store.schema import SCHEMA_VERSION, build_dataset

log = logging.getLogger("alliance_risk")

INPROCESS = object()  # what _client yields for the in-process executor
WORKER_STAGES = ("sample", "kernel", "kernel_cpu", "reduce", "samples", "block")  # block.py


@dataclass
class RunResult:
    run_id: str
    store: Path | str  # the run's group: a local path or a URL
    dataset: xr.Dataset
    seconds: float
    sims: int
    blocks_run: int
    # seconds by stage: on the workers summed over blocks (sample, kernel, kernel_cpu: the
    # kernel's thread CPU time, reduce, samples: writing kept samples, block: all of it), on
    # the client (save: staging each block's statistics, fold: folding them as they land,
    # fold_end: what was left to fold after the last block, publish: building and writing
    # the Dataset)
    stages: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def kernel_seconds(self) -> float:
        """Kernel time summed over this run's blocks, measured on the workers."""
        return self.stages.get("kernel", 0.0)

    @property
    def block_seconds(self) -> float:
        return self.stages.get("block", 0.0)


def _package_version() -> str:
    try:
        return version("alliance-risk")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0+unknown"


def _scenario_from(spec: str | Scenario) -> Scenario:
    return spec if isinstance(spec, Scenario) else load_scenario(spec)


def _scenario_from_text(text: str, source: str) -> Scenario:
    return parse_scenario(tomllib.loads(text), source=source, text=text)


def run_scenario(attrs: dict) -> Scenario:
    """The scenario a published run stored (its attributes ``scenario``, ``scenario_name``).

    Only for runs of the current model: a run of another model version stays readable
    (show, report, dashboard read its Dataset) but cannot be extended, compared or analysed
    with this model's equations.
    """
    version = str(attrs.get("model_version", "1"))
    if version != MODEL_VERSION:
        raise PlanError(
            f"run {attrs.get('run_id', '?')} was made by model {version}, this is model "
            f"{MODEL_VERSION}: it can be read (show, report, dashboard) but not extended, "
            f"compared or analysed; run its scenario again"
        )
    return _scenario_from_text(attrs["scenario"], attrs["scenario_name"])


def run_forecast(
    scenario: str | Scenario = "nato-2025",
    sims: int = DEFAULT_SIMS,
    seed: int = 0,
    store: str | Path = DEFAULT_STORE,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    sampler: str = "mc",
    block_size: int = DEFAULT_BLOCK_SIZE,
    keep_samples: bool = False,
    target_se: float | None = None,
    max_sims: int = 10_000_000,
    progress: bool | None = None,
    client=None,
    executor: str = "dask",
    storage_options: dict | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run a forecast and publish it; returns the run id and the Dataset.

    ``executor``: "dask" (``client``, else ``scheduler``, else a new LocalCluster) or
    "inprocess" (this process, no cluster: same blocks, bitwise the same result).
    ``store`` is a local path or an fsspec URL (``s3://bucket/forecasts.zarr``);
    ``storage_options`` go to its filesystem (credentials, endpoint). With ``run_id``, the
    call is idempotent: a run of that id already published is returned as is, and one left
    in staging (a crash) is resumed, so an orchestrator can simply retry it.
    """
    sc = _scenario_from(scenario)
    if sampler == "saltelli":  # Sobol' indices are computed from the kept samples
        block_size, keep_samples = _saltelli_block_size(sc, block_size), True
    spec = RunSpec(sc.name, seed, sims, sampler, block_size)
    if target_se is not None and not 0 < target_se < 0.5:
        raise PlanError(f"target standard error must be in (0, 0.5), got {target_se}")
    fs = open_store(store, storage_options=storage_options)
    if run_id is not None:
        _check_run_id(run_id)
        if run_id in fs.catalog_ids():  # idempotent: a retried flow finds its published run
            return _published(fs, run_id)
        if run_id in fs.staged_runs():  # a retried flow resumes its own run
            if not _same_plan(fs.read_manifest(run_id), sc, spec):
                raise PlanError(f"run {run_id} is staged with a different scenario or plan")
            return resume_run(
                fs, run_id, scheduler=scheduler, workers=workers, progress=progress,
                client=client, executor=executor,
            )  # fmt: skip
    run_id = run_id or new_run_id(sc.name, seed)
    manifest = _manifest(
        run_id, sc, spec, keep_samples=keep_samples, target_se=target_se, max_sims=max_sims
    )
    with _client(client, scheduler, workers, executor) as c:  # reach the cluster before writing
        fs.create_staging(run_id, manifest)
        return _complete(fs, run_id, sc, spec, manifest, progress, c)


def _saltelli_block_size(sc: Scenario, block_size: int) -> int:
    """Blocks of a Saltelli run hold whole base points of (uncertain inputs + 3) rows; the
    default block size becomes the nearest such multiple."""
    rows = saltelli_rows(sc)
    if block_size == DEFAULT_BLOCK_SIZE:
        return rows * max(1, round(DEFAULT_BLOCK_SIZE / rows))
    if block_size % rows:
        raise PlanError(
            f"the saltelli sampler needs a block size that is a multiple of {rows} "
            f"(uncertain inputs + 3) for {sc.name}, got {block_size}"
        )
    return block_size


def _same_plan(manifest: dict, sc: Scenario, spec: RunSpec) -> bool:
    """Whether a staged run is the one ``sc`` and ``spec`` ask for (an adaptive run may have
    grown past the simulations first asked)."""
    staged = dict(manifest["spec"])
    if manifest.get("target_se") is not None and staged["sims"] >= spec.sims:
        staged["sims"] = spec.sims
    return manifest["scenario_sha256"] == sc.sha256 and staged == dataclasses.asdict(spec)


def _check_run_id(run_id: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", run_id):
        raise PlanError(f"run id must be letters, digits, '.', '_' or '-', got {run_id!r}")


def _published(fs: ForecastStore, run_id: str) -> RunResult:
    ds = fs.open_run(run_id)
    return RunResult(run_id, fs.run_path(run_id), ds, 0.0, int(ds.attrs["sims"]), 0)


def _manifest(
    run_id: str,
    sc: Scenario,
    spec: RunSpec,
    *,
    keep_samples: bool = False,
    target_se: float | None = None,
    max_sims: int,
    extends: dict | None = None,
) -> dict:
    """What a staged run needs to be resumed: scenario text, spec and options."""
    return {
        "run_id": run_id,
        "scenario_name": sc.name,
        "scenario_toml": sc.source_text,
        "scenario_sha256": sc.sha256,
        "spec": dataclasses.asdict(spec),
        "keep_samples": keep_samples,
        "target_se": target_se,
        "max_sims": max_sims,
        "extends": extends,
        "rng_scheme": RNG_SCHEME,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _check_rng_scheme(scheme: object, what: str, fix: str) -> None:
    """Blocks drawn under another random-number scheme cannot be mixed with new ones."""
    if str(scheme) != RNG_SCHEME:
        raise PlanError(
            f"{what} was drawn under random-number scheme {scheme}; this version draws with "
            f"scheme {RNG_SCHEME}, and one run cannot mix them: {fix}"
        )


def resume_run(
    store: str | Path | ForecastStore,
    run_id: str,
    scenario: str | Scenario | None = None,
    *,
    scheduler=None,
    workers=None,
    progress=None,
    client=None,
    executor: str = "dask",
    storage_options: dict | None = None,
) -> RunResult:
    """Finish a run that was killed part-way, from its completed blocks."""
    fs = open_store(store, create=False, storage_options=storage_options)
    manifest = fs.read_manifest(run_id)
    sc = _scenario_from_text(manifest["scenario_toml"], manifest["scenario_name"])
    if scenario is not None and _scenario_from(scenario).sha256 != manifest["scenario_sha256"]:
        raise PlanError(
            f"run {run_id} was started with scenario {manifest['scenario_name']!r} "
            f"(sha256 {manifest['scenario_sha256'][:12]}); the scenario given "
            "differs — resume without a scenario or start a new run"
        )
    spec = RunSpec(**manifest["spec"])
    _check_rng_scheme(
        manifest.get("rng_scheme", "1"),
        f"staged run {run_id}",
        f"discard it (alliance-risk discard STORE {run_id}) and run again",
    )
    with _client(client, scheduler, workers, executor) as c:
        return _complete(fs, run_id, sc, spec, manifest, progress, c)


def extend_run(
    store: str | Path,
    run_id: str,
    sims: int,
    *,
    scheduler=None,
    workers=None,
    progress=None,
    client=None,
    executor: str = "dask",
    storage_options: dict | None = None,
) -> RunResult:
    """A new run with ``sims`` simulations in all, reusing a published run's blocks.

    With per-simulation samples, the base run's sample chunks are shared (hard links on a
    local store, copies on an object store) and the new blocks are written beside them.
    """
    fs = open_store(store, create=False, storage_options=storage_options)
    base = fs.resolve(run_id)
    attrs = fs.run_attrs(base)
    sc = run_scenario(attrs)
    _check_rng_scheme(
        attrs.get("rng_scheme", "1"), f"run {base}", "run its scenario again with more simulations"
    )
    old = RunSpec(sc.name, attrs["seed"], attrs["sims"], attrs["sampler"], attrs["block_size"])
    spec = dataclasses.replace(old, sims=sims)
    if spec.n_blocks <= old.n_blocks:
        raise PlanError(
            f"--sims must exceed the {old.total_sims} simulations of run {base} "
            f"by at least one block of {old.block_size}, got {sims}"
        )
    new_id = new_run_id(sc.name, old.seed)
    manifest = _manifest(
        new_id,
        sc,
        spec,
        keep_samples=bool(attrs.get("keep_samples")),
        max_sims=spec.total_sims,
        extends={"run_id": base, "n_blocks": old.n_blocks},
    )
    with _client(client, scheduler, workers, executor) as c:
        fs.create_staging(new_id, manifest)
        return _complete(fs, new_id, sc, spec, manifest, progress, c)


def _complete(fs, run_id, sc, spec, manifest, progress, c) -> RunResult:
    t0 = time.perf_counter()
    first = manifest["extends"]["n_blocks"] if manifest["extends"] else 0
    sink = None
    if manifest["keep_samples"]:
        base = manifest["extends"]["run_id"] if manifest["extends"] else None
        sink = samples.prepare(fs, run_id, sc, spec.total_sims, spec.block_size, extends=base)
    ran = 0
    timings: list = []
    client = {"fold": 0.0, "fold_end": 0.0, "publish": 0.0}
    _drop_damaged_blocks(fs, run_id)
    fold = _fold(fs, run_id, manifest, first)

    def on_block(b: int, stats: dict) -> None:
        fs.save_block(run_id, b, stats)  # stored first: what is folded is durable
        fold.add(b, stats)

    while True:
        done = fs.done_blocks(run_id)
        fold.stored |= {b for b in done if b >= fold.next}  # staged before: read back
        todo = [b for b in range(first, spec.n_blocks) if b not in done]
        run = run_blocks_inprocess if c is INPROCESS else partial(run_blocks, c)
        run(
            sc,
            spec,
            todo,
            on_block,
            run_key=run_id,
            sink=sink,
            progress=progress,
            done=len(done) + first,
            timings=timings,
        )
        ran += len(todo)
        totals = fold.result(spec.n_blocks)
        more = _adaptive_sims(totals, spec, manifest)
        if more is None:
            break
        spec = dataclasses.replace(spec, sims=more)
        manifest["spec"] = dataclasses.asdict(spec)
        fs.write_manifest(run_id, manifest)
        if sink is not None:
            samples.grow(fs, sink.location, spec.total_sims)
    client["fold"], client["fold_end"] = fold.seconds["add"], fold.seconds["result"]
    t_publish = time.perf_counter()
    ds = build_dataset(sc, totals)
    ds.attrs.update(_run_attrs(run_id, sc, spec, manifest, totals))
    targets = sorted({t["compiled_for"] for t in timings if "compiled_for" in t})
    ds.attrs["compiled_for"] = ", ".join(targets) or "none"  # none: no block ran here
    entry = {
        "run_id": run_id,
        "scenario": sc.name,
        "created": ds.attrs["created"],
        "sims": int(totals["n_sims"]),
        "seed": spec.seed,
        "sampler": spec.sampler,
        "model_version": MODEL_VERSION,
        "rng_scheme": RNG_SCHEME,
        "package_version": ds.attrs["package_version"],
        "scenario_sha256": sc.sha256,
        "status": "complete",
    }
    fs.publish(run_id, ds, totals, entry)
    client["publish"] = time.perf_counter() - t_publish
    stages = {k: sum(t.get(k, 0.0) for t in timings) for k in (*WORKER_STAGES, "save")}
    stages["save"] -= fold.seconds["add"]  # on_block's time less the folding done in it
    return RunResult(
        run_id,
        fs.run_path(run_id),
        fs.open_run(run_id),
        time.perf_counter() - t0,
        int(totals["n_sims"]),
        ran,
        stages | client,
    )


def _drop_damaged_blocks(fs: ForecastStore, run_id: str) -> None:
    """Before resuming: read back every staged block; a truncated, unreadable or bit-flipped
    one is removed (so it is recomputed), with one warning line naming it."""
    for block, why in fs.damaged_blocks(run_id, fs.done_blocks(run_id)).items():
        log.warning(
            "alliance-risk: block %d of %s is damaged (%s); recomputing it", *(block, run_id, why)
        )
        fs.drop_block(run_id, block)


@contextmanager
def _client(client, scheduler, workers, executor: str = "dask"):
    """The given Client, or one on ``scheduler`` / a new LocalCluster (closed on exit); for
    the in-process executor, ``INPROCESS``."""
    if executor not in EXECUTORS:
        raise PlanError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor == "inprocess":
        yield INPROCESS
        return
    if client is not None:
        yield client
        return
    with dask_client(scheduler, workers) as c:
        yield c


def _fold(fs: ForecastStore, run_id: str, manifest: dict, first: int) -> OrderedFold:
    """The run's fold in block order, from the base run's totals when extending."""
    base = fs.load_totals(manifest["extends"]["run_id"]) if manifest["extends"] else None
    return OrderedFold(first, base, lambda b: fs.load_block(run_id, b))


def _adaptive_sims(totals: dict, spec: RunSpec, manifest: dict) -> int | None:
    """With a target standard error: the total number of simulations still needed, or None."""
    target = manifest.get("target_se")
    if target is None:
        return None
    n = int(totals["n_sims"])
    worst = 0.0  # the largest variance of one simulation's worth, n se^2 (cluster-robust)
    for name in HEADLINES:
        _, se = probability(totals, BY_NAME[name].total)
        worst = max(worst, n * float(se[-1]) ** 2)
    needed = math.ceil(max(worst, 1e-12) / target**2)
    if needed <= n or n >= manifest["max_sims"]:
        return None
    needed = min(max(needed, n + spec.block_size), manifest["max_sims"])
    return math.ceil(needed / spec.block_size) * spec.block_size


def _run_attrs(run_id, sc: Scenario, spec: RunSpec, manifest: dict, totals: dict) -> dict:
    return {
        "title": f"alliance-risk forecast: {sc.name}",
        "run_id": run_id,
        "run_status": "complete",
        "scenario_name": sc.name,
        "scenario": sc.source_text,
        "scenario_sha256": sc.sha256,
        "seed": spec.seed,
        "sims": int(totals["n_sims"]),
        "sampler": spec.sampler,
        "block_size": spec.block_size,
        "n_blocks": spec.n_blocks,
        "rng": RNG_DESCRIPTION,
        "rng_scheme": RNG_SCHEME,
        "keep_samples": bool(manifest["keep_samples"]),
        "target_se": manifest["target_se"] if manifest["target_se"] is not None else "none",
        "extends": manifest["extends"]["run_id"] if manifest["extends"] else "none",
        "package_version": _package_version(),
        "model_version": MODEL_VERSION,
        "schema_version": SCHEMA_VERSION,
        "created": manifest["created"],
        "headline_variables": list(HEADLINES),
    }


def open_run(
    store: str | Path, run_id: str | None = None, storage_options: dict | None = None
) -> xr.Dataset:
    """A published run (the newest when ``run_id`` is None) as a lazy Dataset."""
    return open_store(store, create=False, storage_options=storage_options).open_run(run_id)


__all__ = [
    "DEFAULT_SIMS",
    "DEFAULT_STORE",
    "RunResult",
    "ScenarioError",
    "StoreError",
    "extend_run",
    "open_run",
    "resume_run",
    "run_forecast",
]
