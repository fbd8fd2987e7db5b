"""A real `dask scheduler` and two `dask worker` processes on 127.0.0.1; the workers holding
the scattered scenario are killed part-way through a run, which still completes (scattering it
again) with results identical to a local run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dask.distributed import Client
from store_helpers import dataset_digest

from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.store import ForecastStore

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    port, dash = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [
        subprocess.Popen(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--dashboard-address",
                f"127.0.0.1:{dash}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    ]
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    "--local-directory",
                    str(tmp_path / f"w{i}"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        )
    try:
        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def test_run_survives_a_killed_worker(cluster, tmp_path, client):
    sims, block, seed = 24_000, 2000, 21
    store = tmp_path / "remote.zarr"
    box = {}

    def target():
        box["result"] = run_forecast(
            "nato-2025",
            sims=sims,
            seed=seed,
            store=store,
            block_size=block,
            scheduler=cluster,
            progress=False,
        )

    worker = threading.Thread(target=target)
    probe = Client(cluster)
    pids = probe.run(os.getpid)
    worker.start()
    deadline = time.time() + 180
    killed = False
    while time.time() < deadline and worker.is_alive():
        staged = ForecastStore(store).staged_runs() if (store / "zarr.json").exists() else []
        if staged and len(ForecastStore(store, create=False).done_blocks(staged[0])) >= 3:
            # Kill every worker holding the scattered scenario (Dask's memory manager may have
            # left one replica): the run must scatter it again, not just rerun the blocks.
            holders = {
                w for k, ws in probe.who_has().items() if k.startswith("Scenario-") for w in ws
            }
            for w in holders or list(pids)[:1]:
                os.kill(pids[w], signal.SIGKILL)  # the worker process (its nanny restarts it)
            killed = True
            break
        time.sleep(0.02)
    probe.close()
    worker.join(240)
    assert killed, "the run finished before a worker could be killed"
    assert "result" in box, "the run did not complete after a worker was killed"
    local = run_forecast(
        "nato-2025",
        sims=sims,
        seed=seed,
        store=tmp_path / "local.zarr",
        block_size=block,
        client=client,
        progress=False,
    )
    assert dataset_digest(box["result"].dataset) == dataset_digest(local.dataset)
