"""The console script, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import re
import subprocess
import sys

from store_helpers import run_cli

from alliance_risk.models.scenario import builtin_path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "alliance_risk.pipeline.apps.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


PIPELINE_COMMANDS = {"scenarios", "validate", "run", "runs", "show", "verify", "migrate",
                     "discard", "analyse", "report", "dashboard", "backtest", "hindcast",
                     "calibrate", "validation", "condition", "history", "changes", "rerun",
                     "questions", "score"}  # fmt: skip
FLOW_COMMANDS = {"forecast", "cluster-run", "compare", "serve"}  # via the entry point


def test_one_cli_has_the_commands_of_every_layer():
    """The parser holds the pipeline's commands and, through the entry-point group
    alliance_risk.commands, the flows' (the pipeline never imports the flows); every
    command parses its own --help."""
    import argparse

    from alliance_risk.pipeline.apps.cli import build_parser, contributed_commands

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == PIPELINE_COMMANDS | FLOW_COMMANDS
    assert [f.__module__ for f in contributed_commands()] == ["alliance_risk.flows.commands"]
    for name, command in sub.choices.items():
        assert command.format_help().startswith(f"usage: alliance-risk {name}")
    out = cli("--help")  # and the console module, as a user runs it
    assert out.returncode == 0
    listed = set(re.findall(r"^    (\S+)", out.stdout, re.M))
    assert listed == PIPELINE_COMMANDS | FLOW_COMMANDS


def test_scenarios_lists_builtins_and_shows_toml():
    cli = run_cli  # in process; the console module itself is run above
    out = cli("scenarios")
    assert out.returncode == 0
    for name in ("nato-2025", "nato-2025-pooled", "us-pivot", "detente", "high-target-pressure"):
        assert name in out.stdout
    shown = cli("scenarios", "--show", "nato-2025")
    assert shown.stdout == builtin_path("nato-2025").read_text()
    missing = cli("scenarios", "--show", "nope")
    assert missing.returncode == 2 and "no built-in scenario 'nope'" in missing.stderr


def test_validate_reports_ok_and_field_errors_with_exit_2(tmp_path):
    cli = run_cli
    good = cli("validate", "nato-2025")
    assert good.returncode == 0 and "ok" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(builtin_path("nato-2025").read_text().replace("steps = 40", "steps = 0"))
    out = cli("validate", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip() == "bad.toml: time.steps must be > 0, got 0"


def test_the_command_skips_the_final_garbage_collection_and_keeps_its_exit_status(tmp_path):
    """``entry`` freezes the heap before exiting (the interpreter's final collection cost
    every command about a second) and still exits with ``main``'s status, after the atexit
    handlers have run."""
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, flush=True))\n"
        "from alliance_risk.pipeline.apps.cli import entry\n"
        "sys.argv = ['alliance-risk'] + sys.argv[1:]\n"
        "entry()\n"
    )
    ok = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert ok.returncode == 0 and "frozen True" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("this is not toml [")
    failed = subprocess.run(
        [sys.executable, "-c", probe, "validate", str(bad)], capture_output=True, text=True
    )
    assert failed.returncode == 2 and "frozen True" in failed.stdout
