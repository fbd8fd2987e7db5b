"""docs/events.md's worked examples run as written (every ```sh block, in order, in one
shell, in a temporary folder): the page cannot drift from the commands."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PAGE = Path(__file__).parents[1] / "docs" / "events.md"


def test_the_worked_examples_of_docs_events_run(tmp_path):
    blocks = re.findall(r"```sh\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    script = "set -euo pipefail\n" + "\n".join(blocks)
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "given: event(us-isolationist)" in out and "effective sample size" in out
    assert "What changed from" in out and "Monte Carlo noise" in out
    assert "any-article13-notice-2027 (closes 2027-12-31" in out
    assert "Mean over questions: Brier" in out
