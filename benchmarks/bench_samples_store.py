"""Kept samples on an object store: what a block's write costs, in requests and seconds.

    python benchmarks/bench_samples_store.py [--blocks 8] [--latency-ms 0 25]
    python benchmarks/bench_samples_store.py --local [--block 10000]

A moto S3 server on 127.0.0.1 (as the tests use), reached through a small TCP proxy that
delays every byte from the client by ``--latency-ms`` (a round trip to a real object store
is tens of milliseconds; moto answers in about ten). It creates a staged samples group for
nato-2025 and writes ``--blocks`` blocks of 2,000 simulations through the pipeline's
``SampleSink``, as a worker does, and prints the requests and seconds of the creation and
per block (best of the blocks, and the median). ``--local``: the same on a local store in a
temporary folder (blocks of ``--block`` simulations, 10,000 by default there).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def start_proxy(target: tuple[str, int], delay: float) -> int:
    """A TCP proxy on 127.0.0.1 that forwards to ``target``, each byte from the client
    ``delay`` seconds late (responses undelayed); returns its port."""
    loop = asyncio.new_event_loop()
    ready: list[int] = []

    async def forward(reader, writer, lag: float) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def receive() -> None:
            while data := await reader.read(1 << 16):
                queue.put_nowait((loop.time() + lag, data))
            queue.put_nowait((loop.time() + lag, b""))

        async def send() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(receive(), send())

    async def client(reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        await asyncio.gather(
            forward(reader, up_writer, delay), forward(up_reader, writer, 0.0),
            return_exceptions=True,
        )  # fmt: skip

    async def serve() -> None:
        server = await asyncio.start_server(client, "127.0.0.1", 0)
        ready.append(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True).start()
    while not ready:
        time.sleep(0.01)
    return ready[0]


def timed(fs, sc, params, res, blocks: int, requests=None) -> str:
    """Create a staged samples group on ``fs`` and write ``blocks`` blocks into it (and
    count the requests, given a counter)."""
    from alliance_risk.pipeline.store import samples as smp

    block, count = len(params), requests or (lambda: 0)
    n0, t0 = count(), time.perf_counter()
    sink = smp.prepare(fs, "run", sc, blocks * block, block)
    created, n1 = time.perf_counter() - t0, count()
    seconds = []
    for b in range(blocks):
        t = time.perf_counter()
        sink(b, params, res)
        seconds.append(time.perf_counter() - t)
    made, per_block = f" ({n1 - n0} requests)", f" ({(count() - n1) / blocks:.0f} requests)"
    if requests is None:
        made = per_block = ""
    return (
        f"creation {created:.3f} s{made}; a block {min(seconds):.3f} s best, "
        f"{statistics.median(seconds):.3f} s median{per_block}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--block", type=int, help="simulations a block (2,000; --local 10,000)")
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 25.0])
    ap.add_argument("--local", action="store_true", help="a local store instead of S3")
    args = ap.parse_args()

    from alliance_risk.models.kernel import simulate
    from alliance_risk.models.sampling import sample_parameters
    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.store import ForecastStore, open_store
    from alliance_risk.pipeline.store import samples as smp

    sc = load_scenario("nato-2025")
    block = args.block or (10_000 if args.local else 2_000)
    params = sample_parameters(sc, block, np.random.default_rng(1))
    res = simulate(sc, params, np.random.default_rng(2))
    print(f"nato-2025, blocks of {block:,} simulations, {len(smp.ARRAYS)} kept arrays")
    if args.local:
        with tempfile.TemporaryDirectory() as tmp:
            store = ForecastStore(Path(tmp) / "f.zarr")
            print("local store:", timed(store, sc, params, res, args.blocks))
        return

    import s3fs
    from moto import server as moto_server

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=True)
    log = io.StringIO()
    logging.getLogger("werkzeug").addHandler(logging.StreamHandler(log))
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    server.start()
    target = server.get_host_and_port()
    for i, ms in enumerate(args.latency_ms):
        port = start_proxy(target, ms / 1000)
        options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s"}
        s3fs.S3FileSystem(**options).mkdir(f"bench-{i}")
        fs = open_store(f"s3://bench-{i}/f.zarr", storage_options=options)
        requests = lambda: log.getvalue().count('HTTP/1.1" ')  # noqa: E731
        print(f"S3, latency {ms:g} ms:", timed(fs, sc, params, res, args.blocks, requests))
    server.stop()


if __name__ == "__main__":
    main()
