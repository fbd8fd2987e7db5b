"""The flows' commands of the ``alliance-risk`` command line (registered as the entry point
``flows`` of the group ``alliance_risk.commands``; the CLI is alliance_risk.pipeline.apps.cli).

``forecast``, ``cluster-run`` and ``compare`` run the Prefect flows (against $PREFECT_API_URL
when set, else Prefect's ephemeral API); ``serve`` serves the deployments.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import alliance_risk.flows  # noqa: F401 - offline Prefect defaults before Prefect is imported
from alliance_risk.flows import prestart
from alliance_risk.models.errors import EnvironmentFailure
from alliance_risk.pipeline.apps.cli import print_headlines
from alliance_risk.pipeline.defaults import DEFAULT_SIMS, DEFAULT_STORE


def _common(p: argparse.ArgumentParser, sims: int) -> None:
    p.add_argument("--sims", type=int, default=sims, help=f"simulations (default {sims:,})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store", default=DEFAULT_STORE, help="store path or URL")
    p.add_argument("--scheduler", help="Dask scheduler (default: $DASK_SCHEDULER_ADDRESS or local)")
    p.add_argument("--workers", type=int, help="local cluster workers (default: one per core)")


def add_flow_commands(sub) -> None:
    p = sub.add_parser("forecast", help="run the forecast flow (Prefect) for scenarios")
    p.add_argument("scenarios", nargs="*", default=["nato-2025"], metavar="SCENARIO")
    _common(p, DEFAULT_SIMS)
    p.add_argument("--seed-policy", choices=["fixed", "date"], default="fixed")
    p.add_argument("--target-se", type=float)
    p.add_argument("--extend-latest", action="store_true", help="extend the latest run if it can")
    p.set_defaults(func=_cmd_forecast)
    p = sub.add_parser("cluster-run", help="run the on-demand cluster_run flow (Prefect)")
    p.add_argument("scenario", nargs="?", default="nato-2025")
    _common(p, 10_000_000)
    p.add_argument("--sampler", choices=["mc", "lhs", "sobol", "saltelli"], default="mc")
    p.add_argument("--block-size", type=int, default=10_000)
    p.add_argument("--keep-samples", action="store_true")
    p.add_argument("--run-id", help="resume this run (the id of a crashed cluster run)")
    p.set_defaults(func=_cmd_cluster_run)
    p = sub.add_parser("compare", help="run the compare flow: scenarios vs a baseline (CRN)")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: stress scenarios")
    p.add_argument("--baseline", default="nato-2025")
    _common(p, DEFAULT_SIMS)
    p.add_argument("--block-size", type=int, default=10_000)
    p.set_defaults(func=_cmd_compare)
    p = sub.add_parser("serve", help="serve the deployments (schedules) against a Prefect server")
    p.add_argument("--store", help="default store of the deployments ($ALLIANCE_RISK_STORE)")
    p.add_argument("--scheduler", help="default Dask scheduler of the deployments")
    p.add_argument("--limit", type=int, help="at most this many flow runs at once")
    p.set_defaults(func=_cmd_serve)


def _precheck(scenarios: list[str], sims: int) -> None:
    """Bad input fails here, in a second, before Prefect's API server starts."""
    from alliance_risk.models.scenario import load_scenario

    for name in scenarios:
        load_scenario(name)
    if sims <= 0:
        from alliance_risk.pipeline.engine.plan import PlanError  # (0.2 s of imports)

        raise PlanError(f"--sims must be > 0, got {sims}")


