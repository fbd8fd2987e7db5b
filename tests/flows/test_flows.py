"""The flows, run for real on the test API and a LocalCluster: store, artifacts, pointers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from prefect.artifacts import Artifact
from store_helpers import dataset_digest

from alliance_risk.flows.cluster import cluster_run
from alliance_risk.flows.compare import compare
from alliance_risk.flows.forecast import forecast, forecast_seed
from alliance_risk.flows.tasks import is_transient
from alliance_risk.models.errors import ScenarioError
from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.engine.execute import ClusterError
from alliance_risk.pipeline.store import open_store


def test_forecast_flow_publishes_runs_and_artifacts(tmp_path, scheduler):
    store = str(tmp_path / "f.zarr")
    out = forecast(
        scenarios=["nato-2025", "detente"],
        sims=10_000,
        seed=1,
        seed_policy="date",
        on=date(2026, 1, 5),
        store=store,
        scheduler=scheduler,
    )
    fs = open_store(store, create=False)
    assert [o["scenario"] for o in out] == ["nato-2025", "detente"]
    assert fs.catalog_ids() == [o["run_id"] for o in out]
    for o in out:
        assert fs.latest(o["scenario"]) == o["run_id"]
        assert o["seed"] == 1 + 20260105
        art = Artifact.get(f"forecast-{o['scenario']}")
        assert art is not None and o["run_id"] in art.data and "p_conflict" in art.data
        assert f"{o['p_conflict']:.4f} ± {o['p_conflict_se']:.4f}" in art.data
    direct = run_forecast(
        "detente",
        sims=10_000,
        seed=20260106,
        store=tmp_path / "g.zarr",
        progress=False,
        scheduler=scheduler,
    )  # the flow's results are the pipeline's, bit for bit
    assert dataset_digest(fs.open_run(out[1]["run_id"])) == dataset_digest(direct.dataset)


def test_every_forecast_records_its_history_and_logs_the_open_questions(tmp_path, scheduler):
    """A scenario's first run says so; the second run's history artifact has both runs with
    their bands and a what-changed table that finds neither a scenario nor a model change,
    so any difference is Monte Carlo noise. Each run logs every open question of nato-2025."""
    store = str(tmp_path / "f.zarr")
    kw = dict(scenarios=["nato-2025"], sims=10_000, seed_policy="date", store=store,
              scheduler=scheduler)  # fmt: skip
    (first,) = forecast(on=date(2026, 1, 5), **kw)
    assert "no history yet" in Artifact.get("history-nato-2025").data
    (second,) = forecast(on=date(2026, 1, 12), **kw)
    text = Artifact.get("history-nato-2025").data
    assert first["run_id"] in text and second["run_id"] in text
    assert "- scenario: unchanged" in text and "- model: unchanged" in text
    assert "| p_conflict |" in text and "Monte Carlo noise" in text
    fs = open_store(store, create=False)
    logged = {e["id"] for e in fs.products("questions")}
    assert logged == {first["run_id"], second["run_id"]}
    assert set(second["questions"]) >= {"any-article13-notice-2027", "attack-on-ally-2030"}
    conflict = float(fs.open_run(second["run_id"])["p_conflict"].sel(time="2031-01-01"))
    assert second["questions"]["attack-on-ally-2030"] == conflict


def test_forecast_flow_extends_the_latest_run_when_asked(tmp_path, scheduler):
    store = str(tmp_path / "f.zarr")
    kw = dict(scenarios=["detente"], seed=2, store=store, scheduler=scheduler)
    (first,) = forecast(sims=10_000, **kw)
    (second,) = forecast(sims=20_000, extend_latest=True, **kw)
    assert second["blocks_run"] == 1 and second["sims"] == 20_000
    attrs = open_store(store, create=False).run_attrs(second["run_id"])
    assert attrs["extends"] == first["run_id"]


def test_invalid_scenario_fails_the_flow_without_retries(tmp_path, scheduler):
    state = forecast(
        scenarios=["no-such-scenario"], store=str(tmp_path / "f.zarr"), return_state=True
    )
    assert state.is_failed()
    with pytest.raises(ScenarioError, match="no-such-scenario"):
        state.result()
    assert not (tmp_path / "f.zarr").exists()  # nothing was started


def test_retry_policy_retries_cluster_failures_only():
    from prefect.states import Failed

    assert is_transient(None, None, Failed(data=ClusterError("cannot reach the scheduler")))
    assert is_transient(None, None, Failed(data=ConnectionError("reset")))
    assert not is_transient(None, None, Failed(data=ScenarioError("x.toml: bad")))
    assert forecast_seed("date", 5, date(2026, 11, 25)) == 20261130
    assert forecast_seed("fixed", 5, date(2026, 11, 25)) == 5


def test_compare_flow_stores_paired_differences(tmp_path, scheduler):
    store = str(tmp_path / "f.zarr")
    out = compare(
        baseline="nato-2025",
        scenarios=["us-pivot"],
        sims=4000,
        seed=3,
        store=store,
        scheduler=scheduler,
        block_size=2000,
    )
    fs = open_store(store, create=False)
    ds = fs.open_product("comparisons", out["comparison_id"])
    base, other = fs.open_run(out["baseline_run"]), fs.open_run(out["runs"][0])
    for h in ("p_intact", "p_any_withdrawal", "p_hegemon_withdrawn", "p_conflict"):
        assert np.array_equal(ds[f"{h}_baseline"].values, base[h].values)
        assert np.array_equal(ds[h].values[0], other[h].values)
        np.testing.assert_allclose(
            ds[f"d_{h}"].values[0], other[h].values - base[h].values, atol=1e-12
        )
    # common random numbers: the paired error is well below the independent-runs error
    se, se_ind = (
        ds["d_p_conflict_se"].values[0, -1],
        ds["d_p_conflict_se_independent"].values[0, -1],
    )
    assert 0 < se < 0.7 * se_ind
    art = Artifact.get("compare-nato-2025")
    assert art is not None and out["comparison_id"] in art.data and "us-pivot" in art.data


def test_interrupted_cluster_run_resumes_its_blocks(tmp_path, scheduler, prefect_api):
    """Kill a cluster_run flow part-way; rerunning it with its run id resumes, not restarts."""
    store = tmp_path / "f.zarr"
    sims, block = 12_000, 1000
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alliance_risk.pipeline.apps.cli",
            "cluster-run",
            "nato-2025",
            "--sims",
            str(sims),
            "--block-size",
            str(block),
            "--seed",
            "4",
            "--store",
            str(store),
            "--scheduler",
            scheduler,
            "--run-id",
            "crash-1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline:
        if (store / "staging" / "crash-1" / "blocks").exists():
            done = len(open_store(store, create=False).done_blocks("crash-1"))
            if done >= 3:
                break
        if proc.poll() is not None:
            pytest.fail(f"flow ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    fs = open_store(store, create=False)
    done = len(fs.done_blocks("crash-1"))
    assert 3 <= done < 12 and fs.catalog() == []
    rerun = dict(
        scenario="nato-2025",
        sims=sims,
        seed=4,
        block_size=block,
        store=str(store),
        scheduler=scheduler,
        run_id="crash-1",
    )  # the same call, retried
    out = cluster_run(**rerun)
    assert out["run_id"] == "crash-1"
    assert out["blocks_run"] == 12 - done  # completed blocks were not recomputed
    clean = run_forecast(
        "nato-2025",
        sims=sims,
        seed=4,
        block_size=block,
        store=tmp_path / "g.zarr",
        scheduler=scheduler,
        progress=False,
    )
    assert dataset_digest(fs.open_run("crash-1")) == dataset_digest(clean.dataset)
    again = cluster_run(**rerun)
    assert again["blocks_run"] == 0  # a retry after success is a no-op


# the command line as ``python -m`` runs it, and as the ``alliance-risk`` console script does
# (``prestart.entry``: the ephemeral server launched before anything is imported)
MODULE = [sys.executable, "-m", "alliance_risk.pipeline.apps.cli"]
SCRIPT = [sys.executable, "-c", "from alliance_risk.flows.prestart import entry; entry()"]


def _command(cmd: list[str], env: dict, watch) -> subprocess.CompletedProcess:
    """Run ``cmd``, calling ``watch(proc)`` (a psutil.Popen) every 50 ms while it runs."""
    import psutil

    proc = psutil.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while proc.poll() is None:
        try:
            watch(proc)
        except psutil.Error:  # it ended, or a child did, while we looked
            pass
        time.sleep(0.05)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _forecast_command(store, env: dict, watch, entry=MODULE) -> tuple[bytes, bytes]:
    """Run ``alliance-risk forecast`` (2,000 sims, one worker) as a subprocess, calling
    ``watch(proc)`` every 50 ms while it runs; its output once it has succeeded and
    published its one run."""
    cmd = [*entry, "forecast", "nato-2025", "--sims", "2000", "--store", str(store)]
    done = _command([*cmd, "--workers", "1"], env, watch)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    (run,) = open_store(store, create=False).catalog_ids()
    assert run.encode() in done.stdout
    return done.stdout, done.stderr


def test_forecast_command_runs_the_flow_on_its_own_head_started_cluster(tmp_path, prefect_api):
    """``alliance-risk forecast`` without a scheduler starts its LocalCluster (worker threads
    of the command's process) while Prefect starts, hands the flow its address (the flow
    run's ``scheduler`` parameter: a port the command itself listens on), publishes the run,
    and closes the cluster when it ends: nothing listens on that port afterwards and no
    process of the command outlives it."""
    import asyncio

    import psutil
    from prefect import get_client

    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    listening: set[int] = set()  # the command's own listening ports, as they come and go
    children: set[int] = set()

    def watch(proc):
        conns = proc.net_connections("tcp")
        listening.update(c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN)
        children.update(c.pid for c in proc.children(recursive=True))

    _forecast_command(tmp_path / "cli.zarr", env, watch)

    async def parameters():
        async with get_client() as c:
            (fr,) = await c.read_flow_runs(limit=1, sort="START_TIME_DESC")
            return fr.parameters

    scheduler = asyncio.run(parameters())["scheduler"]
    assert scheduler.startswith("tcp://127.0.0.1:")
    port = int(scheduler.rsplit(":", 1)[1])
    assert port in listening, "the flow was not handed the command's own cluster"
    still = psutil.net_connections("tcp")
    assert not [c for c in still if c.laddr.port == port and c.status == psutil.CONN_LISTEN]
    assert not [
        p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
    ]


def _no_api(tmp_path) -> dict:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    for name in ("PREFECT_API_URL", "DASK_SCHEDULER_ADDRESS", "PREFECT_PROFILE"):
        env.pop(name, None)
    return env


class _Servers:
    """A ``watch`` that records the command's uvicorn children (pid -> the port it serves)
    and the most of them alive at one look. Children only: a process a server forks (its
    own subprocess calls, before they exec) carries the server's command line for a moment."""

    def __init__(self):
        self.ports: dict[int, int] = {}
        self.most_at_once = 0

    def __call__(self, proc):
        alive = [c for c in proc.children() if "uvicorn" in " ".join(c.cmdline())]
        for c in alive:
            argv = c.cmdline()
            self.ports.setdefault(c.pid, int(argv[argv.index("--port") + 1]))
        self.most_at_once = max(self.most_at_once, len(alive))


def _ephemeral_ports() -> range:
    """The kernel's range for port 0: where the command's own server listens (Prefect's
    own ephemeral server would take a port of 8000-8999)."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return range(low, high + 1)


@pytest.mark.parametrize("entry", [MODULE, SCRIPT], ids=["module", "console-script"])
def test_forecast_command_without_an_api_runs_on_its_own_ephemeral_server(tmp_path, entry):
    """No PREFECT_API_URL: the command starts Prefect's ephemeral API server itself, first
    thing (a subprocess: uvicorn with Prefect's ephemeral app; the console script launches
    it before anything else and the flow session adopts it: one server at a time, and none
    started by Prefect), runs the flow against it, prints no link to a UI it does not serve,
    and stops it when it exits."""
    import psutil

    servers = _Servers()
    _, err = _forecast_command(tmp_path / "eph.zarr", _no_api(tmp_path), servers, entry)
    assert b"Finished in state Completed" in err and b"View at" not in err
    # one at a time (a server whose start failed, uvicorn's exit 3, is replaced), every one
    # the command's own: none started by Prefect beside it
    assert servers.ports and servers.most_at_once == 1, f"servers (pid: port): {servers.ports}"
    own = _ephemeral_ports()
    assert all(p in own for p in servers.ports.values()), f"not its own: {servers.ports}"
    assert not [p for p in servers.ports if psutil.pid_exists(p)]


def test_console_script_stops_its_early_server_on_bad_input(tmp_path):
    """Bad input still fails at once with exit 2, and the server the console script
    launched first thing does not outlive the command."""
    import psutil

    servers = _Servers()
    cmd = [*SCRIPT, "forecast", "no-such-scenario", "--store", str(tmp_path / "s.zarr")]
    done = _command(cmd, _no_api(tmp_path), servers)
    assert done.returncode == 2 and b"no-such-scenario" in done.stderr
    assert servers.ports, "the console script launched no server before checking its input"
    assert not [p for p in servers.ports if psutil.pid_exists(p)]
