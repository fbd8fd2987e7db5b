"""End-to-end pipeline throughput, parallel efficiency, peak memory and store size.

    python benchmarks/bench_pipeline.py --sims 1000000 --workers 1 2 [--json out.json]
    python benchmarks/bench_pipeline.py --sims 1000000 --workers 2 --rounds 3

For each worker count: the pipeline's LocalCluster (``execute.local_cluster``: single-threaded
workers, threads of this process by default, worker processes with ``--processes``), a
warm-up run, then a timed run of nato-2025 into a fresh store while a thread samples the
resident memory of the client and of every worker process. Kernel-only throughput is
measured first for the ratios: one core in process (best of three blocks of the same size,
bare and with the member summaries a block computes), and as many processes as workers
running blocks at once for 20 s (the sustained rate two cores give the kernel, which a run's
mean is compared with), again right after the run with as many workers (the VM's speed
drifts: the run is also compared with the mean of the two). Each run prints the ratios and
its stage breakdown: the workers' sampling, kernel, reduction and sample writing (seconds of
wall they fill), the client's staging of block statistics, fold and publication, and the
rest (start-up, scheduling, idle workers). ``--rounds N`` alternates the sustained rate and a
run of the most workers N times (the processes kept between measurements) and prints each
run's ratio to the mean of the rates just before and after it, then their spread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import psutil
from dask.distributed import Client

from alliance_risk.models.kernel import simulate
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.api import run_forecast
from alliance_risk.pipeline.engine.execute import local_cluster
from alliance_risk.pipeline.outputs import BURDEN_BINS


def kernel_rate(block: int, summary: bool = False) -> float:
    """One core, in process: the bare kernel, or (``summary``) as a block calls it, with
    the per-member sums and burden histogram the pipeline stores."""
    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, block, np.random.default_rng(1))
    ms = BURDEN_BINS if summary else None
    simulate(sc, params[:64], np.random.default_rng(0), member_summary=ms)
    best = min(
        _timed(lambda: simulate(sc, params, np.random.default_rng(2), member_summary=ms))
        for _ in range(3)
    )
    return block / best


def kernel_rate_together(block: int, n: int, seconds: float = 20.0) -> list[float]:
    """The kernel's sustained rate (blocks as the pipeline runs them, with the member
    summaries) in ``n`` processes at the same time (no Dask, no store): each warms up, waits
    for a common start, then simulates blocks for ``seconds``. A mean over the period, like
    a run's, not a best of three."""
    with Yardstick(block, n) as y:
        return y.rate(seconds)


class Yardstick:
    """``n`` kernel processes kept between measurements (imported and compiled once), so
    runs can be measured between two of them in alternation (``--rounds``)."""

    def __init__(self, block: int, n: int):
        self.block, self.n, self.warm = block, n, False
        self.pool = ProcessPoolExecutor(n)

    def rate(self, seconds: float = 20.0) -> list[float]:
        start = time.time() + (2 if self.warm else 15)  # after imports and compiling
        args = ([self.block] * self.n, [start] * self.n, [seconds] * self.n)
        rates = list(self.pool.map(_rate_from, *args))
        self.warm = True
        return rates

    def __enter__(self) -> Yardstick:
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown()


def _rate_from(block: int, start: float, seconds: float) -> float:
    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, block, np.random.default_rng(1))
    simulate(sc, params[:64], np.random.default_rng(0), member_summary=BURDEN_BINS)
    time.sleep(max(start - time.time(), 0))
    t0, done = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        simulate(sc, params, np.random.default_rng(2), member_summary=BURDEN_BINS)
        done += block
    return done / (time.perf_counter() - t0)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _cpu(proc=None) -> float:
    """CPU seconds (user + system) of ``proc``, or of the calling process (on a worker)."""
    t = (proc or psutil.Process()).cpu_times()
    return t.user + t.system


def _worker_processes(client: Client) -> list[psutil.Process]:
    """The workers' processes (this one when they are threads), asked once: sampling their
    memory through ``client.run`` every half second sent the scheduler and every worker a
    message each time, on the cores the run is measured on."""
    return [psutil.Process(pid) for pid in sorted(set(client.run(os.getpid).values()))]


