"""Kernel throughput on nato-2025 (32 members, 40 quarters), one core.

Reports simulations per second for: the random-variate floor (numpy drawing the variates
of a run alone, into arrays), the float64 numpy baseline (what a user would write: the
reference step in float64 with float64 variates), the float32 numpy reference, and the
fused numba step, bare and with the per-member summaries a pipeline block computes (sums and
a burden histogram per member and step, ``outputs.BURDEN_BINS``); plus parameter sampling.
The fused step computes its variates in its loop (counter-based, ``models/innovations.py``);
the floor is what drawing them with numpy alone costs.
``--parts`` adds the time of each part of the fused step per simulation (each part driven
alone over the block, on the state after 6 updates). ``--paired ROUNDS`` measures instead
the issue's figure, the fused kernel over the floor, with both running at once, each pinned
to a core of its own, swapped every round (Linux): this VM's drift moves the two sequential
timings apart by up to 1.5x between runs, and a paired round sees the same drift in both.
Usage:

    python benchmarks/bench_kernel.py [--sims 20000] [--repeat 3] [--parts] [--json out.json]
    python benchmarks/bench_kernel.py --paired 6 [--seconds 20] [--sims 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from ab_kernel import at_once, timed_calls, two_cores

from alliance_risk.models.kernel import simulate
from alliance_risk.models.noise import draw_initial, draw_step
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import load_scenario
from alliance_risk.pipeline.outputs import BURDEN_BINS


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def parts(sc, params, repeat: int) -> dict[str, float]:
    """ns per simulation of each part of one fused update (record-only and update steps too)."""
    import numba

    from alliance_risk.models import fused, innovations, kernel
    from alliance_risk.models import layout as L
    from alliance_risk.models.reference import transcendentals

    S, N = params.shape[0], len(sc.members)
    setup = kernel.prepare(sc, params, np.float32)
    rng = np.random.default_rng(2)
    state = kernel.initial_state(sc, setup, params, draw_initial(rng, S, N))
    kernel.baseline_indices(setup, state)
    rec = np.zeros((32, sc.time.steps + 1, S), np.float32)
    ev = np.full((8, S), 32767.0)
    em = np.full((2, S, N), 32767, np.int16)
    key = innovations.innovations(rng)
    draw = innovations.Draw(key.seed, key.gamma, np.arange(S, dtype=np.int64))
    noise = draw_step(rng, S, N)
    for k in range(6):
        fused.step(k, setup, state, None, rec, ev, em, draw=draw)
    sn = innovations.sim_noise(N, np.float32)
    for mine, theirs in zip(sn[:4], noise, strict=True):  # simulation 0's numpy draws
        mine[:] = theirs[:, 0]
    Y, EU, eb, EC = transcendentals(setup, state, fused._fill_logit_py)
    w = fused.scratch(N, 1)
    dummy = np.zeros((1, 1, 1))
    out = fused.Outputs(
        rec, ev, em, dummy.astype(np.float32), dummy, dummy.astype(np.int64), 0.0, 1.0, False, False
    )
    lo, hi, bins = BURDEN_BINS  # the member summaries, as a pipeline block computes them
    w_sum = fused.scratch(N, bins)
    out_sum = out._replace(
        msum=np.zeros((L.N_MSUM, sc.time.steps + 1, N)),
        mhist=np.zeros((sc.time.steps + 1, N, bins), np.int64),
        hist_low=lo,
        hist_inv_width=1.0 / ((hi - lo) / bins),  # as kernel.simulate gives step()
        do_sum=True,
    )
    jit = numba.njit(  # compiled as the step is: no NRT, pointers noalias
        nogil=True,
        error_model="numpy",
        fastmath=fused._FAST,
        _nrt=False,
        pipeline_class=fused._NoAliasCompiler,
    )

    @jit
    def derive(setup, state, w, Y, EU, eb, EC):
        for s in range(state.ss.shape[1]):
            fused._derive(s, 6, setup, state, Y, EU, eb, EC, w)

    @jit
    def membership(setup, state, sn, out, w):
        for s in range(state.ss.shape[1]):
            fused._membership(s, 6, setup, state, sn, out, w)

    @jit
    def continuous(setup, state, sn, w, Y):
        for s in range(state.ss.shape[1]):
            fused._members_continuous(s, 6, setup, state, sn, w, Y, 1e3, 2e3, 0.0, False, 0.5)

    @jit
    def summarise(setup, state, out, w):
        for s in range(state.ss.shape[1]):
            fused._summarise(s, 6, setup, state, out, w, w.acc, w.hacc)

    @jit
    def variates(draw, sn):  # what the fused step computes per simulation, alone
        for s in range(draw.rows.shape[0]):
            innovations.fill_sim(draw.seed, draw.gamma, 6, s, sn.zm, sn.um, sn.zs, sn.us, sn.words)

    cases = {
        "transcendentals": lambda: transcendentals(setup, state, fused._fill_logit_py),
        "derive": lambda: derive(setup, state, w, Y, EU, eb, EC),
        "membership_events": lambda: membership(setup, state, sn, out, w),
        "continuous_members": lambda: continuous(setup, state, sn, w, Y),
        "counter_variates": lambda: variates(draw, sn),
        "member_summaries": lambda: summarise(setup, state, out_sum, w_sum),
        "step_record_only": lambda: fused.step(40, setup, state, None, rec, ev, em),
        "step_update": lambda: fused.step(6, setup, state, None, rec, ev, em, draw=draw),
        "numpy_draw_floor": lambda: draw_step(rng, S, N, out=noise),
    }
    for fn in cases.values():
        fn()
    return {name: 1e9 * best_of(fn, repeat) / S for name, fn in cases.items()}


def floor_of(S: int, N: int, T: int):
    """numpy drawing a run's variates into reused buffers (as the kernel reuses its own)."""

    def floor(dtype=np.float32):
        rng = np.random.default_rng(2)
        draw_initial(rng, S, N, dtype)
        buffer = None
        for _ in range(T):
            buffer = draw_step(rng, S, N, dtype, out=buffer)

    return floor


