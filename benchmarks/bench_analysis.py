"""Cost of the risk analysis: a kept-samples run, a Saltelli run, analyse, report.

    python benchmarks/bench_analysis.py --sims 100000 [--workers 2]

Times (wall, seconds) of: an LHS run with --keep-samples, its analysis (ranking + PRIM), a
Saltelli run of about the same size, its analysis (+ Sobol' indices with 100 bootstrap
resamples), and the report. Not a test: it measures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from dask.distributed import Client, LocalCluster

from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.apps.report import write_report
from alliance_risk.pipeline.products.analysis import publish_analysis
from alliance_risk.pipeline.store import open_store


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label:<34} {time.perf_counter() - t0:8.1f} s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0") as cl,
        Client(cl) as client,
    ):
        store = Path(tmp) / "f.zarr"
        kw = dict(store=store, client=client, progress=False, seed=1)
        run_forecast("nato-2025", sims=10_000, **kw)  # warm-up (numba compilation)
        lhs = timed(
            f"lhs run, {args.sims:,} kept",
            lambda: run_forecast(
                "nato-2025", sims=args.sims, sampler="lhs", keep_samples=True, **kw
            ),
        )
        fs = open_store(store, create=False)
        timed("analyse (ranking + PRIM)", lambda: publish_analysis(fs, lhs.run_id))
        sal = timed(
            f"saltelli run, ~{args.sims:,}",
            lambda: run_forecast("nato-2025", sims=args.sims, sampler="saltelli", **kw),
        )
        timed("analyse (+ Sobol')", lambda: publish_analysis(fs, sal.run_id))
        timed("report", lambda: write_report(store, sal.run_id, Path(tmp) / "report"))


if __name__ == "__main__":
    main()
