"""The ``alliance-risk`` command line."""

from __future__ import annotations

import argparse
import errno
import gc
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from alliance_risk.models.errors import AllianceRiskError, EnvironmentFailure, ScenarioError
from alliance_risk.models.scenario import builtin_names, builtin_path, load_scenario

DESCRIPTION = """\
Monte Carlo risk forecasts of military-alliance stability.

Scenarios are TOML files (see `alliance-risk scenarios`); every uncertain input is a
named distribution.

Exit status: 0 success; 1 the run failed or an unexpected error (one line; the traceback
with --debug); 2 bad input: scenario, arguments, unknown store or run (one line per
problem); 3 the environment failed: scheduler or store unreachable, permission, disk full
(the same command may work later; a run stopped by it is resumable).
"""


def _cmd_scenarios(args: argparse.Namespace) -> int:
    if args.show:
        try:
            path = builtin_path(args.show)
            print(path.read_text(encoding="utf-8"), end="")
        except FileNotFoundError:
            print(
                f"alliance-risk: no built-in scenario {args.show!r} "
                f"(built-in: {', '.join(builtin_names())})",
                file=sys.stderr,
            )
            return 2
        return 0
    rows = [(n, load_scenario(n)) for n in builtin_names()]
    width = max(len(n) for n, _ in rows)
    for name, sc in rows:
        default = " (default)" if name == "nato-2025" else ""
        print(
            f"{name:<{width}}  {len(sc.members)} members, {sc.time.steps} x "
            f"{sc.time.step_months} months from {sc.time.start}{default}"
        )
        print(f"{'':<{width}}  {sc.scenario.description}")
    print("\nCopy one to start your own: alliance-risk scenarios --show nato-2025 > my.toml")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    status = 0
    for spec in args.files:
        try:
            sc = load_scenario(spec)
        except ScenarioError as err:
            for line in err.problems:
                print(line, file=sys.stderr)
            status = 2
            continue
        print(
            f"{spec}: ok: scenario {sc.name!r}, {len(sc.members)} members, "
            f"{len(sc.parameter_names)} uncertain inputs, sha256 {sc.sha256[:12]}"
        )
    return status


def print_headlines(ds, run_id: str) -> None:
    from alliance_risk.pipeline.products.headlines import headline_table

    cols, rows = headline_table(ds)
    width = max(len(r[0]) for r in rows)
    print(
        f"run {run_id}: {ds.attrs['scenario_name']}, {ds.attrs['sims']:,} simulations, "
        f"seed {ds.attrs['seed']}, sampler {ds.attrs['sampler']}"
    )
    print(f"{'':<{width}}  " + "  ".join(f"{c:>17}" for c in cols))
    for name, cells in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{c:>17}" for c in cells))


