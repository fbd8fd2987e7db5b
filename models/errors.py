"""The project's errors: one base class, split by what the user can do about them.

``InputError`` (exit 2): the input is wrong (a scenario, an argument, an unknown run); fix it
and rerun. ``EnvironmentFailure`` (exit 3): something outside the input failed (a scheduler
or store that cannot be reached, a permission, a full disk); the same command may work
later. Any other ``AllianceRiskError`` exits 1. Messages are one line per problem, worded for
the user. They live in models/ because every layer raises them (dependencies point one way).
"""

from __future__ import annotations


class AllianceRiskError(Exception):
    """Base class of every error the project raises on purpose (exit status 1)."""

    exit_code = 1


class InputError(AllianceRiskError, ValueError):
    """Bad input: a scenario, an argument, an unknown run (exit status 2)."""

    exit_code = 2


class EnvironmentFailure(AllianceRiskError, RuntimeError):
    """The environment failed: unreachable scheduler or store, permission, disk full (exit
    status 3). Transient ones may succeed on a retry."""

    exit_code = 3


class ScenarioError(InputError):
    """A scenario file or object is invalid.

    ``problems`` holds one line per offending field, e.g.
    ``"nato.toml: members[4].gdp must be > 0, got -3"``; ``str(err)`` joins them.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
