"""The cost of durability: the store's fsyncs and checksums, per block and per publication.

    python benchmarks/bench_durability.py [--blocks 20] [--block-size 10000]

Saves real block statistics and publishes a real run into a fresh local store twice: as
the store does it (every write fsynced, checksums recorded), and with ``os.fsync`` made a
no-op (what the store did before the commit protocol). Prints the time per block write, per
publication, and relative to the kernel time of a block.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.engine.block import simulate_block
from alliance_risk.pipeline.engine.plan import RunSpec
from alliance_risk.pipeline.engine.stats import merge
from alliance_risk.pipeline.store import ForecastStore
from alliance_risk.pipeline.store.schema import build_dataset


def measure(blocks: list[dict], sc, store: Path) -> tuple[float, float]:
    fs = ForecastStore(store)
    fs.create_staging("bench", {"run_id": "bench"})
    t0 = time.perf_counter()
    for b, stats in enumerate(blocks):
        fs.save_block("bench", b, stats)
    t1 = time.perf_counter()
    totals = None
    for b in range(len(blocks)):
        totals = merge(totals, fs.load_block("bench", b))
    ds = build_dataset(sc, totals)
    ds.attrs.update(run_id="bench", created="")
    t2 = time.perf_counter()
    entry = {"run_id": "bench", "scenario": sc.name, "created": "", "sims": 0}
    fs.publish("bench", ds, totals, entry)
    return (t1 - t0) / len(blocks), time.perf_counter() - t2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--block-size", type=int, default=10_000)
    a = ap.parse_args()
    sc = load_scenario("nato-2025")
    spec = RunSpec(sc.name, 0, a.blocks * a.block_size, "mc", a.block_size)
    t = time.perf_counter()
    blocks = [simulate_block(sc, spec, b)[0] for b in range(a.blocks)]
    per_block = (time.perf_counter() - t) / a.blocks
    real_fsync = os.fsync
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        rows = {}
        for label, fsync in (("fsync", real_fsync), ("no fsync", lambda fd: None)):
            os.fsync = fsync
            try:
                rows[label] = measure(blocks, sc, Path(tmp) / label.replace(" ", "-"))
            finally:
                os.fsync = real_fsync
    print(f"block of {a.block_size:,} simulations: {per_block * 1e3:.0f} ms to compute")
    for label, (save, publish) in rows.items():
        print(f"{label:>9}: save a block {save * 1e3:6.1f} ms ({save / per_block:.2%} of its "
              f"compute), publish a run {publish * 1e3:6.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
