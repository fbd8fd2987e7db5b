"""The validation commands of ``alliance-risk``: backtest, hindcast, calibrate, validation."""

from __future__ import annotations

import argparse


def _engine(args) -> dict:
    return {
        "executor": args.executor,
        "workers": args.workers,
        "scheduler": args.scheduler,
        "progress": False if args.no_progress else None,
    }


def _print_backtest(vid: str, ds) -> None:
    a = ds.attrs
    print(f"back-test {vid} (run {a['run_id']}, {a['sims']:,} simulations)")
    print(
        f"  mean CRPS {a['mean_crps'][0]:.3f} pp, persistence {a['mean_crps_persistence'][0]:.3f}, "
        f"regression {a['mean_crps_regression'][0]:.3f}"
    )
    lo, hi = a["count_band_90"]
    print(f"  allies at >= 2% in 2024: simulated 90% band [{lo:.0f}, {hi:.0f}], observed 23")
    print(f"  PIT chi-square p {a['pit_chi2_p']:.3f}; 90% interval coverage {a['coverage_90']:.2f}")


def _cmd_backtest(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.validation.products import run_backtest

    vid, ds = run_backtest(args.store, args.sims, args.seed, args.run, **_engine(args))
    _print_backtest(vid, ds)
    return 0


def _print_hindcast(vid: str, ds) -> None:
    a = ds.attrs
    print(f"hindcast {vid}: {a['end_n']} pact and {a['exit_n']} member forecasts")
    for w in ("end", "exit"):
        s = a[f"{w}_brier_skill"]
        print(
            f"  {w}: Brier {a[f'{w}_brier']:.4f} (climatology {a[f'{w}_brier_climatology']:.4f}), "
            f"skill {s[0]:+.3f} [{s[1]:+.3f}, {s[2]:+.3f}], slope {a[f'{w}_reliability_slope']:.2f}"
        )


def _cmd_hindcast(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.validation.products import run_hindcast

    vid, ds = run_hindcast(args.store, args.origins, args.sims, args.seed, not args.no_progress)
    _print_hindcast(vid, ds)
    return 0


def _print_calibration(vid: str, ds) -> None:
    a = ds.attrs
    print(f"calibration {vid} (back-test run {a['run_id']})")
    print(
        f"  exit hazard: NATO posterior Gamma({a['exit_nato_gamma'][0]:.3f}, "
        f"{a['exit_nato_gamma'][1]:.1f}), mean {a['exit_nato_mean']:.5f}/yr"
    )
    print(f"  burden ABC: {a['accepted_draws']} of {a['sims']:,} draws kept")
    for p in ds["parameter"].values:
        po = ds["posterior"].sel(parameter=p).values
        print(f"  {p}: 5/50/95% {po[0]:.4g} / {po[1]:.4g} / {po[2]:.4g}")


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.validation.products import run_calibration

    vid, ds = run_calibration(args.store, args.sims, args.seed, args.run, **_engine(args))
    _print_calibration(vid, ds)
    return 0


def _cmd_validation(args: argparse.Namespace) -> int:
    """All three at their default sizes (the back-test run shared), then the report."""
    from alliance_risk.pipeline.validation import hindcast as H
    from alliance_risk.pipeline.validation.products import (
        run_backtest,
        run_calibration,
        run_hindcast,
    )
    from alliance_risk.pipeline.validation.report import write_report

    H.check_origins(args.origins or H.ORIGINS)
    vb, bt = run_backtest(args.store, args.sims, args.seed, None, **_engine(args))
    _print_backtest(vb, bt)
    vh, hc = run_hindcast(args.store, args.origins, args.pact_sims, args.seed, not args.no_progress)
    _print_hindcast(vh, hc)
    vc, cal = run_calibration(args.store, run=bt.attrs["run_id"])
    _print_calibration(vc, cal)
    print("wrote", write_report(bt, hc, cal, args.out))
    return 0


def _engine_options(p) -> None:
    p.add_argument(
        "--store", default="validation.zarr", help="Zarr store (default ./validation.zarr)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--executor", choices=["dask", "inprocess"], default="dask")
    p.add_argument("--workers", type=int, help="local cluster workers (default: one per core)")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")
    p.add_argument("--no-progress", action="store_true")


def add_validation_commands(sub) -> None:
    """Add backtest, hindcast, calibrate and validation to the CLI's subparsers."""
    p = sub.add_parser("backtest", help="NATO burden back-test 2014 -> 2024, scored and stored")
    _engine_options(p)
    p.add_argument("--sims", type=int, default=20_000, help="simulations (default 20000)")
    p.add_argument("--run", help="score an existing back-test run instead of running one")
    p.set_defaults(func=_cmd_backtest)
    p = sub.add_parser("hindcast", help="ATOP rolling-origin hindcast of pact ends and exits")
    _engine_options(p)
    p.add_argument("--origins", type=int, nargs="+", help="origin years (default 1960 ... 2010)")
    p.add_argument("--sims", type=int, default=400, help="simulations per pact (default 400)")
    p.set_defaults(func=_cmd_hindcast)
    p = sub.add_parser("calibrate", help="pooled exit-hazard prior and ABC of the burden priors")
    _engine_options(p)
    p.add_argument("--sims", type=int, default=20_000, help="prior draws (default 20000)")
    p.add_argument("--run", help="use an existing back-test run instead of running one")
    p.set_defaults(func=_cmd_calibrate)
    p = sub.add_parser("validation", help="back-test, hindcast, calibration and docs/validation.md")
    _engine_options(p)
    p.add_argument("--sims", type=int, default=20_000, help="back-test simulations")
    p.add_argument("--pact-sims", type=int, default=400, help="hindcast simulations per pact")
    p.add_argument(
        "--origins", type=int, nargs="+", help="hindcast origins (default 1960 ... 2010)"
    )
    p.add_argument("--out", default="docs", help="folder of validation.md and img/ (default docs)")
    p.set_defaults(func=_cmd_validation)
