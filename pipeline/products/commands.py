"""The commands of ``alliance-risk`` on what-ifs and the forecast's history: condition,
history, changes, rerun, questions, score (docs/events.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _store(path: str):
    from alliance_risk.pipeline.store import open_store

    return open_store(path, create=False)


def _cmd_condition(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.products.condition import condition

    res = condition(_store(args.store), args.run, args.given, args.min_sims)
    print(res.markdown(), end="")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.products.history import history_report

    print(history_report(_store(args.store), args.scenario, tuple(args.years)), end="")
    return 0


def _cmd_changes(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.products.history import changes, markdown_changes

    print(markdown_changes(changes(_store(args.store), args.old, args.new, args.years)), end="")
    return 0


def _cmd_rerun(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.api import _scenario_from_text, run_forecast

    fs = _store(args.store)
    rid = fs.resolve(args.run)
    a = fs.run_attrs(rid)
    sc = _scenario_from_text(a["scenario"], f"run {rid}'s scenario")
    res = run_forecast(
        sc, int(a["sims"]), int(a["seed"]), args.store, sampler=a["sampler"],
        block_size=int(a["block_size"]), keep_samples=bool(a["keep_samples"]),
        workers=args.workers, executor=args.executor, progress=False,
    )  # fmt: skip
    print(f"{res.run_id}: run {rid}'s scenario under this model ({res.sims:,} simulations)")
    return 0


def _cmd_questions(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.products.questions import load_questions, log_questions

    qs = load_questions(Path(args.file) if args.file else None)
    if args.log:
        fs = _store(args.log[0])
        rid = fs.resolve(args.log[1] if len(args.log) > 1 else None)
        out = log_questions(fs, rid, qs)
        if out is None:
            print(f"run {rid}: no open question of its scenario")
            return 0
        ds = out[1]
        for q, p, se in zip(
            ds.question.values, ds.probability.values, ds.probability_se.values, strict=True
        ):
            print(f"{q}: {p:.4f} ± {se:.4f}")
        return 0
    for q in qs:
        who = f" [{q.member}]" if q.member else ""
        print(f"{q.id} (closes {q.closes}; {q.scenario}: {q.variable}{who})\n  {q.text}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from alliance_risk.pipeline.products.questions import load_questions, markdown_score, score

    qs = load_questions(Path(args.questions) if args.questions else None)
    record = score(_store(args.store), Path(args.resolutions), qs)
    if args.json:
        record = {**record, "reliability": record["reliability"]._asdict()}
        print(json.dumps(record, indent=1, default=str))
    else:
        print(markdown_score(record), end="")
    return 0


def add_product_commands(sub) -> None:
    p = sub.add_parser("condition", help="probabilities given an event in a run's kept samples")
    p.add_argument("store")
    p.add_argument("run", nargs="?", help="run id or scenario name (default: the newest run)")
    p.add_argument(
        "--given",
        required=True,
        metavar="EXPR",
        help="e.g. 'withdrawn(USA) by 2029Q4 and not onset by 2029Q4'",
    )
    p.add_argument(
        "--min-sims",
        type=int,
        default=100,
        help="refuse when fewer simulations satisfy the condition (default 100)",
    )
    p.set_defaults(func=_cmd_condition)
    p = sub.add_parser("history", help="a scenario's headlines across its runs; what changed")
    p.add_argument("store")
    p.add_argument("scenario")
    p.add_argument("--years", type=float, nargs="+", default=[10.0])
    p.set_defaults(func=_cmd_history)
    p = sub.add_parser("changes", help="what changed between two runs: scenario, model, noise")
    p.add_argument("store")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--years", type=float, default=10.0)
    p.set_defaults(func=_cmd_changes)
    p = sub.add_parser("rerun", help="run a stored run's scenario text again under this model "
                       "(a bridge run for `changes`)")  # fmt: skip
    p.add_argument("store")
    p.add_argument("run")
    p.add_argument("--workers", type=int)
    p.add_argument("--executor", choices=("dask", "inprocess"), default="dask")
    p.set_defaults(func=_cmd_rerun)
    p = sub.add_parser("questions", help="the forecast questions; --log a run's probabilities")
    p.add_argument("--file", help="a question registry (default: the shipped one)")
    p.add_argument(
        "--log",
        nargs="+",
        metavar=("STORE", "RUN"),
        help="store the run's probability for every open question",
    )
    p.set_defaults(func=_cmd_questions)
    p = sub.add_parser("score", help="the track record of logged forecasts on resolved questions")
    p.add_argument("store")
    p.add_argument("resolutions", help="TOML file of [[resolution]] entries")
    p.add_argument("--questions", help="a question registry (default: the shipped one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_score)
