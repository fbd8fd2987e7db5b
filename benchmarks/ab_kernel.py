"""Kernel throughput of this checkout against another, measured at the same time.

On this VM the speed of a core drifts by ±15–30% within minutes, so a few-percent change
of the kernel cannot be seen by running old and new one after the other. Here both run at
once, each pinned to a core of its own (swapped every round), so both see the same drift:
each round gives a ratio of medians, and the rounds give its spread. One process each:
loading two copies of the package into one process is not a fair test (numba's dispatcher
takes its slow path for the copy imported second: 1.6–1.75× slower for identical code).

``--against`` is a ``PYTHONPATH`` on which ``alliance_risk`` is the other code, e.g.::

    git worktree add /tmp/oldwt <commit>
    mkdir -p /tmp/oldpkg/alliance_risk
    for d in models pipeline flows; do ln -sfn /tmp/oldwt/$d /tmp/oldpkg/alliance_risk/$d; done
    python benchmarks/ab_kernel.py --against /tmp/oldpkg [--rounds 6] [--seconds 20]

Each process runs ``simulate`` on nato-2025 with the member summaries a pipeline block
computes (``--sims`` simulations a call) for ``--seconds``; the results of both are checked
equal first (``--allow-different`` for a change that alters them).

How fine it resolves: the same code against itself (6 rounds of 15 s) gave ratios 0.925 to
1.138, mean 1.021: one round says little, six resolve about ±4% (twice the standard error).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np


def timed_calls(run: Callable[[], object], seconds: float) -> list[float]:
    """Seconds per call of ``run``, calling it for ``seconds`` (warm it up first)."""
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return times


def at_once(jobs: dict[str, tuple[list[str], dict]], cores: Sequence[int]) -> dict[str, dict]:
    """Run every job (argv, environment) at the same time, the i-th pinned to ``cores[i]``;
    each prints one JSON object as its last line: returned by job name."""
    procs = {
        name: subprocess.Popen(
            argv,
            env=dict(env, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1"),
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=partial(os.sched_setaffinity, 0, {cpu}),
        )
        for (name, (argv, env)), cpu in zip(jobs.items(), cores, strict=True)
    }
    out = {}
    for name, proc in procs.items():
        stdout, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"the {name!r} process failed ({proc.returncode})")
        out[name] = json.loads(stdout.strip().splitlines()[-1])
    return out


def two_cores(tool: str) -> list[int]:
    """The first two cores this process may run on (each version gets one)."""
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit(f"{tool}: needs Linux (pins each process to a core of its own)")
    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        raise SystemExit(f"{tool}: needs two cores (both run at once)")
    return cpus


def child(sims: int, seconds: float) -> None:
    """The kernel's time per call, and a digest of its result."""
    from alliance_risk.models.kernel import simulate
    from alliance_risk.models.sampling import sample_parameters
    from alliance_risk.models.scenario import load_scenario
    from alliance_risk.pipeline.outputs import BURDEN_BINS

    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, sims, np.random.default_rng(1))
    res = simulate(sc, params, np.random.default_rng(2), member_summary=BURDEN_BINS)
    digest = hashlib.sha256()
    for group in (res.series, res.events, res.member_events, res.member_summary or {}):
        for name in sorted(group):
            digest.update(name.encode() + np.ascontiguousarray(group[name]).tobytes())
    times = timed_calls(
        lambda: simulate(sc, params, np.random.default_rng(2), member_summary=BURDEN_BINS),
        seconds,
    )
    print(json.dumps({"times": times, "digest": digest.hexdigest()}))


def round_(args, cores: Sequence[int]) -> dict[str, dict]:
    """This checkout on cores[0] and the other on cores[1], at the same time."""
    argv = [sys.executable, __file__, "--child", "--sims", str(args.sims)]
    argv += ["--seconds", str(args.seconds)]
    env = dict(os.environ)
    jobs = {"this": (argv, env), "against": (argv, env | {"PYTHONPATH": args.against})}
    return at_once(jobs, cores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", metavar="PYTHONPATH", help="where the other code is")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0, help="per round and process")
    ap.add_argument("--sims", type=int, default=4096, help="simulations per simulate call")
    ap.add_argument("--allow-different", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.sims, args.seconds)
        return
    if not args.against:
        ap.error("--against PYTHONPATH is required")
    cpus = two_cores("ab_kernel")
    print(
        f"nato-2025, {args.sims:,} simulations a call with the member summaries, "
        f"{args.seconds:g} s a round, cores {cpus[0]} and {cpus[1]} swapped each round"
    )
    print(f"{'round':<6}{'this sims/s':>13}{'against':>10}{'ratio':>8}{'calls':>12}")
    ratios, calls = [], {"this": 0, "against": 0}
    for r in range(args.rounds):
        pair = (cpus[0], cpus[1]) if r % 2 == 0 else (cpus[1], cpus[0])
        out = round_(args, pair)
        if out["this"]["digest"] != out["against"]["digest"] and not args.allow_different:
            raise SystemExit("ab_kernel: the two versions' results differ (--allow-different)")
        rate = {k: args.sims / statistics.median(v["times"]) for k, v in out.items()}
        for k, v in out.items():
            calls[k] += len(v["times"])
        ratios.append(rate["this"] / rate["against"])
        n = f"{len(out['this']['times'])}/{len(out['against']['times'])}"
        print(f"{r + 1:<6}{rate['this']:>13,.0f}{rate['against']:>10,.0f}{ratios[-1]:>8.3f}{n:>12}")
    print(
        f"this / against, ratio of median speeds: mean {statistics.mean(ratios):.3f}, "
        f"range {min(ratios):.3f}-{max(ratios):.3f}; calls completed {calls['this']} / "
        f"{calls['against']} ({calls['this'] / calls['against'] - 1:+.1%})"
    )


if __name__ == "__main__":
    main()