def paired_child(case: str, sims: int, seconds: float) -> None:
    """Seconds per call of the floor or of the fused kernel, as JSON."""
    sc = load_scenario("nato-2025")
    params = sample_parameters(sc, sims, np.random.default_rng(1))
    floor = floor_of(sims, len(sc.members), sc.time.steps)
    run = floor if case == "floor" else lambda: simulate(sc, params, np.random.default_rng(2))
    run()  # compile, caches
    print(json.dumps({"times": timed_calls(run, seconds)}))


def paired(rounds: int, sims: int, seconds: float) -> None:
    """The fused kernel's rate over the floor's, both running at once, round by round."""
    cpus = two_cores("bench_kernel --paired")
    print(f"nato-2025, {sims:,} simulations a call, {seconds:g} s a round, floor and fused at once")
    argv = [sys.executable, __file__, "--sims", str(sims), "--seconds", str(seconds), "--child"]
    jobs = {case: ([*argv, case], dict(os.environ)) for case in ("floor", "fused")}
    ratios = []
    for r in range(rounds):
        out = at_once(jobs, cpus if r % 2 == 0 else cpus[::-1])
        rate = {case: sims / statistics.median(v["times"]) for case, v in out.items()}
        ratios.append(rate["fused"] / rate["floor"])
        print(
            f"round {r + 1}: floor {rate['floor']:,.0f} sims/s, fused {rate['fused']:,.0f}: "
            f"{ratios[-1]:.2f}x the floor"
        )
    print(
        f"fused over floor: mean {statistics.mean(ratios):.2f}x "
        f"(range {min(ratios):.2f}-{max(ratios):.2f}, {rounds} rounds)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=None, help="20,000 (4,096 with --paired)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--parts", action="store_true", help="time each part of the fused step")
    ap.add_argument("--paired", type=int, default=0, metavar="ROUNDS")
    ap.add_argument("--seconds", type=float, default=20.0, help="per round, with --paired")
    ap.add_argument("--child", choices=["floor", "fused"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        paired_child(args.child, args.sims, args.seconds)
        return
    if args.paired:
        paired(args.paired, args.sims or 4096, args.seconds)
        return
    sc = load_scenario("nato-2025")
    S, N, T = args.sims or 20_000, len(sc.members), sc.time.steps
    params = sample_parameters(sc, S, np.random.default_rng(1))
    simulate(sc, params[:64], np.random.default_rng(0))  # compile (cached after first run)
    floor = floor_of(S, N, T)

    cases = {
        "rng_floor_float32": lambda: floor(np.float32),
        "numpy_float64_baseline": lambda: simulate(
            sc, params, np.random.default_rng(2), backend="numpy", dtype=np.float64
        ),
        "numpy_float32_reference": lambda: simulate(
            sc, params, np.random.default_rng(2), backend="numpy"
        ),
        "numba_fused": lambda: simulate(sc, params, np.random.default_rng(2), backend="numba"),
        "numba_fused_summaries": lambda: simulate(
            sc, params, np.random.default_rng(2), member_summary=BURDEN_BINS
        ),
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
    breakdown = parts(sc, params, args.repeat) if args.parts else {}
    if breakdown:
        print("fused step by part (ns per simulation and update):")
        for name, ns in breakdown.items():
            print(f"  {name:<22}{ns:>8,.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "sims": S,
                    "machine": platform.processor() or platform.machine(),
                    "sims_per_s": res,
                    "parts_ns_per_sim": breakdown,
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
