"""Headline figures of a scenario straight from the kernel (for docs/model.md).

    python docs/scripts/headlines.py [SCENARIO ...] [--sims 100000] [--seed 2025]

Runs the scenario in blocks of 20,000 simulations (parameters and variates from
SeedSequence([seed, block, stream])) and prints the 1-, 5- and 10-year figures with Monte
Carlo standard errors for the probabilities.
"""

from __future__ import annotations

import argparse

import numpy as np

from alliance_risk.models.kernel import simulate
from alliance_risk.models.sampling import sample_parameters
from alliance_risk.models.scenario import load_scenario

YEARS = (1, 5, 10)


def block_rows(sc, block: int, n: int, seed: int) -> dict[str, np.ndarray]:
    params = sample_parameters(sc, n, np.random.default_rng([seed, block, 0]))
    r = simulate(sc, params, np.random.default_rng([seed, block, 1]))
    steps = [int(y * 12 / sc.time.step_months) for y in YEARS]
    se, ev, wd = r.series, r.events, r.member_events["withdrawal_step"]
    heg = sc.hegemon_index
    return {
        "P(intact)": se["alive"][steps],
        "P(intact and hegemon in)": (se["alive"] & se["hegemon_member"])[steps],
        "P(any withdrawal)": np.stack([(wd <= k).any(axis=1) for k in steps]),
        "P(hegemon withdrawn)": np.stack([wd[:, heg] <= k for k in steps]),
        "P(conflict onset)": np.stack([ev["onset_step"] <= k for k in steps]),
        "P(onset while intact)": np.stack(
            [(ev["onset_step"] <= k) & se["alive"][k] for k in steps]
        ),
        "P(onset after dissolution)": np.stack(
            [(ev["onset_step"] <= k) & (ev["onset_step"] > ev["dissolution_step"]) for k in steps]
        ),
        "P(dispute in a member dyad)": np.stack([ev["dispute_step"] <= k for k in steps]),
        "E[members]": se["members"][steps],
        "median cohesion": se["cohesion"][steps],
        "median credibility": se["credibility"][steps],
        "E[# allies >= 2%]": r.n_meeting[steps, :, 0],
        "E[# allies >= 3.5%]": r.n_meeting[steps, :, 1],
        "median GDP-weighted burden (%)": se["alliance_burden"][steps],
        "median adversary spending ($bn)": se["adversary_spending"][steps],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="*", default=["nato-2025"])
    ap.add_argument("--sims", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args()
    block = 20_000
    for name in args.scenarios:
        sc = load_scenario(name)
        parts = [block_rows(sc, b, block, args.seed) for b in range(args.sims // block)]
        print(f"\n{name}: {args.sims:,} simulations, seed {args.seed}")
        print(f"| figure | {' | '.join(f'{y} yr' for y in YEARS)} |")
        print(f"|---|{'---|' * len(YEARS)}")
        for key in parts[0]:
            x = np.concatenate([p[key] for p in parts], axis=1).astype(float)
            if key.startswith("P("):
                p = x.mean(axis=1)
                cells = [f"{v:.4f} ± {np.sqrt(v * (1 - v) / x.shape[1]):.4f}" for v in p]
            elif key.startswith("median"):
                cells = [f"{v:.3f}" for v in np.median(x, axis=1)]
            else:
                cells = [f"{v:.2f}" for v in x.mean(axis=1)]
            print(f"| {key} | {' | '.join(cells)} |")
        onset = np.concatenate([p["P(conflict onset)"][-1] for p in parts])
        after = np.concatenate([p["P(onset after dissolution)"][-1] for p in parts])
        print(f"share of 10-year onsets after dissolution: {after.sum() / max(onset.sum(), 1):.3f}")


if __name__ == "__main__":
    main()
