"""Kernel throughput on nato-2025 (32 members, 40 quarters), one core.

Reports simulations per second for: the random-variate floor (drawing the variates of a
run alone), the float64 numpy baseline (what a user would write: the reference step in
float64 with float64 variates), the float32 numpy reference, and the fused numba step;
plus parameter sampling. Usage:

    python benchmarks/bench_kernel.py [--sims 20000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from models.kernel import simulate
from models.noise import draw_initial, draw_step
from models.sampling import sample_parameters
from models.scenario import load_scenario


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    sc = load_scenario("nato-2025")
    S, N, T = args.sims, len(sc.members), sc.time.steps
    params = sample_parameters(sc, S, np.random.default_rng(1))
    simulate(sc, params[:64], np.random.default_rng(0))  # compile (cached after first run)

    def floor(dtype=np.float32):  # the same variates into reused buffers, as the kernel does
        rng = np.random.default_rng(2)
        draw_initial(rng, S, N, dtype)
        buffer = None
        for _ in range(T):
            buffer = draw_step(rng, S, N, dtype, out=buffer)

    cases = {
        "rng_floor_float32": lambda: floor(np.float32),
        "numpy_float64_baseline": lambda: simulate(
            sc, params, np.random.default_rng(2), backend="numpy", dtype=np.float64
        ),
        "numpy_float32_reference": lambda: simulate(
            sc, params, np.random.default_rng(2), backend="numpy"
        ),
        "numba_fused": lambda: simulate(sc, params, np.random.default_rng(2), backend="numba"),
        "sample_parameters_mc": lambda: sample_parameters(sc, S, np.random.default_rng(1)),
    }
    res = {name: S / best_of(fn, args.repeat) for name, fn in cases.items()}
    floor_rate = res["rng_floor_float32"]
    print(f"nato-2025: {N} members, {T} steps, block of {S} simulations, best of {args.repeat}")
    print(f"{'case':<26}{'sims/s':>12}{'x floor time':>14}")
    for name, rate in res.items():
        print(f"{name:<26}{rate:>12,.0f}{floor_rate / rate:>14.2f}")
    print(
        f"numba speed-up over the float64 baseline: "
        f"{res['numba_fused'] / res['numpy_float64_baseline']:.2f}x"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "sims": S,
                    "machine": platform.processor() or platform.machine(),
                    "sims_per_s": res,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
