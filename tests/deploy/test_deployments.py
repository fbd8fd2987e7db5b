"""The deployments against a real `prefect server` (SQLite, 127.0.0.1): schedules, next run
times, and a deployment run executed by a served `alliance-risk serve` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, FlowRunFilter
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

import alliance_risk.flows  # noqa: F401 - offline Prefect defaults before Prefect is imported
from alliance_risk.flows.deployments import DAILY_CRON, TIMEZONE, WEEKLY_CRON, deployments
from alliance_risk.pipeline.store import open_store

NAMES = {
    "forecast/nato-2025-daily",
    "forecast/all-scenarios-weekly",
    "cluster-run/on-demand",
    "compare/stress-comparison",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reset_sigint():  # a background child must not inherit SIGINT ignored (stack notes §2)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(proc: subprocess.Popen) -> None:
    for _ in range(2):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                continue
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Prefect server; yields its environment."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "PREFECT_UI_ENABLED": "false",
    }
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen(
        [
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
            "--analytics-off",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_reset_sigint,
    )
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"prefect server did not start: {(home / 'server.log').read_text()}")
        time.sleep(0.5)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield env
    _stop(proc)


@pytest.fixture(scope="module")
def served(server, tmp_path_factory, client):
    """`alliance-risk serve` with a store of its own, on the session's Dask scheduler."""
    store = tmp_path_factory.mktemp("served") / "forecasts.zarr"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alliance_risk.pipeline.apps.cli",
            "serve",
            "--store",
            str(store),
            "--scheduler",
            client.scheduler.address,
        ],
        env=server,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_reset_sigint,
    )
    deadline = time.time() + 120
    with get_client(sync_client=True) as api:
        while len(_deployments(api)) < len(NAMES):
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"serve did not register: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.5)
    yield store
    _stop(proc)


def _deployments(client) -> dict:
    found = {}
    for d in client.read_deployments():
        flow = client.read_flow(d.flow_id)
        found[f"{flow.name}/{d.name}"] = d
    return found


def _next(now: datetime, hour: int, weekday: int | None = None) -> datetime:
    """The next local `hour`:00 in the deployments' timezone (on `weekday`, if given)."""
    local = now.astimezone(ZoneInfo(TIMEZONE))
    t = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    while t <= local or (weekday is not None and t.weekday() != weekday):
        t = (t + timedelta(days=1)).replace(hour=hour)
    return t


def test_served_deployments_have_their_schedules_and_next_runs(served):
    now = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        deps = _deployments(client)
        assert set(deps) == NAMES
        crons = {
            name: [(s.schedule.cron, s.schedule.timezone, s.active) for s in d.schedules]
            for name, d in deps.items()
        }
        assert crons["forecast/nato-2025-daily"] == [(DAILY_CRON, TIMEZONE, True)]
        assert crons["forecast/all-scenarios-weekly"] == [(WEEKLY_CRON, TIMEZONE, True)]
        assert crons["cluster-run/on-demand"] == [] and crons["compare/stress-comparison"] == []
        assert deps["forecast/nato-2025-daily"].parameters["store"] == str(served)
        assert not deps["forecast/nato-2025-daily"].paused
        expected = {
            "forecast/nato-2025-daily": _next(now, 6),
            "forecast/all-scenarios-weekly": _next(now, 7, weekday=0),
        }
        deadline = time.time() + 90
        for name, first in expected.items():
            while True:
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id={"any_": [deps[name].id]}),
                    flow_run_filter=FlowRunFilter(state={"type": {"any_": ["SCHEDULED"]}}),
                )
                auto = sorted(r.expected_start_time for r in runs if r.auto_scheduled)
                if auto or time.time() > deadline:
                    break
                time.sleep(1)
            assert auto, f"no scheduled runs for {name}"
            assert auto[0] == first, (name, auto[0], first)
            local = [t.astimezone(ZoneInfo(TIMEZONE)) for t in auto]
            assert all((t.hour, t.minute) == (first.hour, 0) for t in local)


def test_a_triggered_deployment_runs_on_the_served_process(served):
    run = run_deployment(
        "forecast/nato-2025-daily",
        parameters={"scenarios": ["detente"], "sims": 10_000, "seed_policy": "fixed", "seed": 3},
        timeout=400,
    )
    assert run.state.is_completed(), run.state
    fs = open_store(served, create=False)
    (entry,) = [e for e in fs.catalog() if e["scenario"] == "detente"]
    assert entry["seed"] == 3 and entry["sims"] == 10_000
    assert fs.latest("detente") == entry["run_id"]


def test_prefect_yaml_declares_the_same_deployments():
    spec = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "../../prefect.yaml")))
    by_name = {d["name"]: d for d in spec["deployments"]}
    ours = {d.name: d for d in deployments(store="forecasts.zarr")}
    assert set(by_name) == set(ours)
    for name, dep in ours.items():
        declared = by_name[name]
        # module entrypoints: a worker imports the installed package, whatever its directory
        assert declared["entrypoint"].replace(":", ".") == dep.entrypoint
        got = [(s["cron"], s["timezone"]) for s in declared.get("schedules", [])]
        assert got == [(s.schedule.cron, s.schedule.timezone) for s in dep.schedules]
        for key, value in dep.parameters.items():
            if key not in ("store", "scheduler"):
                assert declared["parameters"][key] == value, (name, key)
