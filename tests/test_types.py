"""mypy over alliance_risk.models and alliance_risk.pipeline, clean (config: pyproject.toml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_models_and_pipeline_type_check_clean():
    # mypy cannot follow the editable install's import hook: give it the package as a tree
    tree = ROOT / "build" / "typecheck" / "alliance_risk"
    tree.mkdir(parents=True, exist_ok=True)
    for layer in ("models", "pipeline", "flows"):
        link = tree / layer
        if not link.exists():
            os.symlink(ROOT / layer, link)
    out = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(ROOT / "build" / "mypy-cache"),
            "-p", "alliance_risk.models", "-p", "alliance_risk.pipeline",
        ],
        cwd=tree.parent, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
