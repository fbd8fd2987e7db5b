"""Errors raised for user input, worded for the user (file, field, value)."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario file or object is invalid.

    ``problems`` holds one line per offending field, e.g.
    ``"nato.toml: members[4].gdp must be > 0, got -3"``; ``str(err)`` joins them.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