class _PrefectAPI:
    """Prefect's ephemeral API for this command, started first thing when no API URL is set.

    Prefect's own ephemeral mode imports its whole server stack in this process (about 2 s)
    only to launch the server, then boots it in a subprocess (4.5-5 s); a flow waits for
    both. Here the same subprocess (``prestart.launch_server``) is launched by the console
    script before anything is imported (``prestart.entry``), or else here, before this
    process imports Prefect (1-1.2 s of imports the server's boot then overlaps); the flow
    talks to it as to any server (``url``, set with ``temporary_settings``).

    Whether an API is configured is known for sure only from Prefect's settings, after that
    import: the server is launched unless the environment or the active profile names an API
    URL or disables the ephemeral server (``prestart.api_configured``), and stopped at once
    if Prefect's settings (other sources: prefect.toml, .env) say so. It is stopped at exit,
    after Prefect's log and event workers have sent what they hold (atexit runs last what
    registers first), as Prefect stops its own.
    """

    def __init__(self, server: tuple[subprocess.Popen, str] | None = None) -> None:
        """``server``: one already launched (process, API URL), else the console script's."""
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()  # the poller may relaunch the server while it is stopped
        self._done = threading.Event()  # answered, given up or stopped: the poller ends
        self._answered = threading.Event()
        self._failure: Exception | None = None
        early = server or prestart.adopt()
        if early is None and prestart.api_configured(os.environ):
            return
        self.proc, self.url = early or prestart.launch_server()
        atexit.register(self.stop)
        self._poller = threading.Thread(target=self._poll, name="prefect-api-poll", daemon=True)
        self._poller.start()
        from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            self.stop()
            self.url = None

    def _poll(self) -> None:
        """(A thread, from the launch on.) Ask the server for its API version until it
        answers: its first answer to an API request costs it 0.6 s of set-up beyond its
        health check's, spent here while this process imports the flow. A port taken in the
        meantime (uvicorn exits with 3) is retried on another."""
        import httpx

        while not self._done.is_set():
            with self._lock:
                proc = self.proc
                code = None if proc is None else proc.poll()
                if proc is None or code not in (None, 3):
                    if code is not None:
                        self._failure = EnvironmentFailure(
                            f"Prefect's API server exited with status {code}"
                        )
                    return
                if code == 3:
                    self.proc, self.url = prestart.launch_server()
                    continue
                url = self.url
            try:
                if httpx.get(f"{url}/admin/version", timeout=10).status_code == 200:
                    self._answered.set()
                    return
            except httpx.HTTPError:
                pass
            self._done.wait(0.1)

    def ready(self) -> None:
        """Wait until the server has answered (Prefect's start-up timeout)."""
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        if self.url is None:
            return
        timeout = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        self._poller.join(timeout)
        if self._failure is not None:
            raise self._failure
        if not self._answered.is_set():
            self._done.set()
            raise EnvironmentFailure(
                f"Prefect's API server did not answer within {timeout:.0f} s "
                "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)"
            )

    @contextmanager
    def settings(self) -> Iterator[None]:
        """Prefect's settings with this server's URL (no link to a UI it does not serve) and
        no flow-run heartbeats: they let a server mark as crashed a run whose process died
        without a word, but this server dies with the process; and the engine's heartbeat
        thread sleeps in whole seconds, which the end of every flow run waited for (0-1 s)."""
        if self.url is None:
            yield
            return
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            PREFECT_UI_URL,
            temporary_settings,
        )

        updates = {PREFECT_API_URL: self.url, PREFECT_UI_URL: ""}
        with temporary_settings(updates=updates | {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield

    def stop(self) -> None:
        with self._lock:
            self._done.set()
            proc, self.proc = self.proc, None
        if proc is not None:
            prestart.stop(proc)


class _HeadStart:
    """The command's own LocalCluster, started in the background while Prefect starts.

    Without a scheduler (``--scheduler`` or $DASK_SCHEDULER_ADDRESS) a flow's run would start
    a LocalCluster only once the flow has begun (about 1.5 s) and its first blocks would wait
    for the fresh workers to load the compiled kernel (1-2 s more). Started here, both
    overlap Prefect's own start-up; the flow is handed the cluster's address, and the
    cluster is closed when the command ends. A failed start leaves the flow to start its own.
    """

    def __init__(self, scheduler: str | None, workers: int | None):
        from alliance_risk.pipeline.engine.execute import SCHEDULER_ENV

        self.given = scheduler
        self.cluster = None
        self.thread = None
        if scheduler or os.environ.get(SCHEDULER_ENV):
            return
        self.thread = threading.Thread(target=self._start, args=(workers,), daemon=True)
        self.thread.start()

    def _start(self, workers: int | None) -> None:
        from dask.distributed import Client

        from alliance_risk.pipeline.engine.execute import local_cluster, warm_workers

        try:
            self.cluster = local_cluster(workers)
            with Client(self.cluster) as c:
                warm_workers(c)
        except Exception:  # the flow starts its own cluster and reports what fails
            self._close_cluster()

    def scheduler(self) -> str | None:
        """The address to hand the flow: the given one, else this cluster's (when up)."""
        if self.thread is not None:
            self.thread.join()
        cluster = self.cluster
        return self.given or (cluster.scheduler_address if cluster is not None else None)

    def close(self) -> None:
        """Close the cluster, once it has started (also when the command is interrupted
        while it starts)."""
        if self.thread is not None:
            self.thread.join()
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _print_runs(summaries: list[dict], store: str) -> None:
    from alliance_risk.pipeline.api import open_run

    for s in summaries:
        print_headlines(open_run(store, s["run_id"]), s["run_id"])
        print(f"stored in {s['store_path']}")


# What a process's first flow run imports (measured: 230 modules, about 1 s): Prefect's flow
# and task engines (with FastAPI's), its visualization helper (graphviz, imported by every
# flow call) and dask.array (xarray's chunk-manager check as the run's Dataset is built).
FIRST_RUN_IMPORTS = (
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "dask.array",
)


def _preload_flow_run() -> None:
    """Import now, while Prefect's API server boots, what the flow run would import first."""
    for name in FIRST_RUN_IMPORTS:
        importlib.import_module(name)


@contextmanager
def _flow_session(args, load: Callable[[], Callable]) -> Iterator[Callable]:
    """The flow ``load`` imports, ready to call with the command's scheduler and workers:
    Prefect's API and the head-started cluster boot while it is imported; the cluster is
    closed when the block ends."""
    api = _PrefectAPI()
    head = _HeadStart(args.scheduler, args.workers)
    try:
        flow = load()
        _preload_flow_run()
        api.ready()
        with api.settings():
            yield functools.partial(flow, scheduler=head.scheduler(), workers=args.workers)
    finally:
        head.close()


def _given(args, *names: str) -> dict:
    """The flow parameters of these names, as the command line gave them."""
    return {n: getattr(args, n) for n in names}


def _forecast_flow():
    from alliance_risk.flows.forecast import forecast

    return forecast


def _cluster_run_flow():
    from alliance_risk.flows.cluster import cluster_run

    return cluster_run


def _compare_flow():
    from alliance_risk.flows.compare import compare

    return compare


def _cmd_forecast(args) -> int:
    _precheck(args.scenarios, args.sims)
    with _flow_session(args, _forecast_flow) as forecast:
        out = forecast(
            scenarios=args.scenarios,
            **_given(args, "sims", "seed", "seed_policy", "store", "target_se"),
            extend_latest=args.extend_latest,
        )
        _print_runs(out, args.store)
    return 0


def _cmd_cluster_run(args) -> int:
    _precheck([args.scenario], args.sims)
    with _flow_session(args, _cluster_run_flow) as cluster_run:
        out = cluster_run(
            scenario=args.scenario,
            **_given(args, "sims", "seed", "store", "sampler", "block_size", "keep_samples"),
            run_id=args.run_id,
        )
        _print_runs([out], args.store)
        print(out["run_id"])
    return 0


def _cmd_compare(args) -> int:
    _precheck([args.baseline, *args.scenarios], args.sims)
    with _flow_session(args, _compare_flow) as compare:
        out = compare(
            baseline=args.baseline,
            scenarios=args.scenarios or None,
            **_given(args, "sims", "seed", "store", "block_size"),
        )
    from alliance_risk.flows.compare import comparison_markdown
    from alliance_risk.pipeline.store import open_store

    ds = open_store(args.store, create=False).open_product("comparisons", out["comparison_id"])
    print(comparison_markdown(out["comparison_id"], ds))
    return 0


def _cmd_serve(args) -> int:
    from alliance_risk.flows.deployments import serve_all

    serve_all(args.store, args.scheduler, args.limit)
    return 0