def measure(workers: int, sims: int, block: int, root: Path, processes: bool) -> dict:
    with local_cluster(workers, processes=processes) as cl, Client(cl) as c:
        run_forecast(
            "nato-2025",
            sims=workers * block,
            seed=99,
            store=root / "warm.zarr",
            block_size=block,
            client=c,
            progress=False,
        )
        peaks = {"client": 0, "worker": 0}
        stop = threading.Event()
        procs = _worker_processes(c)

        def sample():
            me = psutil.Process()
            while not stop.is_set():
                peaks["client"] = max(peaks["client"], me.memory_info().rss)
                try:
                    peaks["worker"] = max(peaks["worker"], *(p.memory_info().rss for p in procs))
                except psutil.Error:
                    pass
                stop.wait(0.5)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        store = root / f"w{workers}.zarr"
        cpu0, wcpu0 = _cpu(psutil.Process()), c.run(_cpu)
        t0 = time.perf_counter()
        res = run_forecast(
            "nato-2025", sims=sims, seed=1, store=store, block_size=block, client=c, progress=False
        )
        wall = time.perf_counter() - t0
        cpu1, wcpu1 = _cpu(psutil.Process()), c.run(_cpu)
        stop.set()
        t.join()
    size = sum(p.stat().st_size for p in (store / "runs").rglob("*") if p.is_file())
    return {
        "workers": workers,
        "sims": res.sims,
        "seconds": wall,
        "sims_per_s": res.sims / wall,
        "kernel_seconds": res.kernel_seconds,
        "block_seconds": res.block_seconds,
        "stages": res.stages,
        "overhead_vs_kernel": wall * workers / res.kernel_seconds - 1,
        "peak_client_mib": peaks["client"] / 2**20,
        "peak_worker_mib": peaks["worker"] / 2**20,
        "run_store_kib": size / 1024,
        # the client and, in a LocalCluster, the scheduler (and the workers if threads)
        "client_cpu_s": cpu1 - cpu0,
        "worker_cpu_s": [wcpu1[w] - wcpu0[w] for w in wcpu1] if processes else [],
        "processes": processes,
    }


def _on_core(r: dict) -> str:
    """The share of the kernel's wall its threads spent on a core (where the code measures it)."""
    if "kernel_cpu" not in r["stages"]:
        return ""
    share = r["stages"]["kernel_cpu"] / r["kernel_seconds"]
    return (
        f" (on a core {share:.0%} of its wall: the rest waiting for a core or the GIL; per "
        f"second on a core {per_core_second(r):,.0f} sims/s)"
    )


def per_core_second(r: dict) -> float:
    """The kernel's simulations per second on a core in a run's workers (its thread CPU)."""
    return r["sims"] / r["stages"]["kernel_cpu"]


def stage_table(r: dict) -> str:
    """Where the wall time went: the workers' stages (summed over blocks, divided by the
    number of workers: seconds of the wall they fill), the client's, and the rest (start-up,
    scheduling, transfer, waiting for the last block)."""
    st, w, wall = r["stages"], r["workers"], r["seconds"]
    rows = [(f"worker: {k}", st[k] / w) for k in ("sample", "kernel", "reduce", "samples")]
    rows.append(("worker: rest of the block", (st["block"] - sum(st[k] for k in
                 ("sample", "kernel", "reduce", "samples"))) / w))  # fmt: skip
    rows += [(f"client: {k}", st[k]) for k in ("save", "fold")]
    end = st.get("fold_end", st["fold"])  # (code before the fold as blocks land: all at the end)
    rows += [("client: fold after the last block", end), ("client: publish", st["publish"])]
    rest = wall - st["block"] / w - end - st["publish"]
    rows.append(("other (start-up, scheduling, idle)", rest))
    lines = [f"  {'stage':<36}{'s of wall':>10}{'share':>8}"]
    lines += [f"  {name:<36}{sec:>10.2f}{sec / wall:>8.1%}" for name, sec in rows]
    return "\n".join(lines)


