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

import numpy as np


def child(sims: int, seconds: float, cpu: int) -> None:
    """Pinned to ``cpu``: the kernel's time per call, and a digest of its result."""
    os.sched_setaffinity(0, {cpu})
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
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        simulate(sc, params, np.random.default_rng(2), member_summary=BURDEN_BINS)
        times.append(time.perf_counter() - t)
    print(json.dumps({"times": times, "digest": digest.hexdigest()}))


def round_(args, cpus: tuple[int, int]) -> dict[str, dict]:
    """This checkout on cpus[0] and the other on cpus[1], at the same time."""
    procs = {}
    for name, cpu in zip(("this", "against"), cpus, strict=True):
        env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
        if name == "against":
            env["PYTHONPATH"] = args.against
        cmd = [sys.executable, __file__, "--child", str(cpu), "--sims", str(args.sims)]
        procs[name] = subprocess.Popen(
            [*cmd, "--seconds", str(args.seconds)], env=env, stdout=subprocess.PIPE, text=True
        )
    out = {}
    for name, proc in procs.items():
        stdout, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"ab_kernel: the {name!r} process failed ({proc.returncode})")
        out[name] = json.loads(stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", metavar="PYTHONPATH", help="where the other code is")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0, help="per round and process")
    ap.add_argument("--sims", type=int, default=4096, help="simulations per simulate call")
    ap.add_argument("--allow-different", action="store_true")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.sims, args.seconds, args.child)
        return
    if not args.against:
        ap.error("--against PYTHONPATH is required")
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("ab_kernel: needs Linux (pins each version to a core of its own)")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("ab_kernel: needs two cores (both versions run at once)")
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
