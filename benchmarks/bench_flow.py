"""Forecast flow overhead: the wall time of ``alliance-risk forecast`` minus its simulation time.

    python benchmarks/bench_flow.py [--sims 100000] [--repeat 3] [--api running|ephemeral]
                                    [--fresh]

Each repeat runs the command as a user would (a subprocess, a LocalCluster of one worker per
core, a fresh store) and times it from start to exit. Simulation time is what the run's
simulations cost on this machine's cores with no overhead: sims / (cores x the kernel's rate
in process, one core, with the member summaries a block computes), measured first. ``running``
starts a Prefect server on 127.0.0.1 (its own warm ``PREFECT_HOME``) and points the command at
it, as the deployments run; ``ephemeral`` lets the command start Prefect's ephemeral API on a
warm home. ``--fresh`` first times one run on a new ``PREFECT_HOME`` and an empty numba cache
(a fresh machine: the kernel compiles).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_pipeline import kernel_rate

OFFLINE = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(home: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = os.environ | OFFLINE | {"PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    cmd = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the Prefect server did not start within 120 s")


def _forecast(sims: int, store: Path, env: dict) -> float:
    cmd = ["alliance-risk", "forecast", "nato-2025", "--sims", str(sims), "--store", str(store)]
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--api", choices=["running", "ephemeral"], default="running")
    ap.add_argument("--fresh", action="store_true", help="first, one run on a fresh machine")
    ap.add_argument(
        "--against",
        metavar="PYTHONPATH",
        help="also time the package found on this path (e.g. an older checkout), interleaved",
    )
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rate = kernel_rate(10_000, summary=True)
    sim_s = args.sims / (cores * rate)
    print(f"kernel {rate:,.0f} sims/s per core: {args.sims:,} sims = {sim_s:.1f} s on {cores}")
    root = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    home = root / "prefect-home"
    env = os.environ | OFFLINE | {"PREFECT_HOME": str(home)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    server = None
    try:
        if args.fresh:
            fresh = env | {"PREFECT_HOME": str(root / "fresh-home")}
            fresh |= {"NUMBA_CACHE_DIR": str(root / "numba-cache")}
            fresh.pop("PREFECT_API_URL", None)
            wall = _forecast(args.sims, root / "fresh.zarr", fresh)
            print(f"fresh machine (new PREFECT_HOME, kernel compiled, ephemeral API): {wall:.1f} s")
        if args.api == "running":
            server, url = _server(home)
            env["PREFECT_API_URL"] = url
        else:
            env.pop("PREFECT_API_URL", None)
        envs = {"this": env}
        if args.against:
            envs["against"] = env | {"PYTHONPATH": args.against}
        walls: dict[str, list[float]] = {name: [] for name in envs}
        for name, e in envs.items():
            _forecast(args.sims, root / f"warm-{name}.zarr", e)  # the home, caches, disk
        for i in range(args.repeat):
            for name, e in envs.items():
                walls[name].append(_forecast(args.sims, root / f"{name}{i}.zarr", e))
                print(f"{name} run {i + 1}: {walls[name][-1]:.1f} s wall")
        for name, w in walls.items():
            med = statistics.median(w)
            print(
                f"{name}: {args.api} API, warm home: median wall {med:.1f} s, overhead "
                f"{med - sim_s:.1f} s (min {min(w) - sim_s:.1f}, max {max(w) - sim_s:.1f})"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
