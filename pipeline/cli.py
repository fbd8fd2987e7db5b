"""The ``alliance-risk`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from models.errors import ScenarioError
from models.scenario import builtin_names, builtin_path, load_scenario

DESCRIPTION = """\
Monte Carlo risk forecasts of military-alliance stability.

Scenarios are TOML files (see `alliance-risk scenarios`); every uncertain input is a
named distribution. Exit status: 0 success, 2 bad input (a one-line reason per problem).
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alliance-risk",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.add_argument("--show", metavar="NAME", help="print a built-in scenario's TOML")
    p.set_defaults(func=_cmd_scenarios)
    p = sub.add_parser("validate", help="check scenario files (or built-in names)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


def entry() -> None:
    """Console-script entry point: exit with ``main``'s status."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