def _cmd_run(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.api import extend_run, resume_run, run_forecast

    common = dict(
        scheduler=args.scheduler,
        workers=args.workers,
        progress=False if args.no_progress else None,
        executor=args.executor,
    )
    if args.resume:
        res = resume_run(args.store, args.resume, args.scenario, **common)
    elif args.extend:
        if args.sims is None:
            raise SystemExit("alliance-risk: --extend needs --sims (the new total)")
        res = extend_run(args.store, args.extend, args.sims, **common)
    else:
        res = run_forecast(
            args.scenario or "nato-2025",
            sims=100_000 if args.sims is None else args.sims,
            seed=args.seed,
            store=args.store,
            sampler=args.sampler,
            block_size=args.block_size,
            keep_samples=args.keep_samples,
            target_se=args.target_se,
            **common,
        )
    print_headlines(res.dataset, res.run_id)
    rate = res.blocks_run * res.dataset.attrs["block_size"] / max(res.seconds, 1e-9)
    print(f"stored in {res.store} ({res.seconds:.1f} s, {rate:,.0f} simulations/s)")
    print(res.run_id)
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.store import open_store

    fs = open_store(args.store, create=False)
    cat = fs.catalog()
    print(f"{'run id':<48} {'scenario':<22} {'sims':>11}  model  rng  created")
    for e in cat:  # entries without model_version are model 1, without rng_scheme scheme 1
        model, rng = e.get("model_version", "1"), e.get("rng_scheme", "1")
        print(
            f"{e['run_id']:<48} {e['scenario']:<22} {e['sims']:>11,}  {model:>5}  {rng:>3}  "
            f"{e['created']}"
        )
    staged = fs.staged_runs()
    if staged:
        print("\nincomplete (resume with `alliance-risk run --resume ID`, or `discard`):")
        for rid in staged:
            print(f"  {rid}: {len(fs.done_blocks(rid))} blocks done")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.store import open_store

    fs = open_store(args.store, create=False)
    rid = fs.resolve(args.run)
    print_headlines(fs.open_run(rid), rid)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.store import open_store
    from alliance_risk.pipeline.store.verify import repair, verify

    fs = open_store(args.store, create=False)
    fixed = repair(fs) if args.repair else []
    problems = verify(fs, args.run)
    for line in [*fixed, *problems]:
        print(line)
    if not problems and not fixed:
        print("ok")
    return 1 if problems or fixed else 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.store import open_store
    from alliance_risk.pipeline.store.migrate import migrate

    for line in migrate(open_store(args.store, create=False)):
        print(line)
    return 0


def _cmd_discard(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.store import open_store

    open_store(args.store, create=False).discard(args.run)
    print(f"discarded {args.run}")
    return 0


def _cmd_analyse(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.products.analysis import BINARY, publish_analysis
    from alliance_risk.pipeline.store import open_store

    fs = open_store(args.store, create=False)
    aid, ds = publish_analysis(fs, fs.resolve(args.run))
    print(f"analysis {aid} ({ds.attrs['sims']:,} simulations)")
    for o in ("conflict", "any_withdrawal"):
        rho = ds["spearman"].sel(outcome=o)
        top = rho.to_series().abs().sort_values(ascending=False).index[:5]
        cells = ", ".join(f"{p} {float(rho.sel(parameter=p)):+.2f}" for p in top)
        print(f"  drivers of {o}: {cells}")
    for o in BINARY:
        print(
            f"  PRIM {o}: coverage {float(ds.prim_coverage.sel(prim_outcome=o)):.2f}, "
            f"density {float(ds.prim_density.sel(prim_outcome=o)):.2f}"
        )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.apps.report import write_report

    page = write_report(args.store, args.run, args.out, tuple(args.horizons))
    print(f"report written to {page}")
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.apps.dashboard import serve
    from alliance_risk.pipeline.store import open_store

    open_store(args.store, create=False)  # a bad store is a one-line error, before serving
    serve(args.store, args.port, args.address, args.show, args.allow_origin, args.prefix)
    return 0


def _run_command(sub, name: str, help: str, func) -> argparse.ArgumentParser:
    """A subcommand on one published run: STORE [RUN] (a run id, or a scenario name for its
    latest run; default the newest run)."""
    p = sub.add_parser(name, help=help)
    p.add_argument("store")
    p.add_argument("run", nargs="?", help="run id or scenario name (default: the newest run)")
    p.set_defaults(func=func)
    return p


COMMAND_GROUP = "alliance_risk.commands"  # entry points: functions that add subcommands


def contributed_commands() -> list[Callable[[Any], None]]:
    """The command adders other layers register (``[project.entry-points]`` of the
    distribution, group ``alliance_risk.commands``): the flows add forecast, compare, ...
    The pipeline finds them by name and never imports the flows itself."""
    return [ep.load() for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name)]


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The parser: the pipeline's commands, those contributed by other layers, and
    ``extend(subparsers)`` if given."""
    parser = argparse.ArgumentParser(
        prog="alliance-risk",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.add_argument("--show", metavar="NAME", help="print a built-in scenario's TOML")
    p.set_defaults(func=_cmd_scenarios)
    p = sub.add_parser("validate", help="check scenario files (or built-in names)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("run", help="run a forecast into a store (local Dask cluster by default)")
    p.add_argument("scenario", nargs="?", help="built-in name or TOML file (default nato-2025)")
    p.add_argument(
        "--sims", type=int, help="simulations (default 100000; with --extend: new total)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--store", default="forecasts.zarr", help="Zarr store path (default ./forecasts.zarr)"
    )
    p.add_argument(
        "--scheduler",
        help="Dask scheduler address (default $DASK_SCHEDULER_ADDRESS, else a local cluster)",
    )
    p.add_argument("--workers", type=int, help="local cluster workers (default: one per core)")
    p.add_argument(
        "--executor",
        choices=["dask", "inprocess"],
        default="dask",
        help="dask (default) or inprocess: this process, no cluster, bitwise the same result",
    )
    p.add_argument("--sampler", choices=["mc", "lhs", "sobol", "saltelli"], default="mc")
    p.add_argument(
        "--block-size",
        type=int,
        default=10_000,
        help="simulations per block (part of the result's identity)",
    )
    p.add_argument(
        "--keep-samples", action="store_true", help="also store per-simulation inputs and outcomes"
    )
    p.add_argument(
        "--target-se",
        type=float,
        help="add blocks until every headline probability's s.e. is below this",
    )
    p.add_argument("--resume", metavar="RUN_ID", help="finish a killed run")
    p.add_argument("--extend", metavar="RUN_ID", help="extend a published run to --sims")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("runs", help="list the runs in a store")
    p.add_argument("store")
    p.set_defaults(func=_cmd_runs)
    _run_command(sub, "show", "headline table of a run (default: the newest)", _cmd_show)
    p = sub.add_parser(
        "verify", help="check every run: complete, readable, checksums match (exit 1 if not)"
    )
    p.add_argument("store")
    p.add_argument("run", nargs="?", help="one run only (default: every run and the catalog)")
    p.add_argument(
        "--repair", action="store_true", help="drop catalog entries whose run is gone (no data)"
    )
    p.set_defaults(func=_cmd_verify)
    p = sub.add_parser("migrate", help="bring a store of an older layout to the current one")
    p.add_argument("store")
    p.set_defaults(func=_cmd_migrate)
    p = sub.add_parser("discard", help="delete an incomplete run from staging")
    p.add_argument("store")
    p.add_argument("run")
    p.set_defaults(func=_cmd_discard)
    _run_command(sub, "analyse", "rank the drivers of a kept-samples run; PRIM boxes", _cmd_analyse)
    p = _run_command(sub, "report", "figures (PNG, SVG) and an HTML page for a run", _cmd_report)
    p.add_argument("--out", default="report", help="output folder (default ./report)")
    p.add_argument(
        "--horizons",
        type=float,
        nargs="+",
        default=[1, 5, 10],
        help="years of the members-remaining chart (default 1 5 10)",
    )
    p = sub.add_parser("dashboard", help="serve the interactive dashboard of a store (Bokeh)")
    p.add_argument("store")
    p.add_argument("--port", type=int, default=5006)
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: all)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="a host the browser may load the page from, e.g. a reverse proxy's public name "
        "(repeatable; the listening address is always allowed)",
    )
    p.add_argument(
        "--prefix",
        default="",
        help="URL path the dashboard is served under, e.g. /alliance behind a reverse proxy",
    )
    p.add_argument("--show", action="store_true", help="open it in a browser")
    p.set_defaults(func=_cmd_dashboard)
    from alliance_risk.pipeline.validation.commands import add_validation_commands

    add_validation_commands(sub)
    from alliance_risk.pipeline.products.commands import add_product_commands

    add_product_commands(sub)
    for add in [*contributed_commands(), *([extend] if extend else [])]:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None, extend: Callable[[Any], None] | None = None) -> int:
    parser = build_parser(extend)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("ALLIANCE_RISK_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except AllianceRiskError as err:
        _say(str(err).splitlines() or [type(err).__name__])
        return err.exit_code
    except OSError as err:  # the machine, not the input: disk full, permission, I/O
        _say([_os_problem(err)])
        return EnvironmentFailure.exit_code
    except KeyboardInterrupt:
        _say(["interrupted; a run's completed blocks are kept (alliance-risk run --resume)"])
        return 130
    except Exception as err:
        if debug:
            traceback.print_exc()
        first = (str(err).strip().splitlines() or [""])[0][:300]
        hint = "" if debug else " (rerun with --debug for the traceback)"
        _say([f"unexpected error: {type(err).__name__}: {first}{hint}"])
        return 1


def _say(lines: list[str]) -> None:
    for line in lines:
        print(
            f"alliance-risk: {line}" if not line.startswith(("/", ".")) else line,
            file=sys.stderr,
        )


def _os_problem(err: OSError) -> str:
    """One line for an operating-system error, saying what to do about it."""
    where = f" ({err.filename})" if err.filename else ""
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        what = "no space left to write the store"
        todo = "free space, then resume the run (alliance-risk run --resume RUN_ID)"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what, todo = "permission denied", "check the store's owner and mode"
    else:
        what, todo = f"I/O error: {err.strerror or err}", "check the disk or network and retry"
    return f"{what}{where}: {todo}"


def entry() -> None:
    """Console-script entry point: exit with ``main``'s status.

    Before exiting, the objects alive are moved out of the garbage collector's reach
    (``gc.freeze``): the interpreter's final collection over the heaps of numba, Prefect,
    xarray and Dask took 0.9-1.6 s of every command's wall time, for nothing (the process
    ends). atexit handlers and thread joins still run; nothing written depends on them
    (runs are fsynced and published before ``main`` returns)."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