def alternate(args) -> None:
    """``--rounds``: the yardstick (the kernel in as many processes as workers, 20 s) and a
    run, in alternation, each run compared with the mean of the yardsticks just before and
    just after it. This VM's speed drifts by 15-35% within minutes, so one pair says little;
    the rounds give the ratio's spread."""
    w, ratios, rows = max(args.workers), [], []
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        with Yardstick(args.block_size, w) as y:
            before = sum(y.rate())
            for i in range(args.rounds):
                r = measure(w, args.sims, args.block_size, root / f"round{i}", args.processes)
                after = sum(y.rate())
                mean = (before + after) / 2
                ratios.append(r["sims_per_s"] / mean)
                on_core = per_core_second(r) / (mean / w)
                print(
                    f"round {i + 1}: yardstick {before:,.0f} then {after:,.0f} sims/s; run "
                    f"{r['sims_per_s']:,.0f} sims/s in {r['seconds']:.1f} s: ratio "
                    f"{ratios[-1]:.2f}; pipeline time over kernel time "
                    f"+{100 * r['overhead_vs_kernel']:.0f}%; kernel on a core "
                    f"{r['stages']['kernel_cpu'] / r['kernel_seconds']:.0%} of its wall, per "
                    f"second on a core {on_core:.2f} of a yardstick process",
                    flush=True,
                )
                rows.append(r | {"yardstick_sims_per_s": [before, after], "ratio": ratios[-1]})
                before = after
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"{args.sims:,} sims, {w} workers, over the sustained {w}-process kernel: median "
        f"{statistics.median(ratios):.2f}, mean {statistics.mean(ratios):.2f} (min "
        f"{min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} rounds)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": rows}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--block-size", type=int, default=10_000)
    ap.add_argument("--processes", action="store_true", help="worker processes, not threads")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate the two-process yardstick and a run of the most workers this many times",
    )
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.rounds > 1:
        alternate(args)
        return
    kr, ks = kernel_rate(args.block_size), kernel_rate(args.block_size, summary=True)
    print(
        f"kernel only (one core, block {args.block_size}): {kr:,.0f} sims/s; as a block calls "
        f"it (with the member summaries): {ks:,.0f} sims/s"
    )
    together = kernel_rate_together(args.block_size, max(args.workers))
    print(
        f"kernel with summaries, {max(args.workers)} processes at once, sustained: "
        f"{sum(together):,.0f} sims/s in all ({', '.join(f'{x:,.0f}' for x in together)}): "
        f"{sum(together) / ks:.2f} x one core's best (what the hardware gives parallel "
        "kernels, before any pipeline)"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    rows = []
    try:
        for w in args.workers:
            r = measure(w, args.sims, args.block_size, root, args.processes)
            r["per_worker_vs_kernel"] = r["sims_per_s"] / w / kr
            r["per_worker_vs_kernel_with_summaries"] = r["sims_per_s"] / w / ks
            if w == len(together):
                r["vs_processes_at_once"] = r["sims_per_s"] / sum(together)
                # this VM's speed drifts by 15-30% within minutes: the same rate right after
                # the run too, and the run against the mean of the two
                after = kernel_rate_together(args.block_size, w)
                r["processes_at_once_after_sims_per_s"] = after
                mean = (sum(together) + sum(after)) / 2
                r["vs_processes_at_once_mean"] = r["sims_per_s"] / mean
                if "kernel_cpu" in r["stages"]:  # the kernel's own speed in the run's workers
                    r["kernel_on_core_vs_process"] = per_core_second(r) / (mean / w)
            rows.append(r)
            print(
                f"{w} worker(s): {r['sims']:,} sims in {r['seconds']:.1f} s = "
                f"{r['sims_per_s']:,.0f} sims/s; pipeline time over kernel time "
                f"(measured on the workers in this run): +{100 * r['overhead_vs_kernel']:.0f}% "
                f"(worker side only: +{100 * (r['block_seconds'] / r['kernel_seconds'] - 1):.0f}%);"
                f" kernel speed in the workers {r['sims'] / r['kernel_seconds']:,.0f} sims/s per"
                " worker"
                + _on_core(r)
                + "; peak RSS "
                + (
                    f"client {r['peak_client_mib']:.0f} MiB, worker {r['peak_worker_mib']:.0f} MiB"
                    if r["processes"]
                    else f"{r['peak_client_mib']:.0f} MiB (client and workers: one process)"
                )
                + f"; run group {r['run_store_kib']:.0f} KiB"
            )
            print(
                f"  end to end over {w} x the kernel-only rate: {r['per_worker_vs_kernel']:.2f} "
                f"(bare kernel), {r['per_worker_vs_kernel_with_summaries']:.2f} (kernel with "
                "the member summaries, as the blocks run it)"
                + (
                    f"; over {w} kernel processes at once, sustained: "
                    f"{r['vs_processes_at_once']:.2f} (before the run), "
                    f"{r['vs_processes_at_once_mean']:.2f} (over the mean of that and the same "
                    f"right after it: {sum(r['processes_at_once_after_sims_per_s']):,.0f} sims/s)"
                    if "vs_processes_at_once" in r
                    else ""
                )
            )
            print(
                f"  CPU during the run: client and scheduler {r['client_cpu_s']:.1f} s, workers "
                f"{', '.join(f'{x:.1f}' for x in r['worker_cpu_s'])} s, of {r['seconds']:.1f} s"
                " of wall"
                if r["processes"]
                else f"  CPU during the run: {r['client_cpu_s']:.1f} s (client, scheduler and "
                f"worker threads: one process), of {r['seconds']:.1f} s of wall"
            )
            if "kernel_on_core_vs_process" in r:
                print(
                    "  the kernel per second on a core in the workers over one kernel process's "
                    f"sustained rate (the mean of before and after): "
                    f"{r['kernel_on_core_vs_process']:.2f}"
                )
            print(stage_table(r))
        if len(rows) >= 2:
            eff = rows[-1]["sims_per_s"] / (
                rows[0]["sims_per_s"] * rows[-1]["workers"] / rows[0]["workers"]
            )
            print(
                f"parallel efficiency {rows[0]['workers']} -> {rows[-1]['workers']} workers: "
                f"{eff:.2f}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "kernel_sims_per_s": kr,
                    "kernel_with_summaries_sims_per_s": ks,
                    "processes_at_once_sims_per_s": together,
                    "runs": rows,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    main()
